"""Optimizer runs and their job envelopes: trigger, read, list, cancel, stage bookkeeping."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adpilot import errors, jobs
from adpilot.audit import service as audit
from adpilot.auth.service import Principal
from adpilot.db import execute_update
from adpilot.entities.sync import metrics_window
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.ids import new_id
from adpilot.kit.pagination import ListQuery, check_limit, newest_first_page
from adpilot.kit.platform_names import to_long, to_short
from adpilot.kit.uow import after_commit
from adpilot.layers import service as layers_service
from adpilot.layers.models import AdAccount, Layer, Project
from adpilot.runs.models import Job, OptimizerRun

RUN_KIND = "ads_optimizer_run"
STAGES = ("queued", "syncing", "evaluating", "gating", "dispatching", "notifying", "done")
PROGRESS = {
    "queued": 0.0,
    "syncing": 0.1,
    "evaluating": 0.35,
    "gating": 0.6,
    "dispatching": 0.75,
    "notifying": 0.9,
    "done": 1.0,
}
SUMMARY_KEYS = (
    "entitiesEvaluated",
    "proposed",
    "held",
    "denied",
    "queued",
    "dispatched",
    "dispatchFailed",
    "dryRun",
    "approvedDispatched",
)
TERMINAL = ("completed", "failed", "canceled")


def empty_summary() -> dict[str, int]:
    return {key: 0 for key in SUMMARY_KEYS}


def run_url(run: OptimizerRun) -> str:
    return f"/v1/projects/{run.project_id}/ads/optimizer/runs/{run.id}"


def run_to_api(run: OptimizerRun) -> dict[str, Any]:
    return {
        "runId": run.id,
        "jobId": run.job_id,
        "projectId": run.project_id,
        "layerId": run.layer_id,
        "platform": to_long(run.platform),
        "dryRun": run.dry_run,
        "trigger": run.trigger,
        "status": run.status,
        "stage": run.stage,
        "progress": run.progress,
        "stages": run.stages,
        "window": {
            "since": run.window_since.isoformat() if run.window_since else None,
            "until": run.window_until.isoformat() if run.window_until else None,
        },
        "summary": {**empty_summary(), **(run.summary or {})},
        "changes": run.changes,
        "startedAt": isoformat(run.started_at),
        "finishedAt": isoformat(run.finished_at),
        "error": run.error,
    }


def job_to_api(job: Job, run: OptimizerRun) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobId": job.id,
        "kind": job.kind,
        "status": run.status,
        "stage": run.stage,
        "progress": run.progress,
        "projectId": job.project_id,
        "runId": run.id,
        "startedAt": isoformat(job.started_at),
    }
    if run.finished_at is not None:
        body["finishedAt"] = isoformat(run.finished_at)
    if run.status == "completed":
        body["result"] = {"summary": run_to_api(run)["summary"], "runUrl": run_url(run)}
    if run.error is not None:
        body["error"] = run.error
    return body


def trigger_envelope(job: Job, run: OptimizerRun) -> dict[str, Any]:
    return {
        "jobId": job.id,
        "runId": run.id,
        "kind": job.kind,
        "status": "running",
        "stage": "queued",
        "locationUrl": f"/v1/jobs/{job.id}",
        "runUrl": run_url(run),
        "startedAt": isoformat(run.started_at),
    }


def _active_run(session: Session, layer_id: str) -> OptimizerRun | None:
    return session.scalars(
        select(OptimizerRun).where(
            OptimizerRun.layer_id == layer_id, OptimizerRun.status == "running"
        )
    ).first()


def _run_in_progress(active: OptimizerRun) -> errors.ApiError:
    return errors.conflict(
        "RUN_IN_PROGRESS",
        f"A run of layer {active.layer_id} is already in progress.",
        runId=active.id,
        jobId=active.job_id,
    )


def load_layer(session: Session, project: Project, layer_id: str) -> Layer:
    layer = session.get(Layer, layer_id)
    if layer is None or layer.project_id != project.id:
        raise errors.not_found(f"Layer {layer_id}")
    return layer


def check_trigger(session: Session, project: Project, layer: Layer, platform: str) -> AdAccount:
    """Validation (422) then state (409) checks for a trigger, in SPEC §2.2 order."""
    short = to_short(platform)
    if short != layer.platform:
        raise errors.validation(
            "platform", f"the layer {layer.id} is on {to_long(layer.platform)}, not {platform}"
        )
    account = layers_service.current_account(session, layer.id)
    if account is None:
        raise errors.conflict("NO_AD_ACCOUNT", f"Layer {layer.id} has no connected ad account.")
    active = _active_run(session, layer.id)
    if active is not None:
        raise _run_in_progress(active)
    return account


def _running_jobs(session: Session, organization_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(OptimizerRun)
            .where(
                OptimizerRun.organization_id == organization_id, OptimizerRun.status == "running"
            )
        )
        or 0
    )


def start_run(
    session: Session,
    *,
    layer: Layer,
    account: AdAccount,
    dry_run: bool,
    trigger: str,
    max_concurrent_jobs: int | None = None,
    principal: Principal | None = None,
    request_id: str | None = None,
    scope: dict[str, Any] | None = None,
) -> tuple[Job, OptimizerRun]:
    """Create the run and its job, and enqueue the durable workflow once this commits.

    `scope` narrows it to one job kind (`runs.scope`); the job then carries that kind."""
    if max_concurrent_jobs is not None and (
        _running_jobs(session, layer.organization_id) >= max_concurrent_jobs
    ):
        raise errors.ApiError(
            429,
            "RATE_LIMITED",
            f"This organization already has {max_concurrent_jobs} jobs running.",
            {"limit": max_concurrent_jobs},
            headers={"Retry-After": "30"},
        )
    now = utcnow()
    since, until = metrics_window(account.timezone, now)
    job = Job(
        id=new_id("job"),
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        kind=scope["kind"] if scope else RUN_KIND,
        status="running",
        started_at=now,
        updated_at=now,
    )
    run = OptimizerRun(
        id=new_id("run"),
        job_id=job.id,
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        layer_id=layer.id,
        ad_account_id=account.id,
        platform=layer.platform,
        dry_run=dry_run,
        trigger=trigger,
        status="running",
        stage="queued",
        progress=0.0,
        stages=[{"stage": "queued", "startedAt": isoformat(now), "finishedAt": None}],
        window_since=since,
        window_until=until,
        summary=empty_summary(),
        changes=[],
        proposals=[],
        entities_evaluated=0,
        cancel_requested=False,
        started_at=now,
        scope=scope,
    )
    job.run_id = run.id
    session.add(job)
    session.flush()
    session.add(run)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # The partial unique index saw another running run of this layer first.
        active = _active_run(session, layer.id)
        if active is None:
            raise
        raise _run_in_progress(active) from None
    audit.record(
        session,
        "ads.optimizer.run.triggered",
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        principal=principal,
        request_id=request_id,
        data={
            "runId": run.id,
            "jobId": job.id,
            "layerId": layer.id,
            "dryRun": dry_run,
            "trigger": trigger,
        },
    )
    run_id = run.id
    after_commit(session, lambda: enqueue_run(run_id))
    return job, run


def enqueue_run(run_id: str) -> None:
    from adpilot.runs.workflows import optimizer_run_workflow

    jobs.runtime().enqueue(jobs.RUNS_QUEUE, optimizer_run_workflow, run_id, workflow_id=run_id)


def get_run(session: Session, project: Project, run_id: str) -> OptimizerRun:
    run = session.get(OptimizerRun, run_id)
    if run is None or run.project_id != project.id:
        raise errors.not_found(f"Run {run_id}")
    return run


def list_runs(
    session: Session,
    *,
    project: Project,
    secret: str,
    layer_ids: list[str],
    platforms: list[str],
    statuses: list[str],
    cursor: str | None,
    limit: int | None,
) -> dict[str, Any]:
    """The project's runs, newest start first, optionally by layer, platform and status."""
    # On this list an empty `cursor=` asks for the first page.
    query = ListQuery(
        secret,
        f"runs:{project.id}",
        {"layerId": layer_ids, "platform": platforms, "status": statuses},
        cursor or None,
        check_limit(limit),
    )
    stmt = select(OptimizerRun).where(OptimizerRun.project_id == project.id)
    if layer_ids:
        stmt = stmt.where(OptimizerRun.layer_id.in_(layer_ids))
    if platforms:
        stmt = stmt.where(OptimizerRun.platform.in_(platforms))
    if statuses:
        stmt = stmt.where(OptimizerRun.status.in_(statuses))
    page = newest_first_page(
        session, query, stmt, OptimizerRun.started_at, OptimizerRun.id, run_to_api
    )
    return page.as_dict()


