"""Direct writes: plan a person's change, build its platform request, pass it through the gate.

One write model: a direct write becomes a pending action like an optimizer proposal — queued for
approval under `draft`, approved and sent by the same durable dispatch under `auto`, denied (and
recorded as such) under `off` or the kill switch — with `source` naming who asked and a job of
kind `ads_direct_write` to follow it by.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot import errors
from adpilot.audit import service as audit
from adpilot.auth.service import Principal
from adpilot.config import Settings
from adpilot.engine.text import money
from adpilot.entities.models import Ad, AdsContent, AdSet, Campaign
from adpilot.gate import policy
from adpilot.gate import service as gate_service
from adpilot.gate.policy import GateDecision
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.idempotency import WriteResult
from adpilot.kit.ids import new_id
from adpilot.layers import service as layers_service
from adpilot.layers.models import AdAccount, Layer
from adpilot.pending import service as pending_service
from adpilot.pending.models import PendingAction
from adpilot.platforms.base import PlatformError, PlatformRejected, WriteRequest
from adpilot.platforms.registry import open_platform
from adpilot.runs.models import Job
from adpilot.runs.stages import engine_settings
from adpilot.writes import rules
from adpilot.writes.schemas import BudgetChange, CreativeChange, WriteOptions

KIND = "ads_direct_write"
Entity = Campaign | AdSet | Ad
_MODELS: dict[str, type[Entity]] = {"campaign": Campaign, "adset": AdSet, "ad": Ad}
_NAMES = {"campaign": "campaign", "adset": "ad set", "ad": "ad"}
# Statuses counted by a person's cooldowns: changes decided on (approved) or sent. A proposal still
# awaiting a decision is not a change yet; should both be approved, the later one's dispatch
# finds the value moved and fails as stale instead of overwriting it.
_COUNTED = ("approved", "dispatched")


@dataclass(frozen=True)
class Planned:
    """One direct write, resolved against our entity tables and validated (before the gate)."""

    layer_id: str
    account_id: str
    platform: str
    currency: str
    action_type: str
    entity_type: str
    entity_id: str
    entity_external_id: str
    entity_name: str
    campaign_id: str | None
    adset_id: str | None
    current: dict[str, Any]
    new: dict[str, Any]
    summary: str
    context: dict[str, Any] = field(default_factory=dict)

    def write_request(self) -> WriteRequest:
        return WriteRequest(
            self.action_type,  # type: ignore[arg-type]
            self.entity_type,  # type: ignore[arg-type]
            self.entity_external_id,
            dict(self.current),
            dict(self.new),
            idempotency_key="",
            context=dict(self.context),
        )


# --- resolving the path's entity ---------------------------------------------------------


def find_entity(session: Session, layer: Layer, entity_type: str, entity_id: str) -> Entity:
    """The entity under this layer; one under another layer (or platform path) is not found."""
    entity: Entity | None = session.get(_MODELS[entity_type], entity_id)  # type: ignore[assignment]
    if entity is None or entity.layer_id != layer.id:
        raise errors.not_found(f"{_NAMES[entity_type].capitalize()} {entity_id}")
    return entity


def _account(session: Session, layer: Layer) -> AdAccount:
    account = layers_service.current_account(session, layer.id)
    if account is None:
        raise errors.conflict("NO_AD_ACCOUNT", f"Layer {layer.id} has no connected ad account.")
    return account


def _refuse_deleted(entity: Entity, entity_type: str) -> None:
    if entity.status == "deleted":
        raise errors.conflict(
            "ENTITY_DELETED",
            f"{_NAMES[entity_type].capitalize()} {entity.id} is deleted.",
            status="deleted",
        )


def _context(session: Session, entity: Entity, entity_type: str) -> dict[str, Any]:
    """The parent ids a platform request needs (campaign, ad set)."""
    context: dict[str, Any] = {}
    campaign_id = entity.id if entity_type == "campaign" else getattr(entity, "campaign_id", None)
    adset_id = entity.id if entity_type == "adset" else getattr(entity, "adset_id", None)
    if campaign_id and (campaign := session.get(Campaign, campaign_id)) is not None:
        context["campaignExternalId"] = campaign.external_id
    if adset_id and (adset := session.get(AdSet, adset_id)) is not None:
        context["adsetExternalId"] = adset.external_id
    return context


def _planned(
    session: Session,
    layer: Layer,
    entity: Entity,
    entity_type: str,
    action_type: str,
    current: dict[str, Any],
    new: dict[str, Any],
    summary: str,
    extra_context: dict[str, Any] | None = None,
) -> Planned:
    account = _account(session, layer)
    campaign_id = entity.id if entity_type == "campaign" else getattr(entity, "campaign_id", None)
    adset_id = entity.id if entity_type == "adset" else getattr(entity, "adset_id", None)
    return Planned(
        layer_id=layer.id,
        account_id=account.id,
        platform=layer.platform,
        currency=account.currency,
        action_type=action_type,
        entity_type=entity_type,
        entity_id=entity.id,
        entity_external_id=entity.external_id,
        entity_name=entity.name,
        campaign_id=campaign_id,
        adset_id=adset_id,
        current=current,
        new=new,
        summary=summary,
        context={**_context(session, entity, entity_type), **(extra_context or {})},
    )


# --- planning each kind of write ----------------------------------------------------------


def plan_budget(
    session: Session, layer: Layer, entity_type: str, entity_id: str, body: BudgetChange
) -> Planned:
    """Exactly one of the two budgets; only on the entity holding it; never under the minimum."""
    entity = find_entity(session, layer, entity_type, entity_id)
    given = [n for n in ("dailyBudgetCents", "lifetimeBudgetCents") if getattr(body, n) is not None]
    if len(given) != 1:
        raise errors.validation(
            "dailyBudgetCents", "send exactly one of dailyBudgetCents and lifetimeBudgetCents"
        )
    name = _NAMES[entity_type]
    if body.lifetimeBudgetCents is not None:
        raise errors.validation(
            "lifetimeBudgetCents", f"this {name} runs on a daily budget; send dailyBudgetCents"
        )
    cents = int(body.dailyBudgetCents or 0)
    account = _account(session, layer)
    problem = rules.below_platform_minimum(
        layer.platform, entity_type, cents, account.currency, engine_settings(layer)
    )
    if problem is not None:
        raise errors.validation("dailyBudgetCents", problem)
    _refuse_deleted(entity, entity_type)
    holder = _holds_budget(session, entity, entity_type)
    if not holder:
        where = "its ad sets hold" if entity_type == "campaign" else "its campaign holds"
        raise errors.conflict(
            "NOT_BUDGET_HOLDER",
            f"The {name} {entity.id} does not hold a budget: {where} it.",
        )
    current = entity.daily_budget_cents  # type: ignore[union-attr]
    summary = (
        f"Set the daily budget of {name} “{entity.name}” from "
        f"{money(current or 0, account.currency)} to {money(cents, account.currency)}"
    )
    return _planned(
        session,
        layer,
        entity,
        entity_type,
        "update_budget",
        {"dailyBudgetCents": current},
        {"dailyBudgetCents": cents},
        summary,
    )


def _holds_budget(session: Session, entity: Entity, entity_type: str) -> bool:
    if entity_type == "campaign":
        return isinstance(entity, Campaign) and entity.budget_mode == "campaign"
    campaign = session.get(Campaign, getattr(entity, "campaign_id", None))
    return campaign is not None and campaign.budget_mode == "adset"


def plan_targeting(session: Session, layer: Layer, adset_id: str, geo: list[str]) -> Planned:
    adset = find_entity(session, layer, "adset", adset_id)
    countries = sorted({c.strip().upper() for c in geo})
    bad = [c for c in countries if len(c) != 2 or not c.isalpha()]
    if bad:
        raise errors.validation("geo", f"not ISO 3166 country codes: {', '.join(bad)}")
    _refuse_deleted(adset, "adset")
    current = list((getattr(adset, "targeting", None) or {}).get("geo") or [])
    summary = f"Target ad set “{adset.name}” at {', '.join(countries)}"
    return _planned(
        session, layer, adset, "adset", "update_targeting", {"geo": current},
        {"geo": countries}, summary,
    )  # fmt: skip


def plan_schedule(session: Session, layer: Layer, adset_id: str, dayparts: list[int]) -> Planned:
    adset = find_entity(session, layer, "adset", adset_id)
    hours = sorted(set(dayparts))
    if any(h < 0 or h > 23 for h in hours):
        raise errors.validation("dayparts", "hours must be 0 to 23")
    _refuse_deleted(adset, "adset")
    current = list((getattr(adset, "schedule", None) or {}).get("dayparts") or [])
    summary = f"Run ad set “{adset.name}” in {len(hours)} hour(s) of the day"
    return _planned(
        session, layer, adset, "adset", "update_schedule", {"dayparts": current},
        {"dayparts": hours}, summary,
    )  # fmt: skip


_VERBS = {"active": "Resume", "paused": "Pause", "deleted": "Delete"}


def plan_status(
    session: Session, layer: Layer, entity_type: str, entity_id: str, status: str
) -> Planned:
    """Pause, resume or soft-delete; pausing an ad or ad set is the optimizer's own pause type,
    so both share cooldowns and history."""
    entity = find_entity(session, layer, entity_type, entity_id)
    _refuse_deleted(entity, entity_type)
    action = "update_status"
    if status == "paused" and entity_type in ("ad", "adset"):
        action = "pause_ad" if entity_type == "ad" else "pause_adset"
    summary = f"{_VERBS[status]} {_NAMES[entity_type]} “{entity.name}”"
    return _planned(
        session, layer, entity, entity_type, action, {"status": entity.status},
        {"status": status}, summary,
    )  # fmt: skip


def _creative(session: Session, layer: Layer, content_id: str) -> AdsContent:
    content = session.get(AdsContent, content_id)
    if content is None or content.project_id != layer.project_id:
        raise errors.validation("adsContentId", f"no creative {content_id} in this project")
    if content.safety_failed:
        raise errors.validation("adsContentId", "this creative failed a safety check")
    if content.override == "exclude":
        raise errors.validation("adsContentId", "this creative is excluded by the customer")
    if not (content.asset_refs or {}).get(layer.platform):
        raise errors.validation("adsContentId", f"this creative has no {layer.platform} asset")
    return content


def plan_creative(
    session: Session, layer: Layer, ad_id: str, op: str, body: CreativeChange | None
) -> Planned:
    """push (a new ad with the creative next to this ad), replace (this ad's creative), or
    prune (remove this ad, and with it its creative)."""
    ad = find_entity(session, layer, "ad", ad_id)
    _refuse_deleted(ad, "ad")
    assert isinstance(ad, Ad)
    if op == "prune":
        summary = f"Remove ad “{ad.name}” and its creative"
        return _planned(
            session, layer, ad, "ad", "prune_creative", {"status": ad.status},
            {"status": "removed"}, summary,
        )  # fmt: skip
    assert body is not None
    content = _creative(session, layer, body.adsContentId)
    refs = {
        "adsContentId": content.id,
        "creativeExternalId": (content.asset_refs or {})[layer.platform],
        "creativeName": content.name,
    }
    if op == "replace":
        summary = f"Show creative “{content.name}” in ad “{ad.name}”"
        return _planned(
            session, layer, ad, "ad", "replace_creative", {"adsContentId": ad.ads_content_id},
            {"adsContentId": content.id}, summary, refs,
        )  # fmt: skip
    adset = session.get(AdSet, ad.adset_id)
    assert adset is not None
    _refuse_deleted(adset, "adset")
    running = session.scalars(
        select(Ad).where(Ad.adset_id == adset.id, Ad.status == "active")
    ).all()
    if any(a.ads_content_id == content.id for a in running):
        raise errors.conflict(
            "CREATIVE_ALREADY_RUNNING",
            f"Creative {content.id} already runs in ad set {adset.id}.",
        )
    summary = f"Add creative “{content.name}” to ad set “{adset.name}”"
    return _planned(
        session, layer, adset, "adset", "push_creative", {"activeAds": len(running)},
        {"adsContentId": content.id, "activeAds": len(running) + 1}, summary, refs,
    )  # fmt: skip


# --- the platform request (outside any transaction: it may read the platform) ---------------


def build_detail(
    settings: Settings, factory: sessionmaker[Session], planned: Planned
) -> dict[str, Any]:
    """The exact platform request the dispatch will send; a refusal here is a 422."""
    with factory() as session:
        account = session.get(AdAccount, planned.account_id)
        assert account is not None
        session.expunge(account)
    try:
        platform = open_platform(settings, factory, account)
        return platform.build_request(planned.write_request())
    except PlatformRejected as exc:
        raise errors.platform_rejected(exc.message, exc.platform_code) from None
    except PlatformError as exc:
        raise errors.platform_error(exc.message) from None


# --- through the gate -----------------------------------------------------------------------


def _earlier(session: Session, entity_id: str, now: dt.datetime) -> list[rules.EarlierChange]:
    rows = session.execute(
        select(PendingAction.action_type, PendingAction.created_at).where(
            PendingAction.entity_id == entity_id,
            PendingAction.status.in_(_COUNTED),
            PendingAction.created_at > now - dt.timedelta(days=30),
        )
    )
    return [rules.EarlierChange(kind, at) for kind, at in rows]


def _guardrail_refusal(
    session: Session, layer: Layer, planned: Planned, override: bool, now: dt.datetime
) -> str | None:
    if override:
        return None
    st = engine_settings(layer)
    if planned.action_type == "update_budget":
        step = rules.budget_step_refusal(
            planned.current.get("dailyBudgetCents"),
            int(planned.new["dailyBudgetCents"]),
            planned.currency,
            st,
        )
        if step is not None:
            return step
    return rules.cooldown_refusal(
        planned.action_type, _earlier(session, planned.entity_id, now), now, st
    )


def _denied_answer(request_id: str, decision: GateDecision, verdict_id: str) -> WriteResult:
    why = {
        "kill_switch_active": "The layer's kill switch is on: every write is denied.",
        "authority_axis_off": f"The campaign's {decision.axis} authority is off.",
    }
    body = {
        "error": {
            "code": "AUTHORITY_DENIED",
            "message": why.get(decision.reason or "", "The authority gate denied this write."),
            "requestId": request_id,
            "details": {"reason": decision.reason, "verdictId": verdict_id},
        }
    }
    return WriteResult(403, body)


def _job(session: Session, layer: Layer, now: dt.datetime, status: str) -> Job:
    job = Job(
        id=new_id("job"),
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        kind=KIND,
        status=status,
        run_id=None,
        started_at=now,
        finished_at=now if status != "running" else None,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    return job


def submit(
    session: Session,
    planned: Planned,
    detail: dict[str, Any] | None,
    options: WriteOptions,
    *,
    principal: Principal,
    request_id: str,
) -> WriteResult:
    """Gate the write and record it: 403 (verdict kept) when denied by authority, else 202 with
    the job, the verdict and what the gate did (`queued`, `dispatched`, or `denied` by a
    guardrail)."""
    if options.overrideGuardrails and principal.actor_type != "customer":
        raise errors.authority_denied(
            "customer_only", "Only a customer key may override the guardrails."
        )
    layer = layers_service.locked_layer(session, planned.layer_id)
    account = session.get(AdAccount, planned.account_id)
    assert account is not None
    now = utcnow()
    authority = gate_service.effective_authority(session, layer, planned.campaign_id)
    decision = policy.decide(planned.action_type, authority.authority, layer.kill_switch_active)
    record: dict[str, Any] = {
        "layer": layer,
        "action_type": planned.action_type,
        "campaign_id": planned.campaign_id,
        "actor": principal.actor(),
        "request_id": request_id,
    }
    if decision.decision == "denied":
        verdict = gate_service.record_verdict(session, decision=decision, **record)
        return _denied_answer(request_id, decision, verdict.id)
    held = _guardrail_refusal(session, layer, planned, options.overrideGuardrails, now)
    if held is not None:
        decision = replace(decision, decision="denied", reason=held)
        job = _job(session, layer, now, "failed")
        verdict = gate_service.record_verdict(session, decision=decision, **record)
        _audit(session, planned, job, verdict.id, None, "denied", principal, request_id)
        return WriteResult(202, _answer(job, verdict.id, "denied", None, held))
    job = _job(session, layer, now, "running")
    row = pending_service.create_action(
        session,
        run_id=None,
        job_id=job.id,
        source=principal.actor_type,
        layer=layer,
        account=account,
        origin="queued" if decision.decision == "queued" else "auto",
        action_type=planned.action_type,
        entity_type=planned.entity_type,
        entity_id=planned.entity_id,
        entity_external_id=planned.entity_external_id,
        entity_name=planned.entity_name,
        campaign_id=planned.campaign_id,
        adset_id=planned.adset_id,
        axis=decision.axis,
        current_value=planned.current,
        new_value=planned.new,
        summary=planned.summary,
        rationale=options.note or f"Requested by a {principal.actor_type} key over the API.",
        confidence=1.0,
        proposed_action={"detail": detail},
        write_context=planned.context,
        evidence_fingerprint=None,
        now=now,
    )
    verdict = gate_service.record_verdict(session, decision=decision, pending_id=row.id, **record)
    status = "queued" if decision.decision == "queued" else "dispatched"
    _audit(session, planned, job, verdict.id, row.id, status, principal, request_id)
    if status == "dispatched":
        # Imported here: the dispatch workflow module imports the pending service at load.
        from adpilot.pending import workflows

        workflows.enqueue_dispatch(session, row.id)
    pending_id = row.id if status == "queued" else None
    return WriteResult(202, _answer(job, verdict.id, status, pending_id, None))


def _answer(
    job: Job, verdict_id: str, status: str, pending_id: str | None, reason: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobId": job.id,
        "kind": KIND,
        "verdictId": verdict_id,
        "status": status,
        "locationUrl": f"/v1/jobs/{job.id}",
    }
    if pending_id is not None:
        body["pendingId"] = pending_id
    if reason is not None:
        body["reason"] = reason
    return body


def _audit(
    session: Session,
    planned: Planned,
    job: Job,
    verdict_id: str,
    pending_id: str | None,
    status: str,
    principal: Principal,
    request_id: str,
) -> None:
    audit.record(
        session,
        "direct_write.requested",
        organization_id=job.organization_id,
        project_id=job.project_id,
        principal=principal,
        request_id=request_id,
        data={
            "jobId": job.id,
            "verdictId": verdict_id,
            "pendingId": pending_id,
            "status": status,
            "platform": planned.platform,
            "actionType": planned.action_type,
            "entityType": planned.entity_type,
            "entityId": planned.entity_id,
            "currentValue": planned.current,
            "newValue": planned.new,
        },
    )


# --- the job envelope -----------------------------------------------------------------------

# A direct write's job follows its pending row.
_JOB_STATUS = {
    "pending": "running",
    "approved": "running",
    "dispatched": "completed",
    "dispatch_failed": "failed",
    "rejected": "canceled",
}


def job_view(session: Session, organization_id: str, job_id: str) -> dict[str, Any] | None:
    """`GET /v1/jobs/{id}` for a direct write, or None when the job is not one."""
    job = session.get(Job, job_id)
    if job is None or job.organization_id != organization_id or job.kind != KIND:
        return None
    row = session.scalars(select(PendingAction).where(PendingAction.job_id == job.id)).first()
    body: dict[str, Any] = {
        "jobId": job.id,
        "kind": KIND,
        "projectId": job.project_id,
        "startedAt": isoformat(job.started_at),
    }
    if row is None:  # denied by a guardrail: nothing was queued or sent
        return {**body, "status": job.status, "finishedAt": isoformat(job.finished_at)}
    body["status"] = _JOB_STATUS[row.status]
    body["result"] = pending_service.to_api(row)
    if row.status == "dispatched":
        body["finishedAt"] = isoformat(row.dispatched_at)
    elif row.status in ("dispatch_failed", "rejected"):
        body["finishedAt"] = isoformat(row.updated_at)
        body["error"] = {
            "code": "DISPATCH_FAILED" if row.status == "dispatch_failed" else "REJECTED",
            "message": row.dispatch_failure_reason or row.rejection_reason,
        }
    return body
