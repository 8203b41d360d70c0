"""The `adpilot` command: demo, serve, api, worker, migrate, keys, bootstrap, bench."""

from __future__ import annotations

import json
import logging
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
    from adpilot import jobs
    from adpilot.app import create_app
    from adpilot.deps import AppContext

    if settings.mode == "distributed" and settings.secret_key == DEFAULT_SECRET_KEY:
        err.print("[red]Distributed mode needs ADPILOT_SECRET_KEY set to a private value.[/]")
        raise typer.Exit(2)
    factory = _prepare(settings)
    runtime = jobs.launch(settings, factory) if run_jobs else None
    return create_app(AppContext(settings=settings, session_factory=factory, jobs=runtime))


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
    """Distributed mode: an API process (use with `adpilot worker`, PostgreSQL and Redis)."""
    import uvicorn

    _quiet_logs()
    # The API process also launches the job engine client so it can enqueue; with a stable
    # executor id per process it recovers only its own work.
    application = _build_app(Settings(), run_jobs=True)
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def worker() -> None:
    """Distributed mode: a worker executing optimizer runs, dispatches and webhook deliveries."""
    from adpilot import jobs

    _quiet_logs()
    settings = Settings()
    factory = _prepare(settings)
    jobs.launch(settings, factory)
    console.print(f"worker {settings.executor_id} running; Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        jobs.shutdown()


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    settings = Settings()
    _prepare(settings)
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
    wide.print(proof_table(result, {k: s.title for k, s in SCENARIOS.items()}))
    wide.print(f"{elapsed:.0f} s; plots and quality.json in {out}/", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
