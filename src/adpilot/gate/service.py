"""Authority: layer defaults, per-campaign pins, who may change them, and recorded verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from adpilot import errors
from adpilot.audit import service as audit
from adpilot.auth.service import Principal
from adpilot.entities.models import Campaign
from adpilot.gate import policy
from adpilot.gate.models import Verdict
from adpilot.gate.policy import GateDecision
from adpilot.gate.schemas import AuthorityPatch, CampaignAuthorityPatch, DefaultsPatch
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.ids import new_id
from adpilot.layers import service as layers_service
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


def _refuse_if_not_allowed(refusal: policy.Refusal | None) -> None:
    if refusal is not None:
        raise errors.authority_denied(refusal.reason, refusal.message)


def defaults_view(layer: Layer) -> dict[str, Any]:
    return {
        "layerId": layer.id,
        "platform": layer.platform,
        "defaults": layer_defaults(layer),
        "ceiling": layer_ceiling(layer),
        "killSwitchActive": layer.kill_switch_active,
        "lastModifiedAt": isoformat(layer.defaults_modified_at),
        "lastModifiedBy": layer.defaults_modified_by,
    }


def patch_defaults(
    session: Session,
    layer_id: str,
    patch: DefaultsPatch,
    *,
    principal: Principal,
    request_id: str | None,
) -> dict[str, Any]:
    """Change defaults, kill switch and/or ceiling at once, or nothing (403 before any write)."""
    given = patch.given()
    if not given:
        raise errors.validation("body", "send at least one of defaults, killSwitchActive, ceiling")
    layer = layers_service.locked_layer(session, layer_id)
    requested = patch.defaults.modes() if patch.defaults is not None else {}
    customer_only = tuple(
        name
        for name, attr in (("killSwitchActive", "kill_switch_active"), ("ceiling", "ceiling"))
        if attr in given
    )
    _refuse_if_not_allowed(
        policy.check_policy_change(
            principal.actor_type,
            ceiling=layer_ceiling(layer),
            requested_modes=requested,
            customer_only_fields=customer_only,
        )
    )
    before = defaults_view(layer)
    defaults = policy.overlay(layer_defaults(layer), requested)
    layer.default_creative = defaults["creative"]
    layer.default_tactical = defaults["tactical"]
    layer.default_structural = defaults["structural"]
    if patch.ceiling is not None:
        ceiling = policy.overlay(layer_ceiling(layer), patch.ceiling.modes())
        layer.ceiling_creative = ceiling["creative"]
        layer.ceiling_tactical = ceiling["tactical"]
        layer.ceiling_structural = ceiling["structural"]
    if patch.kill_switch_active is not None:
        layer.kill_switch_active = patch.kill_switch_active
    policy_keys = ("defaults", "ceiling", "killSwitchActive")
    if all(defaults_view(layer)[k] == before[k] for k in policy_keys):
        return before  # nothing changed: no new modification time, no audit event
    layer.defaults_modified_at = utcnow()
    layer.defaults_modified_by = principal.actor()
    after = defaults_view(layer)
    audit.record(
        session,
        "layer.defaults.updated",
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        principal=principal,
        request_id=request_id,
        data={
            "layerId": layer.id,
            "platform": layer.platform,
            "before": {k: before[k] for k in policy_keys},
            "after": {k: after[k] for k in policy_keys},
        },
    )
    return after


def campaign_authority_view(session: Session, layer: Layer, campaign_id: str) -> dict[str, Any]:
    effective = effective_authority(session, layer, campaign_id)
    pinned = effective.pinned
    # An unpinned campaign follows the defaults, so their last change is its last change.
    modified_at = pinned.modified_at if pinned else layer.defaults_modified_at
    modified_by = pinned.modified_by if pinned else layer.defaults_modified_by
    return {
        "campaignId": campaign_id,
        "platform": layer.platform,
        "authority": effective.authority,
        "source": effective.source,
        "lastModifiedAt": isoformat(modified_at),
        "lastModifiedBy": modified_by,
    }


def find_campaign(session: Session, layer: Layer, campaign_id: str) -> Campaign:
    """The campaign under this layer; one under another platform's layer is not found here."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.layer_id != layer.id:
        raise errors.not_found(f"Campaign {campaign_id}")
    return campaign


def patch_campaign_authority(
    session: Session,
    layer_id: str,
    campaign_id: str,
    patch: CampaignAuthorityPatch,
    *,
    principal: Principal,
    request_id: str | None,
) -> dict[str, Any]:
    """Pin (defaults overlaid with the given axes), change a pin, or unpin with `null`."""
    layer = layers_service.locked_layer(session, layer_id)
    before = effective_authority(session, layer, campaign_id)
    if patch.authority is None:
        event = "campaign.authority.unpinned"
        if before.pinned is not None:
            session.delete(before.pinned)
            session.flush()
    else:
        event = "campaign.authority.pinned"
        _pin(session, layer, campaign_id, before, patch.authority, principal)
    view = campaign_authority_view(session, layer, campaign_id)
    audit.record(
        session,
        event,
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        principal=principal,
        request_id=request_id,
        data={
            "layerId": layer.id,
            "campaignId": campaign_id,
            "before": {"authority": before.authority, "source": before.source},
            "after": {"authority": view["authority"], "source": view["source"]},
        },
    )
    return view


def _pin(
    session: Session,
    layer: Layer,
    campaign_id: str,
    before: EffectiveAuthority,
    change: AuthorityPatch,
    principal: Principal,
) -> None:
    requested = change.modes()
    _refuse_if_not_allowed(
        policy.check_policy_change(
            principal.actor_type, ceiling=layer_ceiling(layer), requested_modes=requested
        )
    )
    block = policy.overlay(before.authority, requested)
    row = before.pinned
    if row is None:
        row = CampaignAuthority(campaign_id=campaign_id, layer_id=layer.id)
        session.add(row)
    row.creative = block["creative"]
    row.tactical = block["tactical"]
    row.structural = block["structural"]
    row.modified_at = utcnow()
    row.modified_by = principal.actor()
    session.flush()
