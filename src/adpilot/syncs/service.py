"""Syncs of a layer's entities and metrics outside optimizer runs: started when an account is
connected and on each layer's cadence (default every 6 hours), each a job of kind `ads_sync`.

A sync reads what a run's first stage reads and stores it the same way, so campaigns, ad sets
and ads are listed (and their authority can be pinned) before the optimizer first runs, and
entity status, budgets and metrics stay current between runs. It writes nothing to a platform.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from adpilot import errors, jobs
from adpilot.config import Settings
from adpilot.db import execute_update, transaction
from adpilot.entities.sync import metrics_window, read_account, store_for_layer
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.ids import new_id
from adpilot.kit.platform_names import to_long
from adpilot.kit.uow import after_commit
from adpilot.layers.models import AdAccount, Layer
from adpilot.layers.schedule import next_run_after
from adpilot.platforms.base import PlatformAuthError, PlatformError
from adpilot.runs.models import Job, OptimizerRun
from adpilot.syncs.models import EntitySync
from adpilot.webhooks import service as webhooks

log = logging.getLogger(__name__)

SYNC_KIND = "ads_sync"
TRIGGERS = ("connect", "schedule")


def sync_to_api(sync: EntitySync) -> dict[str, Any]:
    return {
        "syncId": sync.id,
        "jobId": sync.job_id,
        "projectId": sync.project_id,
        "layerId": sync.layer_id,
        "adAccountId": sync.ad_account_id,
        "platform": to_long(sync.platform),
        "trigger": sync.trigger,
        "status": sync.status,
        "window": {"since": sync.window_since.isoformat(), "until": sync.window_until.isoformat()},
        "counts": sync.counts,
        "error": sync.error,
        "startedAt": isoformat(sync.started_at),
        "finishedAt": isoformat(sync.finished_at),
    }


def job_to_api(job: Job, sync: EntitySync) -> dict[str, Any]:
    """The `GET /v1/jobs/{jobId}` envelope of a sync job."""
    body: dict[str, Any] = {
        "jobId": job.id,
        "kind": job.kind,
        "status": sync.status,
        "projectId": job.project_id,
        "layerId": sync.layer_id,
        "syncId": sync.id,
        "startedAt": isoformat(job.started_at),
    }
    if sync.finished_at is not None:
        body["finishedAt"] = isoformat(sync.finished_at)
    if sync.status == "completed":
        body["result"] = {"counts": sync.counts}
    if sync.error is not None:
        body["error"] = sync.error
    return body


def find_job(session: Session, organization_id: str, job_id: str) -> tuple[Job, EntitySync]:
    job = session.get(Job, job_id)
    sync = session.scalars(select(EntitySync).where(EntitySync.job_id == job_id)).first()
    if job is None or sync is None or job.organization_id != organization_id:
        raise errors.not_found(f"Job {job_id}")
    return job, sync


def start_sync(
    session: Session,
    layer: Layer,
    account: AdAccount,
    *,
    trigger: str,
    now: dt.datetime | None = None,
) -> EntitySync | None:
    """Record a sync job and enqueue it once `session` commits. None when the layer already
    has one under way (it will bring the same data)."""
    now = now or utcnow()
    since, until = metrics_window(account.timezone, now)
    job = Job(
        id=new_id("job"),
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        kind=SYNC_KIND,
        status="running",
        started_at=now,
        updated_at=now,
    )
    sync = EntitySync(
        id=new_id("syn"),
        job_id=job.id,
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        layer_id=layer.id,
        ad_account_id=account.id,
        platform=layer.platform,
        trigger=trigger,
        status="running",
        window_since=since,
        window_until=until,
        started_at=now,
    )
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
            session.add(sync)
            session.flush()
    except IntegrityError:
        return None  # the partial unique index: this layer's sync is already running
    sync_id = sync.id
    after_commit(session, lambda: enqueue_sync(sync_id))
    return sync


def enqueue_sync(sync_id: str) -> None:
    """Enqueue under the sync's id (a second enqueue runs nothing). A process without the job
    engine (the `bootstrap` command) leaves it to the workers' sweep of lost work, seconds
    later (`maintenance.requeue_lost_work`)."""
    from adpilot.syncs.workflows import entity_sync_workflow

    try:
        runtime = jobs.runtime()
    except RuntimeError:
        return
    try:
        runtime.enqueue(jobs.RUNS_QUEUE, entity_sync_workflow, sync_id, workflow_id=sync_id)
    except Exception:
        log.exception("could not enqueue sync %s; the upkeep tick will", sync_id)


def run_sync(settings: Settings, factory: sessionmaker[Session], sync_id: str) -> None:
    """Read the platform and store what it shows; repeatable (a finished sync is left alone)."""
    with transaction(factory) as session:
        sync = session.get(EntitySync, sync_id)
        if sync is None or sync.status != "running":
            return
        account = session.get(AdAccount, sync.ad_account_id)
        layer = session.get(Layer, sync.layer_id)
        assert account is not None and layer is not None
        conversion_event = layer.conversion_event
        since, until = sync.window_since, sync.window_until
    snapshot = read_account(settings, factory, account, conversion_event, since, until)
    with transaction(factory) as session:
        sync = session.get(EntitySync, sync_id, with_for_update=True)
        if sync is None or sync.status != "running":
            return
        now = utcnow()
        counts = store_for_layer(
            session, sync.layer_id, sync.ad_account_id, snapshot, since, until, now
        )
        _finish(session, sync, "completed", now, counts=counts)


def failure_of(exc: BaseException) -> tuple[str, str]:
    """(code, message) recorded for a sync that ended with `exc`."""
    if isinstance(exc, PlatformAuthError):
        return "PLATFORM_AUTH_FAILED", f"The platform refused the credentials: {exc}"
    if isinstance(exc, PlatformError):
        return "PLATFORM_ERROR", f"The platform failed: {exc}"
    return "INTERNAL", f"The sync failed unexpectedly ({type(exc).__name__})."


def fail_sync(factory: sessionmaker[Session], sync_id: str, code: str, message: str) -> None:
    with transaction(factory) as session:
        sync = session.get(EntitySync, sync_id, with_for_update=True)
        if sync is not None and sync.status == "running":
            _finish(session, sync, "failed", utcnow(), error={"code": code, "message": message})


def _finish(
    session: Session,
    sync: EntitySync,
    status: str,
    now: dt.datetime,
    *,
    counts: dict[str, int] | None = None,
    error: dict[str, Any] | None = None,
) -> None:
    sync.status, sync.finished_at, sync.counts, sync.error = status, now, counts, error
    job = session.get(Job, sync.job_id)
    if job is not None:
        job.status, job.finished_at, job.updated_at = status, now, now
    session.flush()
    webhooks.emit(
        session,
        organization_id=sync.organization_id,
        project_id=sync.project_id,
        event_type=f"ads.sync.{status}",
        data=sync_to_api(sync),
    )


# --- the cadence ---------------------------------------------------------------------------


def fire_due_syncs(factory: sessionmaker[Session], now: dt.datetime) -> list[str]:
    """Start a sync for every layer whose sync time has come (each slot claimed by one worker
    with a guarded update); a layer whose optimizer run is under way is skipped, as that run
    syncs it. Returns the sync ids started."""
    started: list[str] = []
    with factory() as session:
        due = list(
            session.execute(
                select(Layer.id, Layer.next_sync_at).where(
                    Layer.next_sync_at.is_not(None), Layer.next_sync_at <= now
                )
            )
        )
    for layer_id, slot in due:
        with transaction(factory) as session:
            layer = session.get(Layer, layer_id)
            assert layer is not None
            claimed = execute_update(
                session,
                update(Layer)
                .where(Layer.id == layer_id, Layer.next_sync_at == slot)
                .values(next_sync_at=next_run_after(layer.sync_schedule, now)),
            )
            if not claimed:
                continue
            account = session.scalars(
                select(AdAccount).where(
                    AdAccount.layer_id == layer_id, AdAccount.disconnected_at.is_(None)
                )
            ).first()
            running = session.scalars(
                select(OptimizerRun.id).where(
                    OptimizerRun.layer_id == layer_id, OptimizerRun.status == "running"
                )
            ).first()
            if account is None or running is not None:
                continue
            sync = start_sync(session, layer, account, trigger="schedule", now=now)
            if sync is not None:
                started.append(sync.id)
    return started


def running_since_before(factory: sessionmaker[Session], cutoff: dt.datetime) -> list[str]:
    """Unfinished syncs started before `cutoff`: the ones a crash between commit and enqueue, or
    a process without the job engine (the `bootstrap` command), may have left unqueued."""
    with factory() as session:
        return list(
            session.scalars(
                select(EntitySync.id).where(
                    EntitySync.status == "running", EntitySync.started_at < cutoff
                )
            )
        )
