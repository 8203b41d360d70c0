"""Durable outcome jobs: judge one horizon (`outcome-<id>-<h>`), propose one rollback
(`rollback-<id>`). Each is one repeatable step; the sweep in the maintenance tick enqueues them."""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from adpilot import jobs
from adpilot.db import transaction
from adpilot.kit.clock import utcnow
from adpilot.outcomes import judge, rollback


@jobs.repeatable_step()
def judge_outcome_step(prediction_id: str, horizon: int) -> dict[str, Any] | None:
    """Judge and store the horizon with its webhook event, in one transaction (repeatable: a
    stored horizon is returned as it is)."""
    runtime = jobs.runtime()
    with transaction(runtime.session_factory) as session:
        return judge.judge(session, prediction_id, horizon, utcnow())


@DBOS.workflow()
def judge_outcome_workflow(prediction_id: str, horizon: int) -> dict[str, Any] | None:
    view = judge_outcome_step(prediction_id, horizon)
    if view is not None and view.get("verdict") == "backfired":
        propose_rollback_step(prediction_id)
    return view


@jobs.repeatable_step()
def propose_rollback_step(prediction_id: str) -> dict[str, Any]:
    runtime = jobs.runtime()
    return rollback.propose(runtime.settings, runtime.session_factory, prediction_id, utcnow())


@DBOS.workflow()
def propose_rollback_workflow(prediction_id: str) -> dict[str, Any]:
    return propose_rollback_step(prediction_id)
