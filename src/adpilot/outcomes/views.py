"""How a followed proposal and its outcomes are shown: over the API, in events, on the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adpilot.kit.clock import isoformat
from adpilot.outcomes.models import ActionOutcome, Prediction


def outcome_view(row: ActionOutcome) -> dict[str, Any]:
    return {**row.detail, "asOf": isoformat(row.as_of), "evaluatedAt": isoformat(row.evaluated_at)}


def outcomes_of(session: Session, ids: Sequence[str]) -> dict[str, list[ActionOutcome]]:
    found: dict[str, list[ActionOutcome]] = {i: [] for i in ids}
    if not ids:
        return found
    for row in session.scalars(
        select(ActionOutcome)
        .where(ActionOutcome.prediction_id.in_(list(ids)))
        .order_by(ActionOutcome.horizon_days)
    ):
        found[row.prediction_id].append(row)
    return found


def prediction_view(pred: Prediction, outcomes: Sequence[ActionOutcome]) -> dict[str, Any]:
    """An evaluated action: the proposal, how it ended, and each judged horizon."""
    latest = outcomes[-1] if outcomes else None
    return {
        "evaluationId": pred.id,
        "pendingId": pred.pending_id,
        "runId": pred.run_id,
        "layerId": pred.layer_id,
        "platform": pred.platform,
        "actionType": pred.action_type,
        "entityType": pred.entity_type,
        "entityId": pred.entity_id,
        "entityName": pred.entity_name,
        "axis": pred.axis,
        "summary": pred.summary,
        "currentValue": pred.current_value,
        "newValue": pred.new_value,
        "confidence": pred.confidence,
        "calibratedConfidence": pred.calibrated_confidence,
        "sent": pred.sent,
        "disposition": pred.disposition,
        "startedAt": isoformat(pred.started_at),
        "verdict": latest.verdict if latest else None,
        "horizonDays": latest.horizon_days if latest else None,
        "reason": latest.detail.get("reason") if latest else None,
        "evaluatedAt": isoformat(pred.evaluated_at),
        "nextEvaluationAt": isoformat(pred.next_due_at),
        "outcomes": [outcome_view(o) for o in outcomes],
        "revertsPendingId": pred.reverts_pending_id,
        "rollback": (
            {
                "state": pred.rollback_state,
                "pendingId": pred.rollback_pending_id,
                "reason": pred.rollback_reason,
            }
            if pred.rollback_state
            else None
        ),
    }


def evaluated_view(session: Session, pred: Prediction) -> dict[str, Any]:
    return prediction_view(pred, outcomes_of(session, [pred.id])[pred.id])


_ROW_KEYS = (
    "evaluationId",
    "sent",
    "disposition",
    "verdict",
    "horizonDays",
    "reason",
    "evaluatedAt",
    "nextEvaluationAt",
    "calibratedConfidence",
    "outcomes",
    "rollback",
)


def row_outcomes(session: Session, pending_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The outcome shown on each pending/action row that has been evaluated (others absent)."""
    if not pending_ids:
        return {}
    preds = list(
        session.scalars(
            select(Prediction).where(
                Prediction.pending_id.in_(list(pending_ids)), Prediction.evaluated_at.is_not(None)
            )
        )
    )
    found = outcomes_of(session, [p.id for p in preds])
    out: dict[str, dict[str, Any]] = {}
    for pred in preds:
        view = prediction_view(pred, found[pred.id])
        out[str(pred.pending_id)] = {k: view[k] for k in _ROW_KEYS}
    return out
