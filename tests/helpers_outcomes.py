"""Test helpers for outcomes: a judged outcome stored the way the judging step stores it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adpilot.db import transaction
from adpilot.kit.clock import utcnow
from adpilot.kit.ids import new_id
from adpilot.outcomes.models import ActionOutcome, Prediction
from adpilot.pending.models import PendingAction

BACKFIRED = {
    "reason": "Backfired: 31.0 conversions against 52.0 expected without it.",
    "predictedConversions": 60.0,
    "observedConversions": 31.0,
    "counterfactualConversions": 52.0,
    "predictedCpaCents": 1100.0,
    "observedCpaCents": 2258.0,
    "observedSpendCents": 70000.0,
    "effectValue": -21.0,
    "effectLow": -32.0,
    "effectHigh": -10.0,
    "effectConversions": -21.0,
    "effectSpendCents": 0.0,
}


def judged(
    session_factory: sessionmaker[Session],
    pending_id: str,
    *,
    verdict: str = "backfired",
    p_true: float = 0.01,
    detail: dict[str, Any] | None = None,
    confidence: float | None = None,
) -> str:
    """A prediction of the row with one judged 7-day horizon; returns its evaluation id."""
    now = utcnow()
    with transaction(session_factory) as session:
        row = session.get(PendingAction, pending_id)
        assert row is not None
        sent = row.status == "dispatched"
        pred = Prediction(
            id=new_id("prd"),
            organization_id=row.organization_id,
            project_id=row.project_id,
            layer_id=row.layer_id,
            platform=row.platform,
            run_id=row.run_id,
            proposal_index=0,
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
            confidence=confidence if confidence is not None else row.confidence,
            calibrated_confidence=None,
            evidence={},
            value_cents=1000.0,
            status="done",
            disposition="dispatched" if sent else "rejected",
            sent=sent,
            reverts_pending_id=None,
            started_at=row.dispatched_at or row.created_at,
            next_due_at=None,
            horizons=[],
            latest_verdict=verdict,
            latest_horizon=7,
            evaluated_at=now,
            rollback_state=None,
            rollback_pending_id=None,
            rollback_reason=None,
            created_at=now,
            updated_at=now,
        )
        session.add(pred)
        session.flush()
        session.add(
            ActionOutcome(
                id=new_id("out"),
                prediction_id=pred.id,
                horizon_days=7,
                verdict=verdict,
                p_true=p_true,
                estimable=True,
                detail={**BACKFIRED, **(detail or {}), "verdict": verdict, "pTrue": p_true},
                as_of=now,
                evaluated_at=now,
            )
        )
        return pred.id


def judged_backfired(
    session_factory: sessionmaker[Session], pending_id: str, p_true: float = 0.01
) -> str:
    return judged(session_factory, pending_id, verdict="backfired", p_true=p_true)
