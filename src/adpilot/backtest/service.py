"""Backtest jobs: start one, run it over the stored history with progress, read the result."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adpilot import errors, jobs
from adpilot.audit import service as audit
from adpilot.auth.service import Principal
from adpilot.backtest import replay
from adpilot.backtest.models import Backtest
from adpilot.db import read_session, transaction
from adpilot.entities.models import AdDailyMetric
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.ids import new_id
from adpilot.kit.uow import after_commit
from adpilot.layers import service as layers_service
from adpilot.layers.models import Layer
from adpilot.runs.models import Job
from adpilot.webhooks import service as webhooks

BACKTEST_KIND = "ads_optimizer_backtest"
MAX_WEEKS = 12


def backtest_url(bt: Backtest) -> str:
    return f"/v1/projects/{bt.project_id}/ads/optimizer/backtests/{bt.id}"


def to_api(bt: Backtest) -> dict[str, Any]:
    result = bt.result or {}
    return {
        "backtestId": bt.id,
        "jobId": bt.job_id,
        "projectId": bt.project_id,
        "layerId": bt.layer_id,
        "status": bt.status,
        "progress": bt.progress,
        "weeks": bt.weeks,
        "weeksDone": bt.weeks_done,
        "summary": result.get("summary"),
        "byWeek": result.get("byWeek", []),
        "startedAt": isoformat(bt.started_at),
        "finishedAt": isoformat(bt.finished_at),
        "error": bt.error,
    }


def job_to_api(job: Job, bt: Backtest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobId": job.id,
        "kind": job.kind,
        "status": bt.status,
        "stage": "done" if bt.status != "running" else "replaying",
        "progress": bt.progress,
        "projectId": job.project_id,
        "backtestId": bt.id,
        "startedAt": isoformat(job.started_at),
    }
    if bt.finished_at is not None:
        body["finishedAt"] = isoformat(bt.finished_at)
    if bt.status == "completed":
        body["result"] = {
            "summary": (bt.result or {}).get("summary"),
            "backtestUrl": backtest_url(bt),
        }
    if bt.error is not None:
        body["error"] = bt.error
    return body


def for_job(session: Session, job: Job) -> Backtest | None:
    if job.kind != BACKTEST_KIND:
        return None
    return session.scalars(select(Backtest).where(Backtest.job_id == job.id)).first()


def start(
    session: Session,
    *,
    layer: Layer,
    weeks: int,
    principal: Principal | None,
    request_id: str | None,
) -> tuple[Job, Backtest]:
    if layers_service.current_account(session, layer.id) is None:
        raise errors.conflict("NO_AD_ACCOUNT", f"Layer {layer.id} has no connected ad account.")
    now = utcnow()
    job = Job(
        id=new_id("job"),
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        kind=BACKTEST_KIND,
        status="running",
        started_at=now,
        updated_at=now,
    )
    bt = Backtest(
        id=new_id("bkt"),
        job_id=job.id,
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        layer_id=layer.id,
        weeks=weeks,
        status="running",
        progress=0.0,
        weeks_done=0,
        started_at=now,
    )
    session.add(job)
    session.flush()
    session.add(bt)
    session.flush()
    audit.record(
        session,
        "ads.optimizer.backtest.started",
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        principal=principal,
        request_id=request_id,
        data={"backtestId": bt.id, "jobId": job.id, "layerId": layer.id, "weeks": weeks},
    )
    bt_id = bt.id
    after_commit(session, lambda: enqueue(bt_id))
    return job, bt


def enqueue(backtest_id: str) -> None:
    from adpilot.backtest.workflows import backtest_workflow

    jobs.runtime().enqueue(jobs.RUNS_QUEUE, backtest_workflow, backtest_id, workflow_id=backtest_id)


def envelope(job: Job, bt: Backtest) -> dict[str, Any]:
    return {
        "jobId": job.id,
        "backtestId": bt.id,
        "kind": BACKTEST_KIND,
        "status": "running",
        "locationUrl": f"/v1/jobs/{job.id}",
        "backtestUrl": backtest_url(bt),
        "startedAt": isoformat(bt.started_at),
    }


def get(session: Session, project_id: str, backtest_id: str) -> Backtest:
    bt = session.get(Backtest, backtest_id)
    if bt is None or bt.project_id != project_id:
        raise errors.not_found(f"Backtest {backtest_id}")
    return bt


def latest(session: Session, project_id: str, layer_id: str, limit: int) -> list[Backtest]:
    """A layer's most recent backtests, newest first."""
    return list(
        session.scalars(
            select(Backtest)
            .where(Backtest.project_id == project_id, Backtest.layer_id == layer_id)
            .order_by(Backtest.started_at.desc(), Backtest.id.desc())
            .limit(limit)
        )
    )