def get_job(session: Session, organization_id: str, job_id: str) -> tuple[Job, OptimizerRun]:
    job = session.get(Job, job_id)
    if job is None or job.organization_id != organization_id or job.run_id is None:
        raise errors.not_found(f"Job {job_id}")
    run = session.get(OptimizerRun, job.run_id)
    assert run is not None
    return job, run


def job_envelope(session: Session, organization_id: str, job_id: str) -> dict[str, Any]:
    """`GET /v1/jobs/{id}` of any kind: an optimizer run or a backtest."""
    from adpilot.backtest import service as backtests

    job = session.get(Job, job_id)
    if job is not None and job.organization_id == organization_id:
        backtest = backtests.for_job(session, job)
        if backtest is not None:
            return backtests.job_to_api(job, backtest)
    job, run = get_job(session, organization_id, job_id)
    return job_to_api(job, run)


def request_cancel(
    session: Session, organization_id: str, job_id: str, principal: Principal, request_id: str
) -> tuple[int, dict[str, Any]]:
    """Ask a run to stop at its next stage boundary; refuse while it is sending writes."""
    found = session.get(Job, job_id)
    if found is not None and found.organization_id == organization_id and found.run_id is None:
        # Backtests and syncs only read and are short: they run to their end.
        if found.status in TERMINAL:
            return 200, {"jobId": found.id, "accepted": False, "reason": "ALREADY_COMPLETED"}
        raise errors.conflict(
            "JOB_CANCEL_UNAVAILABLE",
            f"A job of kind {found.kind} cannot be canceled; it ends on its own.",
        )
    job, run = get_job(session, organization_id, job_id)
    flagged = execute_update(
        session,
        update(OptimizerRun)
        .where(
            OptimizerRun.id == run.id,
            OptimizerRun.status == "running",
            OptimizerRun.stage != "dispatching",
        )
        .values(cancel_requested=True),
    )
    session.refresh(run)
    if flagged:
        audit.record(
            session,
            "job.cancel_requested",
            organization_id=organization_id,
            project_id=run.project_id,
            principal=principal,
            request_id=request_id,
            data={"jobId": job.id, "runId": run.id, "stage": run.stage},
        )
        return 202, {"jobId": job.id, "accepted": True}
    if run.status in TERMINAL:
        return 200, {"jobId": job.id, "accepted": False, "reason": "ALREADY_COMPLETED"}
    raise errors.conflict(
        "JOB_CANCEL_UNAVAILABLE",
        "The run is sending writes to the platform and cannot be canceled now.",
        stage=run.stage,
    )
