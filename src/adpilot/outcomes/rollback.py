"""Rollback through the gate: a sent change that backfired is proposed back, at most once.

The revert restores the prior value (budget, countries, hours; un-pauses a paused ad or ad set)
as a new action of the same type, so the original's axis gates it: `off` denies, `draft` queues
it for a person, `auto` sends it. It waits for the usual cooldown after the entity's last change;
it is not proposed when the entity was changed again since (a revert would undo that later change
too) nor for a change that was itself a rollback. The claim on the original is a guarded update
in the same transaction as the new row, so no race or repeat can propose it twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from adpilot.config import Settings
from adpilot.db import execute_update, read_session, transaction
from adpilot.engine.outcomes import DEFAULT_HORIZONS
from adpilot.gate import policy as gate_policy
from adpilot.gate import service as gate_service
from adpilot.kit.ids import new_id
from adpilot.layers.models import AdAccount, Layer
from adpilot.outcomes.models import ActionOutcome, Prediction
from adpilot.pending import service as pending_service
from adpilot.pending.models import PendingAction
from adpilot.platforms.base import WriteRequest
from adpilot.platforms.registry import open_platform
from adpilot.webhooks import service as webhooks

# The probability that the change hurt needed before its revert is proposed.
ROLLBACK_PROBABILITY = 0.95
REVERTIBLE = frozenset(
    {"update_budget", "update_targeting", "update_schedule", "pause_ad", "pause_adset"}
)


def _cooldown(layer: Layer, action_type: str) -> dt.timedelta:
    from adpilot.runs.stages import engine_settings

    st = engine_settings(layer)
    hours = {
        "structural": st.cooldown_structural_hours,
        "tactical": st.cooldown_budget_hours,
    }.get(gate_policy.ACTION_AXIS[action_type], st.cooldown_bid_hours)
    return dt.timedelta(hours=hours)


def in_cooldown(session: Session, pred: Prediction, layer: Layer, now: dt.datetime) -> bool:
    """Is the entity still inside the cooldown after its last sent change?"""
    last = max(
        (
            at
            for at in session.scalars(
                select(PendingAction.dispatched_at).where(
                    PendingAction.entity_id == pred.entity_id,
                    PendingAction.status == "dispatched",
                )
            )
            if at is not None
        ),
        default=None,
    )
    return last is not None and now < last + _cooldown(layer, pred.action_type)


def is_candidate(pred: Prediction, p_true: float | None) -> bool:
    return (
        pred.sent
        and pred.latest_verdict == "backfired"
        and pred.rollback_state is None
        and pred.reverts_pending_id is None
        and p_true is not None
        and 1.0 - p_true >= ROLLBACK_PROBABILITY
    )


def candidates(session: Session, now: dt.datetime) -> list[str]:
    """Predictions whose latest outcome asks for a rollback not yet proposed or refused, past
    the cooldown (a rollback workflow that ran inside it would, under its fixed id, not run
    again)."""
    rows = session.execute(
        select(Prediction, ActionOutcome)
        .join(
            ActionOutcome,
            (ActionOutcome.prediction_id == Prediction.id)
            & (ActionOutcome.horizon_days == Prediction.latest_horizon),
        )
        .where(
            Prediction.sent.is_(True),
            Prediction.latest_verdict == "backfired",
            Prediction.rollback_state.is_(None),
            Prediction.reverts_pending_id.is_(None),
        )
    ).all()
    layers: dict[str, Layer | None] = {}
    found = []
    for pred, out in rows:
        if not is_candidate(pred, out.p_true):
            continue
        if pred.layer_id not in layers:
            layers[pred.layer_id] = session.get(Layer, pred.layer_id)
        layer = layers[pred.layer_id]
        if layer is not None and not in_cooldown(session, pred, layer, now):
            found.append(pred.id)
    return found


def _later_changes(session: Session, pred: Prediction, orig: PendingAction) -> list[PendingAction]:
    return list(
        session.scalars(
            select(PendingAction).where(
                PendingAction.entity_id == orig.entity_id,
                PendingAction.status == "dispatched",
                PendingAction.id != orig.id,
                PendingAction.dispatched_at >= pred.started_at,
            )
        )
    )


def _skip(session: Session, pred_id: str, reason: str, now: dt.datetime) -> dict[str, Any]:
    execute_update(
        session,
        update(Prediction)
        .where(Prediction.id == pred_id, Prediction.rollback_state.is_(None))
        .values(rollback_state="skipped", rollback_reason=reason, updated_at=now),
    )
    return {"state": "skipped", "reason": reason}


def _rationale(pred: Prediction, orig: PendingAction, outcome: ActionOutcome) -> str:
    d = outcome.detail
    return (
        f"Rollback of {orig.id} ({orig.summary}), sent {orig.dispatched_at:%Y-%m-%d}: "
        f"{d.get('reason', '')} Restoring the value it replaced; the original's evidence and "
        f"outcome are under evaluation {pred.id}."
    )


def propose(
    settings: Settings, factory: sessionmaker[Session], prediction_id: str, now: dt.datetime
) -> dict[str, Any]:
    """Propose the revert of one backfired change (or record why not); repeatable."""
    with read_session(factory) as session:
        pred = session.get(Prediction, prediction_id)
        if pred is None or pred.rollback_state is not None:
            state = pred.rollback_state if pred else None
            return {"state": state, "pendingId": pred.rollback_pending_id if pred else None}
        latest = session.scalars(
            select(ActionOutcome.p_true).where(
                ActionOutcome.prediction_id == pred.id,
                ActionOutcome.horizon_days == pred.latest_horizon,
            )
        ).first()
        if not is_candidate(pred, latest):
            return {"state": None, "reason": "the outcome does not call for a rollback"}
        orig = session.get(PendingAction, pred.pending_id) if pred.pending_id else None
        layer = session.get(Layer, pred.layer_id)
        account = session.get(AdAccount, orig.ad_account_id) if orig else None
        assert layer is not None
        reason: str | None = None
        if orig is None or account is None or account.disconnected_at is not None:
            reason = "the account or the original action is gone"
        elif pred.action_type not in REVERTIBLE:
            reason = f"a {pred.action_type} has no revert adpilot can send"
        elif _later_changes(session, pred, orig):
            reason = "the entity was changed again since; a revert would undo that change too"
        if reason is None:
            assert orig is not None and account is not None
            if in_cooldown(session, pred, layer, now):
                return {"state": None, "reason": "cooldown"}
            write = WriteRequest(
                orig.action_type,  # type: ignore[arg-type]
                orig.entity_type,  # type: ignore[arg-type]
                orig.entity_external_id,
                dict(orig.new_value),
                dict(orig.current_value),
                idempotency_key="",
                context=dict(orig.write_context or {}),
            )
    if reason is not None:
        with transaction(factory) as session:
            return _skip(session, prediction_id, reason, now)
    # Building the request may read the platform: no transaction stays open across it.
    assert account is not None
    detail = open_platform(settings, factory, account).build_request(write)
    with transaction(factory) as session:
        return _create(session, prediction_id, detail, now)


def _create(
    session: Session, prediction_id: str, detail: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    pred = session.get(Prediction, prediction_id)
    assert pred is not None and pred.pending_id is not None
    orig = session.get(PendingAction, pred.pending_id)
    layer = session.get(Layer, pred.layer_id)
    account = session.get(AdAccount, orig.ad_account_id) if orig else None
    assert orig is not None and layer is not None and account is not None
    outcome = session.scalars(
        select(ActionOutcome).where(
            ActionOutcome.prediction_id == pred.id,
            ActionOutcome.horizon_days == pred.latest_horizon,
        )
    ).one()
    authority = gate_service.effective_authority(session, layer, orig.campaign_id)
    decision = gate_policy.decide(orig.action_type, authority.authority, layer.kill_switch_active)
    if decision.decision == "denied":
        gate_service.record_verdict(
            session,
            layer=layer,
            action_type=orig.action_type,
            decision=decision,
            campaign_id=orig.campaign_id,
            run_id=orig.run_id,
        )
        return _skip(session, pred.id, f"the gate denied the revert ({decision.reason})", now)
    revert_id = new_id("pa")
    # The claim: only one caller ever moves rollback_state from NULL.
    claimed = execute_update(
        session,
        update(Prediction)
        .where(Prediction.id == pred.id, Prediction.rollback_state.is_(None))
        .values(rollback_state="proposed", rollback_pending_id=revert_id, updated_at=now),
    )
    if not claimed:
        session.refresh(pred)
        return {"state": pred.rollback_state, "pendingId": pred.rollback_pending_id}
    origin = "queued" if decision.decision == "queued" else "auto"
    verb = {"pause_ad": "Un-pause", "pause_adset": "Un-pause"}.get(orig.action_type, "Revert")
    row = pending_service.create_action(
        session,
        run_id=orig.run_id,
        layer=layer,
        account=account,
        origin=origin,
        action_type=orig.action_type,
        entity_type=orig.entity_type,
        entity_id=orig.entity_id,
        entity_external_id=orig.entity_external_id,
        entity_name=orig.entity_name,
        campaign_id=orig.campaign_id,
        adset_id=orig.adset_id,
        axis=orig.axis,
        current_value=dict(orig.new_value),
        new_value=dict(orig.current_value),
        summary=f"{verb}: {orig.summary} (rollback)",
        rationale=_rationale(pred, orig, outcome),
        confidence=round(1.0 - float(outcome.p_true or 0.0), 4),
        proposed_action={"detail": detail},
        write_context=dict(orig.write_context or {}),
        evidence_fingerprint=None,
        now=now,
        pending_id=revert_id,
    )
    gate_service.record_verdict(
        session,
        layer=layer,
        action_type=orig.action_type,
        decision=decision,
        campaign_id=orig.campaign_id,
        run_id=orig.run_id,
        pending_id=row.id,
    )
    _follow_revert(session, pred, row, outcome, now)
    if origin == "auto":
        from adpilot.pending.workflows import enqueue_dispatch

        enqueue_dispatch(session, row.id)
    else:
        webhooks.emit(
            session,
            organization_id=layer.organization_id,
            project_id=layer.project_id,
            event_type="ads.pending.created",
            data={
                "runId": orig.run_id,
                "layerId": layer.id,
                "platform": layer.platform,
                "pendingIds": [row.id],
            },
        )
    return {"state": "proposed", "pendingId": row.id}


def _follow_revert(
    session: Session, pred: Prediction, row: PendingAction, outcome: ActionOutcome, now: dt.datetime
) -> None:
    """The revert is followed too: without it, things stay as observed; with it, as forecast
    before the original change."""
    d = outcome.detail
    h = max(int(outcome.horizon_days), 1)
    fc = dict(pred.evidence.get("forecast") or {})
    stay = {
        "spendCentsPerDay": float(d.get("observedSpendCents") or 0.0) / h,
        "conversionsPerDay": float(d.get("observedConversions") or 0.0) / h,
        "rateShape": float(d.get("observedConversions") or 0.0) + 1.0,
    }
    evidence = {
        "revertsPendingId": pred.pending_id,
        "originalEvaluationId": pred.id,
        "forecast": {
            "judged": fc.get("judged")
            or {"entityType": pred.entity_type, "entityId": pred.entity_id},
            "noChange": stay,
            "change": fc.get("noChange") or stay,
        },
    }
    session.add(
        Prediction(
            id=new_id("prd"),
            organization_id=pred.organization_id,
            project_id=pred.project_id,
            layer_id=pred.layer_id,
            platform=pred.platform,
            run_id=pred.run_id,
            # Reverts take negative positions: unique per run, never a proposal's index.
            proposal_index=-1 - pred.proposal_index,
            pending_id=row.id,
            action_type=row.action_type,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            entity_name=row.entity_name,
            campaign_id=row.campaign_id,
            adset_id=row.adset_id,
            axis=row.axis,
            current_value=row.current_value,
            new_value=row.new_value,
            summary=row.summary,
            confidence=row.confidence,
            calibrated_confidence=None,
            evidence=evidence,
            value_cents=pred.value_cents,
            status="waiting",
            disposition=None,
            sent=False,
            reverts_pending_id=pred.pending_id,
            started_at=now,
            next_due_at=None,
            horizons=list(DEFAULT_HORIZONS),
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