def _week_to_api(w: replay.Week) -> dict[str, Any]:
    return {
        "weekStart": w.start.isoformat(),
        "replayed": w.replayed,
        "reason": w.reason,
        "proposals": [
            {
                "actionType": j.proposal.action_type,
                "entityType": j.proposal.entity_type,
                "entityId": j.proposal.entity_id,
                "entityName": j.proposal.entity_name,
                "summary": j.proposal.summary,
                "confidence": round(float(j.proposal.confidence), 4),
                "verdict": j.verdict,
                "reason": j.reason,
                "estimatedGainConversions": round(j.gain, 2),
            }
            for j in w.judged
        ],
    }


def execute(session_factory: sessionmaker[Session], backtest_id: str) -> None:
    """Replay and store the result; progress is committed week by week. Safe to repeat."""
    from adpilot.runs.stages import layer_input

    with read_session(session_factory) as session:
        bt = session.get(Backtest, backtest_id)
        assert bt is not None
        if bt.status != "running":
            return
        layer = session.get(Layer, bt.layer_id)
        assert layer is not None
        account = layers_service.current_account(session, layer.id)
        first, last = session.execute(
            select(func.min(AdDailyMetric.date), func.max(AdDailyMetric.date)).where(
                AdDailyMetric.layer_id == layer.id
            )
        ).one()
        weeks = bt.weeks
        full = None
        if account is not None and last is not None:
            since = max(first, last - dt.timedelta(days=weeks * 7 + replay.WINDOW_DAYS))
            full = layer_input(session, layer, account, since, last, utcnow())
        write_classes = dict(layer.write_classes or {})

    def progress(done: int) -> None:
        with transaction(session_factory) as s:
            row = s.get(Backtest, backtest_id)
            assert row is not None
            row.weeks_done, row.progress = done, round(done / max(weeks, 1) * 0.95, 3)

    if full is None:
        result = replay.Backtest([])
    else:
        # Stored days were read at the last sync: judge what had matured by then.
        as_of = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), dt.UTC)
        result = replay.replay(
            full, weeks=weeks, as_of=as_of, write_classes=write_classes, progress=progress
        )
    with transaction(session_factory) as session:
        bt = session.get(Backtest, backtest_id)
        assert bt is not None
        now = utcnow()
        bt.result = {
            "summary": replay.summary(result, weeks),
            "byWeek": [_week_to_api(w) for w in result.weeks],
        }
        bt.status, bt.progress, bt.weeks_done, bt.finished_at = "completed", 1.0, weeks, now
        job = session.get(Job, bt.job_id)
        assert job is not None
        job.status, job.finished_at, job.updated_at = "completed", now, now
        webhooks.emit(
            session,
            organization_id=bt.organization_id,
            project_id=bt.project_id,
            event_type="job.completed",
            data={
                "jobId": job.id,
                "kind": BACKTEST_KIND,
                "status": "completed",
                "backtestId": bt.id,
                "result": job_to_api(job, bt)["result"],
            },
        )


def fail(session_factory: sessionmaker[Session], backtest_id: str, message: str) -> None:
    with transaction(session_factory) as session:
        bt = session.get(Backtest, backtest_id)
        if bt is None or bt.status != "running":
            return
        now = utcnow()
        bt.status, bt.finished_at = "failed", now
        bt.error = {"code": "INTERNAL", "message": message}
        job = session.get(Job, bt.job_id)
        if job is not None:
            job.status, job.finished_at, job.updated_at = "failed", now, now
            webhooks.emit(
                session,
                organization_id=bt.organization_id,
                project_id=bt.project_id,
                event_type="job.failed",
                data={
                    "jobId": job.id,
                    "kind": BACKTEST_KIND,
                    "status": "failed",
                    "error": bt.error,
                },
            )
