"""Time whole optimizer runs on sandbox accounts, end to end through the durable job engine."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from adpilot import jobs
from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import make_engine, make_session_factory, transaction
from adpilot.layers import service as layers_service
from adpilot.layers.models import Layer
from adpilot.migrate import upgrade
from adpilot.runs import service as runs_service
from adpilot.runs.models import OptimizerRun


def bench_sandbox_run(repeats: int = 3) -> dict[str, Any]:
    """Median wall time of a bootstrap sandbox run per platform (trigger → completed)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(var_dir=Path(tmp), queue_poll_interval_sec=0.02)
        upgrade(settings.resolved_database_url)
        factory = make_session_factory(make_engine(settings.resolved_database_url))
        runtime = jobs.launch(settings, factory)
        try:
            timings: dict[str, list[float]] = {}
            for _ in range(repeats):
                boot = bootstrap_org(settings, factory, name="bench")
                for platform, layer_id in boot["layers"].items():
                    started = time.perf_counter()
                    with transaction(factory) as session:
                        layer = session.get(Layer, layer_id)
                        assert layer is not None
                        account = layers_service.current_account(session, layer_id)
                        assert account is not None
                        _job, run = runs_service.start_run(
                            session, layer=layer, account=account, dry_run=False, trigger="api"
                        )
                        run_id = run.id
                    runtime.wait(run_id, timeout=120)
                    timings.setdefault(platform, []).append(time.perf_counter() - started)
                    with factory() as session:
                        done = session.get(OptimizerRun, run_id)
                        assert done is not None
                        assert done.status == "completed", done.error
            return {
                "repeats": repeats,
                "medianSecondsByPlatform": {
                    p: round(statistics.median(v), 3) for p, v in timings.items()
                },
            }
        finally:
            jobs.shutdown()
