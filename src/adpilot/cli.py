"""The `adpilot` command: demo, serve, api, worker, migrate, keys, bootstrap, bench."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console

from adpilot.config import DEFAULT_SECRET_KEY, Settings

app = typer.Typer(
    help="adpilot — a self-hostable ads optimizer with a partner HTTP API.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Issue, list and kill API keys.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks.", no_args_is_help=True)
fake_app = typer.Typer(
    help="Wire-format fake ad platforms, to try adpilot without real accounts.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
app.add_typer(bench_app, name="bench")
app.add_typer(fake_app, name="fake-platform")
workers_app = typer.Typer(
    help="Distributed mode's workers: list them, take over a lost one's work.",
    no_args_is_help=True,
)
app.add_typer(workers_app, name="workers")
console = Console()
err = Console(stderr=True)


def _quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("dbos", "uvicorn.access", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _prepare(settings: Settings) -> Any:
    """Create the var dir, apply migrations, and return a session factory."""
    from adpilot.db import make_engine, make_session_factory
    from adpilot.migrate import upgrade

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    return make_session_factory(make_engine(settings.resolved_database_url))


def _build_app(settings: Settings, *, run_jobs: bool) -> Any:
    """The FastAPI app; `run_jobs` executes workflows here too, else this process only enqueues."""
    from adpilot import jobs
    from adpilot.app import create_app
    from adpilot.deps import AppContext
    from adpilot.workers.upkeep import Upkeep

    _require_secret(settings)
    factory = _prepare(settings)
    if run_jobs:
        runtime = jobs.launch(settings, factory)
        Upkeep(runtime).start()
    else:
        runtime = jobs.connect(settings, factory)
    return create_app(AppContext(settings=settings, session_factory=factory, jobs=runtime))


def _require_secret(settings: Settings) -> None:
    if settings.mode == "distributed" and settings.secret_key == DEFAULT_SECRET_KEY:
        err.print("[red]Distributed mode needs ADPILOT_SECRET_KEY set to a private value.[/]")
        raise typer.Exit(2)


def _free_port(host: str, preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind((host, preferred))
            return preferred
        except OSError:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the API and an in-process worker (embedded: SQLite, no other servers)."""
    import uvicorn

    _quiet_logs()
    application = _build_app(Settings(), run_jobs=True)
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def api(
    host: Annotated[str, typer.Option()] = "0.0.0.0",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Distributed mode: an API process. It enqueues work and reads its state; it executes none."""
    import uvicorn

    _quiet_logs()
    application = _build_app(Settings(), run_jobs=False)
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def worker() -> None:
    """Distributed mode: a worker executing optimizer runs, dispatches and webhook deliveries."""
    import os
    import signal

    from adpilot import jobs
    from adpilot.kit.clock import utcnow
    from adpilot.workers import service as workers
    from adpilot.workers.upkeep import Upkeep

    _quiet_logs()
    settings = Settings()
    _require_secret(settings)
    if settings.mode == "distributed" and not settings.executor_id_given:
        err.print(
            "[red]Distributed mode needs ADPILOT_EXECUTOR_ID set to a name unique to this "
            "worker and kept across its restarts (e.g. the host name and a slot number).[/]"
        )
        raise typer.Exit(2)
    factory = _prepare(settings)
    lock = _hold_executor_id(factory.kw["bind"], settings.executor_id)
    workers.claim(
        factory, settings.executor_id, hostname=socket.gethostname(), pid=os.getpid(), now=utcnow()
    )
    runtime = jobs.launch(settings, factory)
    upkeep = Upkeep(runtime, lock)
    upkeep.start()
    # `kill` (SIGTERM) stops a worker as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    console.print(f"worker {settings.executor_id} running; Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        upkeep.stop()
        jobs.shutdown()
        workers.stopped(factory, settings.executor_id, utcnow())
        lock.release()
        # A workflow in a durable sleep (a send deferred past a platform's limit) keeps its
        # thread for up to an hour, and the interpreter would wait for it at exit. Its state is
        # in the database and resumes on this worker's restart or a peer's take-over: leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _hold_executor_id(engine: Any, executor_id: str) -> Any:
    """Take the executor id's lock, or refuse to start: another live worker is using it."""
    from adpilot.workers.service import ExecutorIdInUse, ExecutorLock

    lock = ExecutorLock(executor_id)
    # A peer checking whether this id is alive holds its lock for an instant: try a few times.
    for attempt in range(10):
        try:
            lock.acquire(engine)
            return lock
        except ExecutorIdInUse:
            time.sleep(0.5 * (attempt + 1) / 5)
    err.print(f"[red]Executor id {executor_id!r} is in use by a live worker; pick another.[/]")
    raise typer.Exit(2)


@workers_app.command("list")
def workers_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Workers that have run against this database, whether they are alive, what they hold."""
    from adpilot import jobs
    from adpilot.kit.clock import utcnow
    from adpilot.workers.report import describe_workers

    settings = Settings()
    factory = _prepare(settings)
    runtime = jobs.connect(settings, factory)
    try:
        rows = describe_workers(runtime, utcnow())
    finally:
        jobs.shutdown()
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    from rich.table import Table

    table = Table("executorId", "host", "pid", "lastSeen", "state", "unfinished")
    for r in rows:
        table.add_row(
            r["executorId"],
            r["hostname"],
            str(r["pid"]),
            r["heartbeatAt"],
            r["state"],
            str(r["unfinishedWorkflows"]),
        )
    console.print(table)


@workers_app.command("take-over")
def workers_take_over(
    executor_id: Annotated[str, typer.Argument(help="The lost worker's executor id.")],
) -> None:
    """Hand a lost worker's unfinished workflows to the live workers now, without its lease."""
    from adpilot import jobs
    from adpilot.kit.clock import utcnow
    from adpilot.workers.upkeep import ExecutorStillAlive, take_over

    settings = Settings()
    factory = _prepare(settings)
    runtime = jobs.connect(settings, factory)
    try:
        moved = take_over(runtime, executor_id, by="operator", now=utcnow())
    except ExecutorStillAlive:
        err.print(f"[red]Worker {executor_id!r} is alive (it holds its id); nothing taken.[/]")
        raise typer.Exit(2) from None
    finally:
        jobs.shutdown()
    console.print(f"{moved} unfinished workflows of {executor_id} handed to the live workers")


@app.command()
def cluster(
    database_url: Annotated[
        str, typer.Option(envvar="ADPILOT_DATABASE_URL", help="PostgreSQL (created if missing).")
    ] = "postgresql+psycopg://postgres@127.0.0.1:5432/adpilot",
    redis_url: Annotated[
        str, typer.Option(envvar="ADPILOT_REDIS_URL")
    ] = "redis://127.0.0.1:6379/0",
    port: Annotated[int, typer.Option(help="Port of the API process.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    log_dir: Annotated[str, typer.Option(help="Each process's log file.")] = "var/cluster",
) -> None:
    """Distributed mode on this machine: migrate, then 1 API process and N workers; Ctrl-C stops."""
    import os
    import signal
    from pathlib import Path

    from adpilot.workers.cluster import LocalCluster, ensure_database

    secret = os.environ.get("ADPILOT_SECRET_KEY") or "local-cluster-" + socket.gethostname()
    env = {
        "ADPILOT_DATABASE_URL": database_url,
        "ADPILOT_REDIS_URL": redis_url,
        "ADPILOT_SECRET_KEY": secret,
    }
    ensure_database(database_url)
    local = LocalCluster(env, log_dir=Path(log_dir), api_port=port)
    local.run("migrate")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for n in range(1, workers + 1):
            local.start_worker(f"{socket.gethostname()}-worker-{n}")
        local.start_api()
        console.print(f"API on {local.base_url} (pid {local.procs['api'].pid})")
        for name, proc in local.procs.items():
            if name != "api":
                console.print(f"worker {name} (pid {proc.pid})")
        console.print(f"logs in {log_dir}/; `adpilot workers list` shows the workers; Ctrl-C stops")
        while all(local.alive(name) for name in local.procs):
            time.sleep(0.5)
        err.print("[red]a process of the cluster exited; stopping the others[/]")
    except KeyboardInterrupt:
        pass
    finally:
        for name, code in local.stop_all().items():
            console.print(f"stopped {name} (exit {code})", highlight=False)


@app.command()
def migrate() -> None:
    """Apply database migrations (and create the job engine's tables in distributed mode)."""
    settings = Settings()
    _prepare(settings)
    if settings.mode == "distributed":
        from adpilot import jobs

        jobs.migrate(settings)
    console.print("database is up to date")


@app.command()
def bootstrap(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    name: Annotated[str, typer.Option(help="Organization name.")] = "Sandbox org",
) -> None:
    """Create an org, a project, sandbox accounts on all three platforms, and two keys."""
    from adpilot.bootstrap import bootstrap_org

    _quiet_logs()
    settings = Settings()
    result = bootstrap_org(settings, _prepare(settings), name=name)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        for key, value in result.items():
            console.print(f"[bold]{key}[/]: {value}")


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option("--org", help="Organization id (org_…).")],
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated scopes, or *.")],
    actor_type: Annotated[str, typer.Option("--actor-type")] = "partner",
    tier: Annotated[str, typer.Option("--tier")] = "standard",
    name: Annotated[str | None, typer.Option("--name")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Issue a key; it is printed once and never again."""
    from adpilot.auth import service as auth_service
    from adpilot.db import transaction

    settings = Settings()
    factory = _prepare(settings)
    try:
        with transaction(factory) as session:
            issued = auth_service.create_api_key(
                session,
                secret_key=settings.secret_key,
                organization_id=org,
                scopes=[s.strip() for s in scopes.split(",") if s.strip()],
                actor_type=actor_type,
                rate_limit_tier=tier,
                name=name,
            )
    except (ValueError, LookupError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    row = issued.api_key
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "apiKeyId": row.id,
                    "key": issued.key,
                    "organizationId": row.organization_id,
                    "scopes": row.scopes,
                    "actorType": row.actor_type,
                    "rateLimitTier": row.rate_limit_tier,
                }
            )
            + "\n"
        )
    else:
        console.print(f"API key {row.id} (shown once):\n{issued.key}")


@keys_app.command("list")
def keys_list(
    org: Annotated[str, typer.Option("--org")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List an organization's keys (never their secrets)."""
    from rich.table import Table

    from adpilot.auth import service as auth_service

    factory = _prepare(Settings())
    with factory() as session:
        rows = [k.describe() for k in auth_service.list_keys(session, org)]
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table("apiKeyId", "name", "actorType", "scopes", "tier", "killed")
    for r in rows:
        table.add_row(
            r["apiKeyId"],
            r["name"] or "",
            r["actorType"],
            ",".join(r["scopes"]),
            r["rateLimitTier"],
            "yes" if r["killed"] else "",
        )
    console.print(table)


@keys_app.command("kill")
def keys_kill(key_id: Annotated[str, typer.Argument(help="The key id (key_…).")]) -> None:
    """Kill a key: every later call with it answers 503 KILL_SWITCH."""
    from adpilot.audit import service as audit
    from adpilot.auth import service as auth_service
    from adpilot.db import transaction

    factory = _prepare(Settings())
    try:
        with transaction(factory) as session:
            row = auth_service.kill_key(session, key_id)
            audit.record(
                session,
                "api_key.killed",
                organization_id=row.organization_id,
                data={"apiKeyId": row.id},
            )
    except LookupError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(f"killed {row.id}")


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port for the API and dashboard.")] = 8000,
    once: Annotated[bool, typer.Option(help="Exit after printing the runs (no serving).")] = False,
) -> None:
    """Bootstrap a sandbox org, run the optimizer on all three layers, then keep serving."""
    from adpilot.demo import run_demo

    _quiet_logs()
    settings = Settings()
    application = _build_app(settings, run_jobs=True)
    host = "127.0.0.1"
    port = _free_port(host, port)
    run_demo(settings, application, host, port, console, serve_forever=not once)


@bench_app.command("engine")
def bench_engine(
    ads: Annotated[int, typer.Option(help="Number of ads.")] = 10_000,
    days: Annotated[int, typer.Option(help="Days of history.")] = 30,
    repeats: Annotated[int, typer.Option(help="Timed repetitions.")] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Time the decision engine on a synthetic account, and a whole sandbox run end to end."""
    from adpilot.bench.engine_bench import bench_engine as run_engine_bench
    from adpilot.bench.run_bench import bench_sandbox_run

    _quiet_logs()
    engine = run_engine_bench(n_ads=ads, n_days=days, repeats=repeats)
    end_to_end = bench_sandbox_run(repeats=max(1, min(repeats, 5)))
    result = {"engine": engine, "sandboxRun": end_to_end}
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    console.print_json(json.dumps(result))


@bench_app.command("sync")
def bench_sync_command(
    platform: Annotated[
        str, typer.Option(help="meta, tiktok, apple or all.", case_sensitive=False)
    ] = "all",
    ads: Annotated[int, typer.Option(help="Ads in the synced account.")] = 1000,
    latency_ms: Annotated[float, typer.Option(help="Latency of each fake request.")] = 50.0,
    repeats: Annotated[int, typer.Option(help="Timed repetitions (median reported).")] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Time a 30-day sync through each platform's client and its fake, and count requests."""
    from adpilot.bench.sync_bench import bench_sync
    from adpilot.fakes.server import FAKE_PLATFORMS

    _quiet_logs()
    names = FAKE_PLATFORMS if platform == "all" else (_fake_platform(platform),)
    results = [
        bench_sync(name, n_ads=ads, latency_ms=latency_ms, repeats=repeats) for name in names
    ]
    if as_json:
        sys.stdout.write(json.dumps(results) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"30-day sync of a {ads}-ad account, {latency_ms:g} ms per request")
    for column in ("platform", "ads", "metric rows", "median s", "requests", "minimum"):
        table.add_column(column, justify="left" if column == "platform" else "right")
    for r in results:
        table.add_row(
            r["platform"],
            str(r["ads"]),
            str(r["metricRows"]),
            f"{r['medianSec']:.2f}",
            str(r["requests"]),
            str(r["minimumRequests"]),
        )
    console.print(table)


@bench_app.command("cluster")
def bench_cluster_command(
    layers: Annotated[int, typer.Option(min=1, help="Sandbox layers due at once.")] = 2000,
    pending_rows: Annotated[int, typer.Option(min=1, help="Pending rows for part b.")] = 1_000_000,
    repeats: Annotated[int, typer.Option(min=5, help="Timed requests per query in part b.")] = 200,
    part: Annotated[str, typer.Option(help="a (layers), b (pending) or all.")] = "all",
    database_url: Annotated[
        str, typer.Option(help="PostgreSQL; the bench creates <name>_bench_* beside it.")
    ] = "postgresql+psycopg://postgres@127.0.0.1:5432/adpilot",
    redis_url: Annotated[str, typer.Option()] = "redis://127.0.0.1:6379/0",
    log_dir: Annotated[str, typer.Option(help="The cluster processes' logs.")] = "var/bench",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Distributed mode under load on real processes: (a) N layers due at once on 1 then 2
    workers; (b) the pending list, row and count at a million rows against the raw queries."""
    from pathlib import Path

    from adpilot.bench.cluster_bench import bench_layers, bench_pending

    _quiet_logs()
    progress = lambda line: err.print(line, highlight=False)  # noqa: E731
    result: dict[str, Any] = {}
    if part in ("a", "all"):
        result["layers"] = bench_layers(database_url, redis_url, layers, Path(log_dir), progress)
    if part in ("b", "all"):
        result["pending"] = bench_pending(
            database_url, redis_url, pending_rows, repeats, Path(log_dir), progress
        )
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    console.print_json(json.dumps(result))


def _fake_platform(name: str) -> Any:
    from adpilot.fakes.server import FAKE_PLATFORMS

    short = name.lower().removesuffix("_ads")
    if short not in FAKE_PLATFORMS:
        err.print(f"[red]Unknown platform {name!r}: use one of {', '.join(FAKE_PLATFORMS)}.[/]")
        raise typer.Exit(2)
    return short


@fake_app.command("serve")
def fake_platform_serve(
    platform: Annotated[str, typer.Argument(help="meta, tiktok or apple.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
    account: Annotated[
        str | None, typer.Option(help="Account id to print credentials for.")
    ] = None,
    latency_ms: Annotated[float, typer.Option(help="Latency added to each request.")] = 0.0,
) -> None:
    """Serve a fake platform that speaks the real wire format, backed by the simulator.

    Any account id works (each is simulated on first use); the credentials printed are the
    ones this server accepts.
    """
    from adpilot.bench.sync_bench import BENCH_ACCOUNTS
    from adpilot.fakes.server import RunningFake, serve_forever
    from adpilot.fakes.world import FakeWorld

    name = _fake_platform(platform)
    world = FakeWorld(name)
    account_id = account or BENCH_ACCOUNTS[name]
    fake = RunningFake(world, f"http://{host}:{port}")
    env = " ".join(f"ADPILOT_{k.upper()}={v}" for k, v in fake.settings_overrides().items())
    body = {
        "platform": f"{name}_ads",
        "externalId": account_id,
        "credentials": fake.credentials_for(account_id),
    }
    console.print(f"[bold]Fake {name} platform[/] on {fake.base_url}")
    console.print(f"Point adpilot at it:  {env}")
    console.print("Connect an account (POST /v1/projects/<projectId>/ads/ad-accounts):")
    sys.stdout.write(json.dumps(body) + "\n")
    sys.stdout.flush()
    serve_forever(world, host=host, port=port, latency_sec=latency_ms / 1000.0)


@bench_app.command("quality")
def bench_quality(
    seeds: Annotated[int, typer.Option(min=1, help="Seeds (accounts) per scenario.")] = 200,
    cycles: Annotated[int, typer.Option(min=1, help="Weekly optimizer cycles per seed.")] = 12,
    scenarios: Annotated[
        str, typer.Option(help="Comma-separated scenarios to run, e.g. S1,S2.")
    ] = "S1,S2,S3,S4,S5,S6,S7",
    out: Annotated[
        str, typer.Option(help="Directory for the per-scenario PNG plots and quality.json.")
    ] = "bench-out/quality",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    workers: Annotated[
        int, typer.Option(min=0, help="Processes to run seeds in (0 = one per CPU core).")
    ] = 0,
    time_limit: Annotated[
        float,
        typer.Option(
            min=0,
            help="Minutes after which no seed starts; the result covers the seeds every "
            "scenario finished (0 = no limit).",
        ),
    ] = 0,
    proof_seeds: Annotated[
        int, typer.Option(min=0, help="Seeds per scenario that also run the ground-truth checks.")
    ] = 30,
) -> None:
    """Decision quality: oracle, adpilot, a ±20% rule set and do-nothing on simulated accounts."""
    from pathlib import Path

    from adpilot.bench.quality.proof_report import proof_table
    from adpilot.bench.quality.report import table
    from adpilot.bench.quality.run import bench_quality as run_quality
    from adpilot.bench.quality.scenarios import SCENARIOS

    keys = [k.strip().upper() for k in scenarios.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown or not keys:
        err.print(
            f"[red]Unknown scenario(s): {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(SCENARIOS)}.[/]"
        )
        raise typer.Exit(2)

    def progress(key: str, done: int, total: int) -> None:
        if done == total or done % max(total // 10, 1) == 0:
            err.print(f"{key}: {done}/{total} seeds", highlight=False)

    started = time.perf_counter()
    result = run_quality(
        seeds=seeds,
        cycles=cycles,
        scenarios=keys,
        out_dir=Path(out),
        progress=progress,
        workers=workers or os.cpu_count() or 1,
        time_limit_s=time_limit * 60 if time_limit else None,
        proof_seeds=proof_seeds,
    )
    elapsed = time.perf_counter() - started
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "quality.json").write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    # The table is wider than most terminals: keep its rows whole rather than squeezed.
    wide = Console(width=max(console.width, 240))
    wide.print(table(result, {k: s.title for k, s in SCENARIOS.items()}))
    if result["seeds"] < seeds:
        err.print(f"Time limit: {result['seeds']} of {seeds} seeds per scenario finished.")
    wide.print(proof_table(result, {k: s.title for k, s in SCENARIOS.items()}))
    wide.print(
        f"{elapsed:.0f} s ({workers or os.cpu_count() or 1} processes); "
        f"plots and quality.json in {out}/",
        highlight=False,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
