"""Job-engine schedules follow the configured cron, including switching one off."""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from adpilot import jobs
from adpilot.maintenance import maintenance_tick


def test_a_changed_or_disabled_cron_replaces_the_stored_schedule(job_runtime: Any) -> None:
    name = "adpilot-test-schedule"
    jobs.ensure_schedule(name, maintenance_tick, "0 3 * * *")
    stored = DBOS.get_schedule(name)
    assert stored is not None and stored["schedule"] == "0 3 * * *"

    jobs.ensure_schedule(name, maintenance_tick, "0 4 * * *")
    stored = DBOS.get_schedule(name)
    assert stored is not None and stored["schedule"] == "0 4 * * *"

    jobs.ensure_schedule(name, maintenance_tick, "off")
    assert DBOS.get_schedule(name) is None


def test_the_test_suite_runs_without_a_maintenance_tick(job_runtime: Any) -> None:
    # Tests drive maintenance by hand; a tick would race their assertions.
    assert DBOS.get_schedule("adpilot-maintenance") is None


def test_workers_starting_together_both_ensure_the_schedule_without_failing(
    job_runtime: Any, monkeypatch: Any
) -> None:
    # Two processes each read "missing" before either writes: the second write must not fail.
    name = "adpilot-test-race"
    jobs.ensure_schedule(name, maintenance_tick, "0 5 * * *")
    real_get = DBOS.get_schedule
    monkeypatch.setattr(DBOS, "get_schedule", lambda schedule_name: None)
    jobs.ensure_schedule(name, maintenance_tick, "0 5 * * *")
    monkeypatch.setattr(DBOS, "get_schedule", real_get)
    stored = DBOS.get_schedule(name)
    assert stored is not None and stored["schedule"] == "0 5 * * *"
    jobs.ensure_schedule(name, maintenance_tick, "off")
    assert DBOS.get_schedule(name) is None
