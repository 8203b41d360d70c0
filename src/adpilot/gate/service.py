"""Resolving a campaign's effective authority, and recording verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from adpilot.audit import service as audit
from adpilot.gate.models import Verdict
from adpilot.gate.policy import GateDecision
from adpilot.kit.clock import utcnow
from adpilot.kit.ids import new_id
from adpilot.layers.models import CampaignAuthority, Layer


@dataclass(frozen=True)
class EffectiveAuthority:
    authority: dict[str, str]
    source: str  # per_campaign | layer_defaults
    pinned: CampaignAuthority | None


def layer_defaults(layer: Layer) -> dict[str, str]:
    return {
        "creative": layer.default_creative,
        "tactical": layer.default_tactical,
        "structural": layer.default_structural,
    }


def layer_ceiling(layer: Layer) -> dict[str, str]:
    return {
        "creative": layer.ceiling_creative,
        "tactical": layer.ceiling_tactical,
        "structural": layer.ceiling_structural,
    }


def effective_authority(
    session: Session, layer: Layer, campaign_id: str | None
) -> EffectiveAuthority:
    """A pinned campaign block wins; an unpinned campaign follows the layer defaults live."""
    pinned = session.get(CampaignAuthority, campaign_id) if campaign_id else None
    if pinned is not None:
        block = {
            "creative": pinned.creative,
            "tactical": pinned.tactical,
            "structural": pinned.structural,
        }
        return EffectiveAuthority(block, "per_campaign", pinned)
    return EffectiveAuthority(layer_defaults(layer), "layer_defaults", None)


def record_verdict(
    session: Session,
    *,
    layer: Layer,
    action_type: str,
    decision: GateDecision | None = None,
    person_decision: str | None = None,
    axis: str | None = None,
    campaign_id: str | None = None,
    run_id: str | None = None,
    pending_id: str | None = None,
    reason: str | None = None,
    actor: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> Verdict:
    """Store one gate verdict (or a person's approve/reject) and its audit event."""
    verdict = Verdict(
        id=new_id("ver"),
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        layer_id=layer.id,
        campaign_id=campaign_id,
        run_id=run_id,
        pending_id=pending_id,
        action_type=action_type,
        axis=decision.axis if decision else (axis or ""),
        mode=decision.mode if decision else None,
        decision=decision.decision if decision else (person_decision or ""),
        reason=decision.reason if decision else reason,
        actor=actor,
        created_at=utcnow(),
    )
    session.add(verdict)
    audit.record(
        session,
        f"gate.verdict.{verdict.decision}",
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        request_id=request_id,
        data={
            "verdictId": verdict.id,
            "layerId": layer.id,
            "campaignId": campaign_id,
            "runId": run_id,
            "pendingId": pending_id,
            "actionType": action_type,
            "axis": verdict.axis,
            "mode": verdict.mode,
            "decision": verdict.decision,
            "reason": verdict.reason,
            "actor": actor,
        },
    )
    return verdict
