"""Periodic upkeep: expire pending actions, fire layer schedules and syncs, re-enqueue lost work.

Everything here is safe to run concurrently on several workers: transitions are guarded updates
and work is enqueued under deterministic workflow ids, which run once however often enqueued.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from dbos import DBOS
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from adpilot import errors, jobs
from adpilot.config import Settings
from adpilot.db import execute_update, transaction
from adpilot.kit.clock import utcnow
from adpilot.layers import service as layers_service
from adpilot.layers.models import Layer
from adpilot.layers.schedule import next_run_after
from adpilot.outcomes import service as outcomes_service
from adpilot.pending import service as pending_service
from adpilot.pending.models import PendingAction
from adpilot.runs import service as runs_service
from adpilot.runs.models import OptimizerRun
from adpilot.syncs import service as syncs_service
from adpilot.webhooks import service as webhooks_service

log = logging.getLogger(__name__)

LOST_AFTER = dt.timedelta(minutes=1)


def fire_due_schedules(
    settings: Settings, factory: sessionmaker[Session], now: dt.datetime
) -> list[str]:
    """Start a scheduled run for every layer whose time has come; returns the run ids."""
    started: list[str] = []
    with factory() as session:
        due = list(
            session.execute(
                select(Layer.id, Layer.next_scheduled_run_at).where(
                    Layer.next_scheduled_run_at.is_not(None), Layer.next_scheduled_run_at <= now
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
                .where(Layer.id == layer_id, Layer.next_scheduled_run_at == slot)
                .values(next_scheduled_run_at=next_run_after(layer.schedule, now)),
            )
            if not claimed:
                continue  # another worker took this slot
            account = layers_service.current_account(session, layer_id)
            if account is None:
                continue
            try:
                with session.begin_nested():
                    if runs_service._active_run(session, layer_id) is not None:
                        continue  # skipped, not queued, while another run is in progress
                    _job, run = runs_service.start_run(
                        session, layer=layer, account=account, dry_run=False, trigger="schedule"
                    )
                    started.append(run.id)
            except errors.ApiError as exc:
                log.info("scheduled run of %s skipped: %s", layer_id, exc.message)
    return started


def requeue_lost_work(
    factory: sessionmaker[Session], now: dt.datetime, grace: dt.timedelta = LOST_AFTER
) -> int:
    """Work committed but never enqueued (a crash between commit and enqueue, or a process
    without the job engine) is enqueued now: optimizer runs, approved dispatches and syncs.

    Only ids the job engine has never been given are enqueued, so a worker may run this every
    few seconds without re-offering the runs and dispatches already waiting in the queues.
    Returns how many were enqueued.
    """
    from adpilot.pending.workflows import dispatch_workflow, dispatch_workflow_id

    runtime = jobs.runtime()
    with factory() as session:
        stuck_runs = session.scalars(
            select(OptimizerRun.id).where(
                OptimizerRun.status == "running",
                OptimizerRun.stage == "queued",
                OptimizerRun.started_at < now - grace,
            )
        ).all()
        approved = session.scalars(
            select(PendingAction.id).where(
                PendingAction.status == "approved", PendingAction.updated_at < now - grace
            )
        ).all()
    dispatches = {dispatch_workflow_id(pending_id): pending_id for pending_id in approved}
    # A sync's workflow id is its own id.
    stuck_syncs = syncs_service.running_since_before(factory, now - grace)
    known = runtime.known([*stuck_runs, *dispatches, *stuck_syncs])
    enqueued = 0
    for sync_id in stuck_syncs:
        if sync_id not in known:
            syncs_service.enqueue_sync(sync_id)
            enqueued += 1
    for run_id in stuck_runs:
        if run_id not in known:
            runs_service.enqueue_run(run_id)
            enqueued += 1
    for workflow_id, pending_id in dispatches.items():
        if workflow_id not in known:
            runtime.enqueue(
                jobs.DISPATCH_QUEUE, dispatch_workflow, pending_id, workflow_id=workflow_id
            )
            enqueued += 1
    return enqueued


def run_maintenance(settings: Settings, factory: sessionmaker[Session], now: dt.datetime) -> None:
    with transaction(factory) as session:
        pending_service.expire_due(session, now)
        webhooks_service.requeue_stranded(session)
    fire_due_schedules(settings, factory, now)
    syncs_service.fire_due_syncs(factory, now)
    requeue_lost_work(factory, now)
    outcomes_service.sweep(factory, now, settings.outcome_horizons_days)


@DBOS.workflow()
def maintenance_tick(scheduled_time: dt.datetime, context: Any) -> None:
    """Fired by the job engine's scheduler every minute (once across all workers)."""
    maintenance_step()


@jobs.repeatable_step()
def maintenance_step() -> None:
    runtime = jobs.runtime()
    run_maintenance(runtime.settings, runtime.session_factory, utcnow())


def register(runtime: jobs.JobRuntime) -> None:
    jobs.ensure_schedule("adpilot-maintenance", maintenance_tick, runtime.settings.maintenance_cron)
