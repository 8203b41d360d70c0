"""The optimizer run as a durable workflow: each stage is a checkpointed step.

If the process dies, DBOS resumes the workflow from its last finished step on restart; steps are
themselves idempotent (runs/stages.py), and platform writes go through the dispatch workflow under
deterministic ids, so nothing is sent twice.
"""

from __future__ import annotations

import logging

from dbos import DBOS, SetWorkflowID

from adpilot import jobs
from adpilot.pending import workflows as pending_workflows
from adpilot.platforms.base import PlatformAuthError, PlatformError, PlatformTransientError
from adpilot.runs import stages
from adpilot.runs.models import OptimizerRun

log = logging.getLogger(__name__)


def _ctx() -> stages.StageContext:
    runtime = jobs.runtime()
    return stages.StageContext(runtime.settings, runtime.session_factory)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, PlatformTransientError)


@jobs.repeatable_step()
def begin_stage_step(run_id: str, stage: str) -> bool:
    return stages.begin_stage(_ctx(), run_id, stage)


@jobs.repeatable_step(_transient, max_attempts=4, backoff_rate=3.0)
def sync_step(run_id: str) -> None:
    stages.sync(_ctx(), run_id)


@jobs.repeatable_step()
def evaluate_step(run_id: str) -> None:
    stages.evaluate_run(_ctx(), run_id)


@jobs.repeatable_step()
def gate_step(run_id: str) -> None:
    stages.gate_run(_ctx(), run_id)


@jobs.repeatable_step()
def dispatch_targets_step(run_id: str) -> tuple[list[str], list[str], list[str]]:
    return stages.dispatch_targets(_ctx(), run_id)


@jobs.repeatable_step()
def record_dispatch_step(run_id: str, approved_ids: list[str]) -> None:
    stages.record_dispatch_outcomes(_ctx(), run_id, approved_ids)


@jobs.repeatable_step()
def strip_internal_step(run_id: str) -> None:
    stages.strip_internal(_ctx(), run_id)


@jobs.repeatable_step()
def complete_step(run_id: str) -> None:
    stages.complete(_ctx(), run_id)


@jobs.repeatable_step()
def fail_step(run_id: str, code: str, message: str) -> None:
    stages.fail(_ctx(), run_id, code, message)


def _is_dry_run(run_id: str) -> bool:
    with jobs.runtime().session_factory() as session:
        run = session.get(OptimizerRun, run_id)
        return bool(run and run.dry_run)


@jobs.repeatable_step()
def is_dry_run_step(run_id: str) -> bool:
    return _is_dry_run(run_id)


def _dispatch_all(run_id: str) -> None:
    auto_ids, approved_ids, removals = dispatch_targets_step(run_id)
    first = set(removals)
    # Removals first: a push whose values count this run's removals needs their slots free.
    for wave in (
        [p for p in [*auto_ids, *approved_ids] if p in first],
        [p for p in [*auto_ids, *approved_ids] if p not in first],
    ):
        handles = []
        for pending_id in wave:
            # The same id the approve endpoint uses: an action already on its way is joined, not
            # sent again.
            with SetWorkflowID(f"dispatch-{pending_id}"):
                handles.append(DBOS.start_workflow(pending_workflows.dispatch_workflow, pending_id))
        for handle in handles:
            handle.get_result()
    record_dispatch_step(run_id, approved_ids)


@DBOS.workflow()
def optimizer_run_workflow(run_id: str) -> str:
    try:
        if not begin_stage_step(run_id, "syncing"):
            return "canceled"
        sync_step(run_id)
        if not begin_stage_step(run_id, "evaluating"):
            return "canceled"
        evaluate_step(run_id)
        if not begin_stage_step(run_id, "gating"):
            return "canceled"
        gate_step(run_id)
        if not is_dry_run_step(run_id):
            if not begin_stage_step(run_id, "dispatching"):
                return "canceled"
            _dispatch_all(run_id)
        else:
            strip_internal_step(run_id)
        if not begin_stage_step(run_id, "notifying"):
            return "canceled"
        complete_step(run_id)
        return "completed"
    except PlatformAuthError as exc:
        fail_step(run_id, "PLATFORM_AUTH_FAILED", f"The platform refused the credentials: {exc}")
    except PlatformError as exc:
        fail_step(run_id, "PLATFORM_ERROR", f"The platform failed: {exc}")
    except Exception as exc:
        log.exception("optimizer run %s failed", run_id)
        fail_step(run_id, "INTERNAL", f"The run failed unexpectedly ({type(exc).__name__}).")
    return "failed"
