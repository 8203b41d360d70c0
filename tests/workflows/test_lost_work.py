"""Work committed by a process that died before enqueueing it is enqueued by the next upkeep of a
worker (every few seconds), not by the minute-long maintenance tick."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.config import Settings
from adpilot.kit.clock import utcnow
from adpilot.pending import workflows
from adpilot.platforms.sandbox import writelog
from adpilot.workers.upkeep import Upkeep
from tests.helpers_pending import budget_action, get_row, sync_sandbox


def test_an_approval_whose_process_died_before_enqueueing_is_sent_by_the_next_upkeep(
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
    job_runtime: jobs.JobRuntime,
) -> None:
    sandbox = sync_sandbox(settings, session_factory, boot["layers"]["meta_ads"])
    # Approved and committed, but its dispatch never enqueued: the approving process died.
    pending_id, _current, _target = budget_action(sandbox, origin="queued", approve=True)
    workflow_id = workflows.dispatch_workflow_id(pending_id)
    assert job_runtime.status(workflow_id) is None

    upkeep = Upkeep(job_runtime)
    upkeep.tick(utcnow())  # within the grace: an enqueue may still be on its way
    assert job_runtime.status(workflow_id) is None
    upkeep.tick(utcnow() + dt.timedelta(seconds=settings.lost_work_grace_sec + 1))
    job_runtime.wait(workflow_id, timeout=60)

    assert get_row(session_factory, pending_id).status == "dispatched"
    assert writelog.write_count(sandbox.platform(), pending_id) == 1
    # Later upkeeps leave it alone: the engine already has that dispatch.
    upkeep.tick(utcnow() + dt.timedelta(minutes=5))
    assert writelog.write_count(sandbox.platform(), pending_id) == 1
