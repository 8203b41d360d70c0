"""Which proposals are followed and when each horizon falls due.

Every proposal of a completed run is enrolled once (unique per run and position): sent changes
and those that were not (held, denied, dry run; queued rows once rejected, expired or failed).
A queued or auto row waits until its pending action settles; a change is followed from the
moment it was sent, a prediction from the moment it was made. Functions here never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from adpilot.engine.calibration import Recalibration
from adpilot.engine.outcomes import DEFAULT_HORIZONS, LagCurve, matures_at
from adpilot.kit.ids import new_id
from adpilot.layers.models import Layer
from adpilot.outcomes.models import Prediction
from adpilot.pending.models import PendingAction
from adpilot.pending.service import EXPIRED_REASON
from adpilot.runs.models import OptimizerRun

# Runs older than this are not enrolled any more (their first horizon would long be due).
ENROLL_WITHIN = dt.timedelta(days=60)
MATURE_SHARE = 0.95

# How a run's change outcome maps to a followed disposition (None: wait for the pending row).
_UNSENT = {"held": "held", "denied": "denied", "dry_run": "dry_run"}


def lag_curve(layer: Layer) -> LagCurve:
    """The layer's attribution-lag curve (engine settings, with its guardrail overrides)."""
    from adpilot.runs.stages import engine_settings

    st = engine_settings(layer)
    return LagCurve(tuple(st.attribution_lag_days), tuple(st.attribution_lag_share))


def due_at(started: dt.datetime, horizon: int, lag: LagCurve) -> dt.datetime:
    return matures_at(started, horizon, lag, MATURE_SHARE)


def _auto_row(session: Session, run_id: str, p: dict[str, Any]) -> str | None:
    return session.scalars(
        select(PendingAction.id).where(
            PendingAction.run_id == run_id,
            PendingAction.origin == "auto",
            PendingAction.entity_id == p["entityId"],
            PendingAction.action_type == p["actionType"],
        )
    ).first()


def _value_cents(layer: Layer, evidence: dict[str, Any]) -> float | None:
    given = evidence.get("targetCpaCents")
    if given:
        return float(given)
    return float(layer.target_cpa_cents) if layer.target_cpa_cents else None


def enroll_run(
    session: Session,
    run: OptimizerRun,
    layer: Layer,
    recal: dict[str, Recalibration],
    now: dt.datetime,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
) -> int:
    """One prediction per proposal of a completed run; returns how many were added."""
    added = 0
    for i, (p, change) in enumerate(zip(run.proposals, run.changes, strict=False)):
        outcome = change.get("outcome")
        pending_id = change.get("pendingId")
        if outcome in ("dispatched", "dispatch_failed") and not pending_id:
            pending_id = _auto_row(session, run.id, p)
        disposition = _UNSENT.get(str(outcome))
        evidence = dict(p.get("evidence") or {})
        fit = recal.get(p["actionType"])
        session.add(
            Prediction(
                id=new_id("prd"),
                organization_id=run.organization_id,
                project_id=run.project_id,
                layer_id=run.layer_id,
                platform=run.platform,
                run_id=run.id,
                proposal_index=i,
                pending_id=pending_id if disposition is None else None,
                action_type=p["actionType"],
                entity_type=p["entityType"],
                entity_id=p["entityId"],
                entity_name=p["entityName"],
                campaign_id=p.get("campaignId"),
                adset_id=p.get("adsetId"),
                axis=p["axis"],
                current_value=p["currentValue"],
                new_value=p["newValue"],
                summary=p["summary"],
                confidence=float(p["confidence"]),
                calibrated_confidence=fit.apply(float(p["confidence"])) if fit else None,
                evidence=evidence,
                value_cents=_value_cents(layer, evidence),
                status="waiting" if disposition is None and pending_id else "following",
                disposition=disposition if disposition or pending_id else "dispatch_failed",
                sent=False,
                reverts_pending_id=None,
                started_at=run.started_at,
                next_due_at=None,
                horizons=sorted({int(h) for h in horizons if int(h) > 0}),
                latest_verdict=None,
                latest_horizon=None,
                evaluated_at=None,
                rollback_state=None,
                rollback_pending_id=None,
                rollback_reason=None,
                created_at=now,
                updated_at=now,
            )
        )
        added += 1
    session.flush()
    return added


def unenrolled_runs(session: Session, now: dt.datetime) -> list[str]:
    """Completed runs with proposals not yet followed."""
    followed = exists().where(Prediction.run_id == OptimizerRun.id)
    return list(
        session.scalars(
            select(OptimizerRun.id).where(
                OptimizerRun.status == "completed",
                OptimizerRun.finished_at >= now - ENROLL_WITHIN,
                ~followed,
            )
        )
    )


def _start(session: Session, row: Prediction, lag: LagCurve, now: dt.datetime) -> None:
    row.status = "following"
    row.next_due_at = due_at(row.started_at, row.horizons[0], lag) if row.horizons else None
    row.updated_at = now


def resolve_waiting(session: Session, now: dt.datetime) -> int:
    """Rows waiting on a pending action that has settled start being followed."""
    moved = 0
    rows = session.execute(
        select(Prediction, PendingAction)
        .join(PendingAction, PendingAction.id == Prediction.pending_id)
        .where(
            Prediction.status == "waiting",
            PendingAction.status.in_(("dispatched", "rejected", "dispatch_failed")),
        )
    ).all()
    lags: dict[str, LagCurve] = {}
    for pred, row in rows:
        if row.status == "dispatched":
            pred.sent, pred.disposition = True, "dispatched"
            pred.started_at = row.dispatched_at or row.updated_at
        else:
            expired = row.status == "rejected" and row.rejection_reason == EXPIRED_REASON
            pred.disposition = "expired" if expired else row.status
            pred.started_at = row.created_at
        if pred.layer_id not in lags:
            layer = session.get(Layer, pred.layer_id)
            assert layer is not None
            lags[pred.layer_id] = lag_curve(layer)
        _start(session, pred, lags[pred.layer_id], now)
        moved += 1
    return moved


def start_following(session: Session, now: dt.datetime) -> None:
    """Rows enrolled as `following` without a due time (not-sent proposals) get one."""
    rows = session.scalars(
        select(Prediction).where(Prediction.status == "following", Prediction.next_due_at.is_(None))
    ).all()
    lags: dict[str, LagCurve] = {}
    for pred in rows:
        if pred.layer_id not in lags:
            layer = session.get(Layer, pred.layer_id)
            assert layer is not None
            lags[pred.layer_id] = lag_curve(layer)
        _start(session, pred, lags[pred.layer_id], now)


def due(session: Session, now: dt.datetime) -> list[tuple[str, int]]:
    """(prediction, horizon) pairs whose horizon has matured by `now`."""
    rows = session.execute(
        select(Prediction.id, Prediction.horizons).where(
            Prediction.status == "following", Prediction.next_due_at <= now
        )
    ).all()
    return [(pid, int(horizons[0])) for pid, horizons in rows if horizons]


def advance(pred: Prediction, horizon: int, lag: LagCurve, now: dt.datetime) -> None:
    """Mark `horizon` judged on a row the caller holds locked; the next one falls due later."""
    remaining = [h for h in pred.horizons if h != horizon]
    pred.horizons = remaining
    pred.next_due_at = due_at(pred.started_at, remaining[0], lag) if remaining else None
    pred.status = "following" if remaining else "done"
    pred.updated_at = now
