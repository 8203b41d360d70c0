"""`adpilot bench cluster`: distributed mode under load, measured on real processes.

(a) N sandbox layers fall due at once and the workers run them: runs per minute, dispatches per
second, time until all are done, and the API's list latency during the load against an idle
baseline taken in the same run — first with one worker, then with two. (b) The pending list, one
row and the count at a million rows through the API against the same queries run raw.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select, text, update

from adpilot import jobs
from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import make_engine, make_session_factory, transaction
from adpilot.kit.clock import utcnow
from adpilot.layers.models import Layer
from adpilot.maintenance import fire_due_schedules
from adpilot.pending import service as pending_service
from adpilot.pending.models import PendingAction
from adpilot.workers.cluster import LocalCluster, ensure_database

SECRET = "bench-cluster-secret"
AUTO = {"defaults": {"creative": "auto", "tactical": "auto", "structural": "auto"}}
PLATFORMS = {"meta_ads": "meta", "tiktok_ads": "tiktok", "apple_ads": "apple"}
# A steady trickle of list requests: latency, not the rate limit, is what is measured.
LIST_EVERY_SEC = 0.05

Progress = Callable[[str], None]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {"p50Ms": math.nan, "p99Ms": math.nan, "n": 0}
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return {
        "p50Ms": round(statistics.median(ordered) * 1000, 2),
        "p99Ms": round(p99 * 1000, 2),
        "n": len(ordered),
    }


class ListProbe:
    """Times GET requests to one list endpoint, one at a time, until stopped."""

    def __init__(self, base_url: str, key: str, path: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        self.path = path
        self.samples: list[float] = []
        self.failures = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def one(self) -> float:
        started = time.perf_counter()
        answer = self.http.get(self.path, params={"limit": 50})
        elapsed = time.perf_counter() - started
        answer.raise_for_status()
        return elapsed

    def _loop(self) -> None:
        while not self.stop_event.wait(LIST_EVERY_SEC):
            try:
                self.samples.append(self.one())
            except httpx.HTTPError:
                self.failures += 1  # reported: a request the API did not answer

    def sample(self, n: int) -> list[float]:
        out = []
        for _ in range(n):
            out.append(self.one())
            time.sleep(LIST_EVERY_SEC)
        return out

    def __enter__(self) -> ListProbe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(30)


def _database(base_url: str, name: str) -> str:
    from sqlalchemy import make_url

    parsed = make_url(base_url)
    url = parsed.set(database=f"{parsed.database}_{name}").render_as_string(hide_password=False)
    ensure_database(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("DROP SCHEMA IF EXISTS dbos CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def _new_cluster(
    base_url: str, name: str, redis_url: str, log_dir: Path
) -> tuple[LocalCluster, Settings, Engine]:
    """A migrated, empty database `<base>_<name>` and a cluster (not yet started) on it."""
    url = _database(base_url, name)
    env = {
        "ADPILOT_DATABASE_URL": url,
        "ADPILOT_REDIS_URL": redis_url,
        "ADPILOT_SECRET_KEY": SECRET,
        "ADPILOT_MAINTENANCE_CRON": "off",  # the bench fires the schedules itself
        "ADPILOT_QUEUE_POLL_INTERVAL_SEC": "0.1",
    }
    cluster = LocalCluster(env, log_dir=log_dir)
    cluster.run("migrate")
    settings = Settings(database_url=url, secret_key=SECRET, mode="distributed")
    return cluster, settings, make_engine(url)


def _load_phase(
    cluster: LocalCluster,
    settings: Settings,
    engine: Engine,
    layer_ids: list[str],
    probe_path: str,
    key: str,
) -> dict[str, Any]:
    """Make the layers due now, fire the schedules, and time the workers through them."""
    factory = make_session_factory(engine)
    probe = ListProbe(cluster.base_url, key, probe_path)
    idle = probe.sample(200)
    with engine.begin() as conn:
        before_dispatched = conn.execute(
            text("SELECT count(*) FROM pending_actions WHERE status = 'dispatched'")
        ).scalar_one()
        before_runs = conn.execute(text("SELECT count(*) FROM optimizer_runs")).scalar_one()
    with transaction(factory) as session:
        session.execute(
            update(Layer).where(Layer.id.in_(layer_ids)).values(next_scheduled_run_at=utcnow())
        )
    started = time.perf_counter()
    with probe:
        fire_due_schedules(settings, factory, utcnow())
        while True:
            with engine.begin() as conn:
                running = conn.execute(
                    text("SELECT count(*) FROM optimizer_runs WHERE status = 'running'")
                ).scalar_one()
                approved = conn.execute(
                    text("SELECT count(*) FROM pending_actions WHERE status = 'approved'")
                ).scalar_one()
            if running == 0 and approved == 0:
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
    with engine.begin() as conn:
        runs = conn.execute(text("SELECT count(*) FROM optimizer_runs")).scalar_one() - before_runs
        dispatched = (
            conn.execute(
                text("SELECT count(*) FROM pending_actions WHERE status = 'dispatched'")
            ).scalar_one()
            - before_dispatched
        )
    idle_p, load_p = percentiles(idle), percentiles(probe.samples)
    return {
        "runs": runs,
        "secondsUntilAllDone": round(elapsed, 1),
        "runsPerMinute": round(runs / elapsed * 60, 1),
        "dispatches": dispatched,
        "dispatchesPerSecond": round(dispatched / elapsed, 2),
        "apiListIdle": idle_p,
        "apiListUnderLoad": load_p,
        "apiListFailuresUnderLoad": probe.failures,
        "p99UnderLoadVsIdle": round(load_p["p99Ms"] / idle_p["p99Ms"], 2),
    }


def bench_layers(
    base_url: str, redis_url: str, layers: int, log_dir: Path, progress: Progress
) -> dict[str, Any]:
    cluster, settings, engine = _new_cluster(base_url, "bench_layers", redis_url, log_dir)
    factory = make_session_factory(engine)
    # Two identical sets of N layers (one seed for every market): one per phase, so one worker
    # and two workers meet the same work, each on layers that never ran.
    orgs = math.ceil(layers / 3)
    progress(f"bootstrapping {2 * orgs} orgs (2 x {layers} sandbox layers)")
    boots = [
        bootstrap_org(settings, factory, name=f"Bench org {n}", seed=20261207)
        for n in range(2 * orgs)
    ]
    sets = [
        [layer for boot in boots[i * orgs : (i + 1) * orgs] for layer in boot["layers"].values()][
            :layers
        ]
        for i in (0, 1)
    ]
    jobs.connect(settings, factory)
    results = []
    try:
        cluster.start_worker("bench-worker-1")
        cluster.start_api()
        for boot in boots:  # every change goes out on its own: dispatches are part of the load
            http = httpx.Client(
                base_url=cluster.base_url,
                headers={"Authorization": f"Bearer {boot['customerKey']}"},
            )
            for short in PLATFORMS.values():
                path = f"/v1/projects/{boot['projectId']}/ads/{short}/defaults"
                http.patch(path, json=AUTO).raise_for_status()
        probe_path = f"/v1/projects/{boots[0]['projectId']}/ads/meta/pending"
        for workers, layer_ids in zip((1, 2), sets, strict=True):
            if workers == 2:
                cluster.start_worker("bench-worker-2")
            progress(f"{layers} layers due at once, {workers} worker(s)")
            phase = _load_phase(
                cluster, settings, engine, layer_ids, probe_path, boots[0]["partnerKey"]
            )
            results.append({"workers": workers, **phase})
            progress(str(results[-1]))
    finally:
        cluster.stop_all()
        jobs.shutdown()
        engine.dispose()
    return {"layers": layers, "phases": results}


def _timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def bench_pending(
    base_url: str, redis_url: str, rows: int, repeats: int, log_dir: Path, progress: Progress
) -> dict[str, Any]:
    cluster, settings, engine = _new_cluster(base_url, "bench_pending", redis_url, log_dir)
    factory = make_session_factory(engine)
    boot = bootstrap_org(settings, factory, name="Bench pending", seed=20261207)
    layer_id = boot["layers"]["meta_ads"]
    try:
        cluster.start_worker("bench-worker-1")
        cluster.start_api()
        http = httpx.Client(
            base_url=cluster.base_url,
            headers={"Authorization": f"Bearer {boot['partnerKey']}"},
            timeout=60,
        )
        # One real run makes the row every bench row is a copy of.
        started = http.post(
            f"/v1/projects/{boot['projectId']}/ads/optimizer/run",
            json={"layerId": layer_id, "platform": "meta_ads"},
        )
        started.raise_for_status()
        run_url = started.json()["runUrl"]
        while http.get(run_url).json()["status"] == "running":
            time.sleep(0.2)
        progress(f"writing {rows} pending rows")
        _fill_pending(engine, layer_id, rows)
        base = f"/v1/projects/{boot['projectId']}/ads/meta/pending"
        one_id = f"pa_bench_{rows // 2:09d}"
        filters = pending_service.ListFilters()
        # The API judges expiry as of the request; the raw query does the same.
        now = utcnow()
        listed = pending_service._listed(boot["projectId"], "meta")
        raw_list = (
            select(PendingAction)
            .where(*listed, *filters.criteria(now))
            .order_by(PendingAction.created_at.desc(), PendingAction.id.desc())
            .limit(51)
        )
        raw_row = select(PendingAction).where(PendingAction.id == one_id, *listed)
        raw_count = pending_service.count_query(boot["projectId"], "meta", filters, now)

        def api(path: str) -> Callable[[], Any]:
            return lambda: http.get(path).raise_for_status()

        def raw(stmt: Any) -> Callable[[], Any]:
            def go() -> Any:
                with engine.connect() as conn:
                    return conn.execute(stmt).all()

            return go

        cases = {
            "list": (api(f"{base}?limit=50"), raw(raw_list)),
            "row": (api(f"{base}/{one_id}"), raw(raw_row)),
            "count": (api(f"{base}/count"), raw(raw_count)),
        }
        out: dict[str, Any] = {"rows": rows}
        for name, (through_api, direct) in cases.items():
            through_api(), direct()  # warm caches and pools alike
            api_times, raw_times = [], []
            for _ in range(repeats):  # interleaved, so both see the same machine
                api_times += _timed(through_api, 1)
                raw_times += _timed(direct, 1)
            a, r = percentiles(api_times), percentiles(raw_times)
            out[name] = {
                "api": a,
                "raw": r,
                "p50Ratio": round(a["p50Ms"] / r["p50Ms"], 2),
                "p99Ratio": round(a["p99Ms"] / r["p99Ms"], 2),
            }
            progress(f"{name}: {out[name]}")
    finally:
        cluster.stop_all()
        engine.dispose()
    return out


def _fill_pending(engine: Engine, layer_id: str, rows: int) -> None:
    """`rows` pending actions on one layer: copies of a real one with their own ids and times."""
    columns = [c.name for c in PendingAction.__table__.columns]
    copied = {
        "id": "'pa_bench_' || lpad(g::text, 9, '0')",
        "status": "'pending'",
        "created_at": "t.created_at - g * interval '1 second'",
        "updated_at": "t.created_at - g * interval '1 second'",
        "expires_at": "now() + interval '30 days'",
    }
    select_list = ", ".join(copied.get(c, f"t.{c}") for c in columns)
    chunk = 100_000
    with engine.begin() as conn:
        template = conn.execute(
            text(
                "SELECT id FROM pending_actions WHERE layer_id = :l AND status = 'pending' "
                "ORDER BY id LIMIT 1"
            ),
            {"l": layer_id},
        ).scalar_one()
    for first in range(1, rows + 1, chunk):
        last = min(rows, first + chunk - 1)
        with engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO pending_actions ({', '.join(columns)}) SELECT {select_list} "
                    "FROM generate_series(:a, :b) g, pending_actions t WHERE t.id = :t"
                ),
                {"a": first, "b": last, "t": template},
            )
    # As autovacuum would leave it: statistics current, the visibility map set (index-only count).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE pending_actions"))
