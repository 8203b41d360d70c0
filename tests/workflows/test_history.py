"""A layer keeps at least 90 days of synced daily metrics, and drops what is past retention."""

from __future__ import annotations

import datetime as dt
from typing import Any

import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.entities.history import RETENTION_DAYS
from adpilot.entities.models import AdDailyMetric
from tests.conftest import Api
from tests.workflows.test_runs import run_to_end


def _span(session_factory: sessionmaker[Session], layer_id: str) -> tuple[dt.date, dt.date]:
    with session_factory() as session:
        first, last = session.execute(
            select(func.min(AdDailyMetric.date), func.max(AdDailyMetric.date)).where(
                AdDailyMetric.layer_id == layer_id
            )
        ).one()
    return first, last


def test_synced_history_is_kept_for_at_least_90_days_and_pruned_past_retention(
    partner: Api, boot: dict[str, Any], job_runtime: Any, session_factory: Any
) -> None:
    layer_id = boot["layers"]["tiktok_ads"]
    run_to_end(partner, boot, job_runtime, "tiktok_ads")
    start, _ = _span(session_factory, layer_id)
    now = dt.datetime.now(dt.UTC)
    # Runs a month apart: each syncs the last 30 days; together they cover more than 90 days.
    for days in (30, 60, 80):
        with time_machine.travel(now + dt.timedelta(days=days), tick=True):
            assert run_to_end(partner, boot, job_runtime, "tiktok_ads")["status"] == "completed"
    first, last = _span(session_factory, layer_id)
    assert first == start, "nothing younger than the retention horizon is dropped"
    assert (last - first).days + 1 >= 90
    with time_machine.travel(now + dt.timedelta(days=130), tick=True):
        assert run_to_end(partner, boot, job_runtime, "tiktok_ads")["status"] == "completed"
    first, last = _span(session_factory, layer_id)
    assert first > start and (last - first).days + 1 <= RETENTION_DAYS
    assert (last - first).days + 1 >= 90
