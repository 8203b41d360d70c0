"""The work of each optimizer-run stage, as plain functions over the database and the platform.

Each function owns one transaction and is safe to repeat: a stage marks itself finished in the
same transaction as its work, and a repeated call on a finished stage does nothing. The durable
workflow (runs/workflows.py) only sequences these calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from adpilot.config import Settings
from adpilot.db import execute_update, read_session, transaction
from adpilot.engine import guardrails as engine_guardrails
from adpilot.engine.run import evaluate
from adpilot.engine.types import (
    AdInput,
    AdSetInput,
    BreakdownDimension,
    BreakdownRow,
    CampaignInput,
    CreativeInput,
    CreativeOverride,
    EngineInput,
    EngineResult,
    EngineSettings,
    HistoryEntry,
    MetricArrays,
    Proposal,
)
from adpilot.entities import history
from adpilot.entities.models import Ad, AdDailyMetric, AdsContent, AdSet, AdSetBreakdown, Campaign
from adpilot.entities.sync import read_account, store_for_layer
from adpilot.gate import policy as gate_policy
from adpilot.gate import service as gate_service
from adpilot.holdout import service as holdout_service
from adpilot.holdout.assign import held_out
from adpilot.kit.clock import isoformat, utcnow
from adpilot.layers.goal import engine_goal
from adpilot.layers.models import AdAccount, Layer
from adpilot.pending import service as pending_service
from adpilot.pending.models import PendingAction
from adpilot.platforms.base import WriteRequest
from adpilot.platforms.registry import open_platform
from adpilot.runs import scope as run_scope
from adpilot.runs.models import Job, OptimizerRun
from adpilot.runs.service import PROGRESS, STAGES, run_to_api
from adpilot.webhooks import service as webhooks

HISTORY_DAYS = 14

# How a dry run words what the gate would have done with a proposal.
DRY_RUN_OUTCOMES = {"queued": "queued", "dispatch": "dispatched"}


@dataclasses.dataclass(frozen=True)
class StageContext:
    settings: Settings
    session_factory: sessionmaker[Session]


def _load(session: Session, run_id: str, *, lock: bool = False) -> OptimizerRun:
    query = select(OptimizerRun).where(OptimizerRun.id == run_id)
    if lock:
        query = query.with_for_update()
    run = session.scalars(query).one()
    return run


def _stage_index(stage: str) -> int:
    return STAGES.index(stage)


def _finish_current_stage(run: OptimizerRun, now: dt.datetime) -> None:
    stages = [dict(s) for s in run.stages]
    if stages and stages[-1].get("finishedAt") is None:
        stages[-1]["finishedAt"] = isoformat(now)
    run.stages = stages


def stage_finished(run: OptimizerRun, stage: str) -> bool:
    return any(s["stage"] == stage and s.get("finishedAt") for s in run.stages)


def _job_event(run: OptimizerRun, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "jobId": run.job_id,
        "kind": "ads_optimizer_run",
        "status": status,
        "runId": run.id,
        **extra,
    }


CANCELED_BEFORE_DISPATCH = "canceled: the run was canceled before dispatching"


def _withdraw_unsent(session: Session, run: OptimizerRun, now: dt.datetime) -> None:
    """A run canceled after gating must not send its `auto` actions later (nothing after the
    boundary reaches a platform): they end as dispatch_failed, and the changes say so."""
    changes, withdrawn = [], 0
    for change in run.changes:
        change = dict(change)
        auto_id = change.pop("_autoId", None)
        if auto_id:
            execute_update(
                session,
                update(PendingAction)
                .where(PendingAction.id == auto_id, PendingAction.status == "approved")
                .values(
                    status="dispatch_failed",
                    dispatch_failure_reason=CANCELED_BEFORE_DISPATCH,
                    updated_at=now,
                ),
            )
            change["outcome"], change["reason"] = "dispatch_failed", CANCELED_BEFORE_DISPATCH
            withdrawn += 1
        changes.append(change)
    run.changes = changes
    if withdrawn:
        run.summary = {**run.summary, "dispatchFailed": withdrawn}


def _cancel(session: Session, run: OptimizerRun, now: dt.datetime) -> None:
    _finish_current_stage(run, now)
    _withdraw_unsent(session, run, now)
    run.status = "canceled"
    run.finished_at = now
    job = session.get(Job, run.job_id)
    if job is not None:
        job.status, job.finished_at, job.updated_at = "canceled", now, now
    webhooks.emit(
        session,
        organization_id=run.organization_id,
        project_id=run.project_id,
        event_type="job.canceled",
        data=_job_event(run, "canceled"),
    )


def begin_stage(ctx: StageContext, run_id: str, stage: str) -> bool:
    """Move the run into `stage`; False when it was canceled (now or before) instead."""
    with transaction(ctx.session_factory) as session:
        run = _load(session, run_id, lock=True)
        if run.status != "running":
            return False
        if _stage_index(run.stage) >= _stage_index(stage):
            return True  # recovering: this stage was entered before a restart
        now = utcnow()
        if run.cancel_requested:
            _cancel(session, run, now)
            return False
        _finish_current_stage(run, now)
        run.stages = [
            *run.stages,
            {"stage": stage, "startedAt": isoformat(now), "finishedAt": None},
        ]
        run.stage = stage
        run.progress = PROGRESS[stage]
        return True


def _mark_finished(run: OptimizerRun, stage: str, now: dt.datetime) -> None:
    stages = [dict(s) for s in run.stages]
    for entry in stages:
        if entry["stage"] == stage and entry.get("finishedAt") is None:
            entry["finishedAt"] = isoformat(now)
    run.stages = stages


# --- syncing -------------------------------------------------------------------------------


def sync(ctx: StageContext, run_id: str) -> None:
    """Read entities and 30 days of daily metrics from the platform into the local store."""
    with transaction(ctx.session_factory) as session:
        run = _load(session, run_id)
        if stage_finished(run, "syncing"):
            return
        account = session.get(AdAccount, run.ad_account_id)
        layer = session.get(Layer, run.layer_id)
        assert account is not None and layer is not None
        conversion_event = layer.conversion_event
    assert run.window_since is not None and run.window_until is not None
    since, until = run.window_since, run.window_until
    snapshot = read_account(
        ctx.settings, ctx.session_factory, account, conversion_event, since, until
    )
    with read_session(ctx.session_factory) as session:
        layer = session.get(Layer, run.layer_id)
        assert layer is not None
        backfill = history.backfill_since(session, layer, since, until)
    # A layer's first sync also reads the days before the window, for backtests.
    older = (
        read_account(
            ctx.settings,
            ctx.session_factory,
            account,
            conversion_event,
            backfill,
            since - dt.timedelta(days=1),
        )
        if backfill
        else None
    )
    with transaction(ctx.session_factory) as session:
        run = _load(session, run_id, lock=True)
        if stage_finished(run, "syncing"):
            return
        now = utcnow()
        store_for_layer(session, run.layer_id, run.ad_account_id, snapshot, since, until, now)
        layer = session.get(Layer, run.layer_id)
        assert layer is not None
        if older is not None and backfill is not None:
            history.store_history(session, layer, older, backfill, since - dt.timedelta(days=1))
        history.prune(session, layer, until)
        _mark_finished(run, "syncing", now)
        if snapshot.dropped:
            # What the platform refused to report this time (e.g. a breakdown), on the run.
            run.stages = [
                {**entry, "dropped": list(snapshot.dropped)}
                if entry["stage"] == "syncing"
                else entry
                for entry in run.stages
            ]


# --- evaluating ----------------------------------------------------------------------------


def engine_settings(layer: Layer) -> EngineSettings:
    """Layer settings and guardrail overrides applied over the engine defaults."""
    fields = {f.name for f in dataclasses.fields(EngineSettings)}
    overrides = {k: v for k, v in (layer.guardrail_overrides or {}).items() if k in fields}
    return dataclasses.replace(EngineSettings(), creative_slots=layer.creative_slots, **overrides)


def build_engine_input(session: Session, run: OptimizerRun, now: dt.datetime) -> EngineInput:
    layer = session.get(Layer, run.layer_id)
    account = session.get(AdAccount, run.ad_account_id)
    assert layer is not None and account is not None and run.window_since and run.window_until
    return layer_input(session, layer, account, run.window_since, run.window_until, now)


def layer_input(
    session: Session,
    layer: Layer,
    account: AdAccount,
    since: dt.date,
    until: dt.date,
    now: dt.datetime,
) -> EngineInput:
    """The engine's input for a layer over the stored days [since, until]."""
    campaigns = list(session.scalars(select(Campaign).where(Campaign.layer_id == layer.id)))
    adsets = list(session.scalars(select(AdSet).where(AdSet.layer_id == layer.id)))
    ads = list(session.scalars(select(Ad).where(Ad.layer_id == layer.id).order_by(Ad.id)))
    n_days = (until - since).days + 1
    dates = [since + dt.timedelta(days=i) for i in range(n_days)]
    index = {ad.id: i for i, ad in enumerate(ads)}
    shape = (len(ads), n_days)
    spend = np.zeros(shape)
    impressions = np.zeros(shape)
    clicks = np.zeros(shape)
    conversions = np.zeros(shape)
    frequency = np.full(shape, np.nan)
    rows = session.execute(
        select(
            AdDailyMetric.ad_id,
            AdDailyMetric.date,
            AdDailyMetric.spend_cents,
            AdDailyMetric.impressions,
            AdDailyMetric.clicks,
            AdDailyMetric.conversions,
            AdDailyMetric.frequency,
        ).where(
            AdDailyMetric.layer_id == layer.id,
            AdDailyMetric.date >= since,
            AdDailyMetric.date <= until,
        )
    )
    for ad_id, day, sp, imp, clk, conv, freq in rows:
        i = index.get(ad_id)
        if i is None:
            continue
        j = (day - since).days
        spend[i, j], impressions[i, j], clicks[i, j], conversions[i, j] = sp, imp, clk, conv
        if freq is not None:
            frequency[i, j] = freq
    breakdowns = [
        BreakdownRow(
            b.adset_id,
            cast(BreakdownDimension, b.dimension),
            b.key,
            b.spend_cents,
            b.impressions,
            b.clicks,
            b.conversions,
        )
        for b in session.scalars(select(AdSetBreakdown).where(AdSetBreakdown.layer_id == layer.id))
    ]
    creatives = [
        CreativeInput(
            c.id,
            c.name,
            c.organic_score,
            cast(CreativeOverride | None, c.override),
            c.safety_failed,
            c.pool,
            c.created_at,
        )
        for c in session.scalars(
            select(AdsContent).where(AdsContent.project_id == layer.project_id)
        )
        if (c.asset_refs or {}).get(layer.platform)
    ]
    history = [
        HistoryEntry(
            p.entity_id,
            p.action_type,  # type: ignore[arg-type]
            p.status,  # type: ignore[arg-type]
            p.dispatched_at or p.decided_at or p.created_at,
            p.evidence_fingerprint,
            adset_id=p.adset_id,
            # The creative a push or a replace places (the engine's creative memory).
            creative_id=(p.new_value or {}).get("adsContentId"),
        )
        for p in session.scalars(
            select(PendingAction).where(
                PendingAction.layer_id == layer.id,
                PendingAction.created_at >= now - dt.timedelta(days=HISTORY_DAYS),
            )
        )
    ]
    return EngineInput(
        now=now,
        platform=layer.platform,  # type: ignore[arg-type]
        currency=account.currency,
        dates=dates,
        metrics=MetricArrays(
            [a.id for a in ads], spend, impressions, clicks, conversions, frequency
        ),
        campaigns=[
            CampaignInput(
                c.id,
                c.name,
                c.status,
                c.created_at,
                c.budget_mode,  # type: ignore[arg-type]
                c.daily_budget_cents,
            )
            for c in campaigns
        ],
        adsets=[
            AdSetInput(
                s.id,
                s.campaign_id,
                s.name,
                s.status,
                s.created_at,
                s.daily_budget_cents,
                s.targeting or {},
                s.schedule or {},
                s.learning,
            )
            for s in adsets
        ],
        ads=[
            AdInput(
                a.id, a.adset_id, a.campaign_id, a.name, a.status, a.created_at, a.ads_content_id
            )
            for a in ads
        ],
        target_cpa_cents=layer.target_cpa_cents,
        goal=engine_goal(layer),
        settings=engine_settings(layer),
        breakdowns=breakdowns,
        creatives=creatives,
        history=history,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def proposal_to_dict(p: Proposal) -> dict[str, Any]:
    return {
        "actionType": p.action_type,
        "entityType": p.entity_type,
        "entityId": p.entity_id,
        "entityName": p.entity_name,
        "campaignId": p.campaign_id,
        "adsetId": p.adset_id,
        "axis": p.axis,
        "currentValue": _jsonable(p.current_value),
        "newValue": _jsonable(p.new_value),
        "summary": p.summary,
        "rationale": p.rationale,
        "confidence": round(float(p.confidence), 4),
        "evidence": _jsonable(p.evidence),
        "evidenceFingerprint": p.evidence_fingerprint,
    }


def proposal_from_dict(d: Mapping[str, Any]) -> Proposal:
    return Proposal(
        action_type=d["actionType"],
        entity_type=d["entityType"],
        entity_id=d["entityId"],
        entity_name=d["entityName"],
        campaign_id=d["campaignId"],
        adset_id=d["adsetId"],
        axis=d["axis"],
        current_value=d["currentValue"],
        new_value=d["newValue"],
        summary=d["summary"],
        rationale=d["rationale"],
        confidence=d["confidence"],
        evidence=d["evidence"],
        evidence_fingerprint=d["evidenceFingerprint"],
    )


def evaluate_run(ctx: StageContext, run_id: str) -> None:
    """Run the engine over the stored metrics, then judge each proposal by its write class and
    the guardrails (in that order); the verdicts are kept on the run for the gating stage."""
    with transaction(ctx.session_factory) as session:
        run = _load(session, run_id, lock=True)
        if stage_finished(run, "evaluating"):
            return
        layer = session.get(Layer, run.layer_id)
        assert layer is not None
        now = utcnow()
        engine_input = build_engine_input(session, run, now)
        result: EngineResult = evaluate(engine_input)
        # A narrower job (disable-underperforming, content-refresh) keeps only its own kinds.
        proposals = [p for p in result.proposals if run_scope.in_scope(run.scope, p)]
        enabled, held_by_class = engine_guardrails.split_write_classes(
            proposals, layer.write_classes or {}
        )
        guarded = engine_guardrails.apply_guardrails(
            enabled, engine_guardrails.build_context(engine_input, result)
        )
        held = {id(g.proposal): g.held_reason for g in [*held_by_class, *guarded]}
        for over in run_scope.over_creative_cap(run.scope, proposals, held):
            held[over] = run_scope.MAX_NEW_CREATIVES_HELD
        # A proposal within a held-out budget holder is recorded and never sent, whatever else.
        holdout = holdout_service.held_holders(session, layer, engine_input, now)
        for p, out in zip(proposals, held_out(proposals, engine_input, holdout), strict=True):
            if out:
                held[id(p)] = holdout_service.HOLDOUT_REASON
        run.proposals = [{**proposal_to_dict(p), "heldReason": held.get(id(p))} for p in proposals]
        run.entities_evaluated = result.entities_evaluated
        run.summary = {**run.summary, "entitiesEvaluated": result.entities_evaluated}
        _mark_finished(run, "evaluating", now)


# --- gating --------------------------------------------------------------------------------


def _change(
    p: Proposal,
    platform: str,
    outcome: str,
    *,
    reason: str | None = None,
    pending_id: str | None = None,
) -> dict[str, Any]:
    return {
        "actionType": p.action_type,
        "entityType": p.entity_type,
        "entityId": p.entity_id,
        "entityName": p.entity_name,
        "platform": platform,
        "axis": p.axis,
        "currentValue": _jsonable(p.current_value),
        "newValue": _jsonable(p.new_value),
        "summary": p.summary,
        "rationale": p.rationale,
        "confidence": round(float(p.confidence), 4),
        "outcome": outcome,
        "pendingId": pending_id,
        "reason": reason,
    }


def _entity_refs(session: Session, p: Proposal, platform: str) -> tuple[str, dict[str, Any]]:
    """The entity's platform id and the context its write needs."""
    entity: Campaign | AdSet | Ad | None
    if p.entity_type == "campaign":
        entity = session.get(Campaign, p.entity_id)
    elif p.entity_type == "adset":
        entity = session.get(AdSet, p.entity_id)
    else:
        entity = session.get(Ad, p.entity_id)
    assert entity is not None
    context: dict[str, Any] = {}
    if p.campaign_id and (campaign := session.get(Campaign, p.campaign_id)) is not None:
        context["campaignExternalId"] = campaign.external_id
    if p.adset_id and (adset := session.get(AdSet, p.adset_id)) is not None:
        context["adsetExternalId"] = adset.external_id
    content_id = p.new_value.get("adsContentId")
    if content_id and (content := session.get(AdsContent, content_id)) is not None:
        context["adsContentId"] = content.id
        context["creativeExternalId"] = (content.asset_refs or {}).get(platform)
        context["creativeName"] = content.name
    return entity.external_id, context


PreparedWrite = tuple[str, dict[str, Any], dict[str, Any]]


def _prepare_writes(ctx: StageContext, run_id: str) -> dict[int, PreparedWrite]:
    """For each proposal that may reach the gate: its entity's platform id, its write context
    and the exact platform request. Done before the gate's transaction, because building a
    request may read the platform and no transaction should stay open across that."""
    with read_session(ctx.session_factory) as session:
        run = _load(session, run_id)
        account = session.get(AdAccount, run.ad_account_id)
        assert account is not None
        refs = {
            i: _entity_refs(session, proposal_from_dict(d), run.platform)
            for i, d in enumerate(run.proposals)
            if not d.get("heldReason")
        }
        proposals = {i: proposal_from_dict(run.proposals[i]) for i in refs}
    platform = open_platform(ctx.settings, ctx.session_factory, account)
    prepared: dict[int, PreparedWrite] = {}
    for i, (external_id, write_context) in refs.items():
        p = proposals[i]
        write = WriteRequest(
            p.action_type,
            p.entity_type,
            external_id,
            dict(p.current_value),
            dict(p.new_value),
            idempotency_key="",
            context=write_context,
        )
        prepared[i] = (external_id, write_context, platform.build_request(write))
    return prepared


def gate_run(ctx: StageContext, run_id: str) -> None:
    """Held proposals stay held; the rest meet the authority gate (denied, queued, or send)."""
    with read_session(ctx.session_factory) as session:
        if stage_finished(_load(session, run_id), "gating"):
            return
    prepared = _prepare_writes(ctx, run_id)
    with transaction(ctx.session_factory) as session:
        run = _load(session, run_id, lock=True)
        if stage_finished(run, "gating"):
            return
        layer = session.get(Layer, run.layer_id)
        account = session.get(AdAccount, run.ad_account_id)
        assert layer is not None and account is not None
        now = utcnow()
        proposals = [proposal_from_dict(d) for d in run.proposals]
        held = {i: d["heldReason"] for i, d in enumerate(run.proposals) if d.get("heldReason")}
        summary = {**run.summary}
        changes: list[dict[str, Any]] = []

        new_pending: list[str] = []
        for i, p in enumerate(proposals):
            if i in held:
                changes.append(_change(p, layer.platform, "held", reason=held[i]))
                continue
            authority = gate_service.effective_authority(session, layer, p.campaign_id)
            decision = gate_policy.decide(
                p.action_type, authority.authority, layer.kill_switch_active
            )
            if decision.decision == "denied":
                if not run.dry_run:
                    gate_service.record_verdict(
                        session,
                        layer=layer,
                        action_type=p.action_type,
                        decision=decision,
                        campaign_id=p.campaign_id,
                        run_id=run.id,
                    )
                changes.append(_change(p, layer.platform, "denied", reason=decision.reason))
                continue
            if run.dry_run:
                changes.append(
                    _change(
                        p,
                        layer.platform,
                        "dry_run",
                        reason=f"dry run: would be {DRY_RUN_OUTCOMES[decision.decision]}",
                    )
                )
                continue
            external_id, write_context, detail = prepared[i]
            row = pending_service.create_action(
                session,
                run_id=run.id,
                layer=layer,
                account=account,
                origin="queued" if decision.decision == "queued" else "auto",
                action_type=p.action_type,
                entity_type=p.entity_type,
                entity_id=p.entity_id,
                entity_external_id=external_id,
                entity_name=p.entity_name,
                campaign_id=p.campaign_id,
                adset_id=p.adset_id,
                axis=p.axis,
                current_value=_jsonable(p.current_value),
                new_value=_jsonable(p.new_value),
                summary=p.summary,
                rationale=p.rationale,
                confidence=round(float(p.confidence), 4),
                proposed_action={"detail": detail},
                write_context=write_context,
                evidence_fingerprint=p.evidence_fingerprint,
                now=now,
            )
            gate_service.record_verdict(
                session,
                layer=layer,
                action_type=p.action_type,
                decision=decision,
                campaign_id=p.campaign_id,
                run_id=run.id,
                pending_id=row.id,
            )
            if decision.decision == "queued":
                new_pending.append(row.id)
                changes.append(_change(p, layer.platform, "queued", pending_id=row.id))
            else:
                # Outcome settled in the dispatching stage; `pendingId` is internal for auto rows.
                change = _change(p, layer.platform, "dispatched")
                change["_autoId"] = row.id
                changes.append(change)

        outcome_keys = {"held": "held", "denied": "denied", "queued": "queued", "dry_run": "dryRun"}
        for key in outcome_keys.values():
            summary[key] = sum(1 for c in changes if outcome_keys.get(c["outcome"]) == key)
        summary["proposed"] = len(changes)
        run.changes = changes
        run.summary = summary
        if new_pending:
            webhooks.emit(
                session,
                organization_id=run.organization_id,
                project_id=run.project_id,
                event_type="ads.pending.created",
                data={
                    "runId": run.id,
                    "layerId": layer.id,
                    "platform": layer.platform,
                    "pendingIds": new_pending,
                },
            )
        _mark_finished(run, "gating", now)


# --- dispatching ---------------------------------------------------------------------------


# Actions that free an ad slot: they go out before the rest, so that a push counting on the
# slot finds it free (its current value counts this run's removals).
REMOVALS = frozenset({"pause_ad", "pause_adset", "prune_creative"})


def dispatch_targets(ctx: StageContext, run_id: str) -> tuple[list[str], list[str], list[str]]:
    """This run's auto actions, the layer's approved actions that have not gone out yet, and
    which of them are removals (sent first)."""
    with transaction(ctx.session_factory) as session:
        run = _load(session, run_id)
        auto_ids = [c["_autoId"] for c in run.changes if c.get("_autoId")]
        approved = list(
            session.scalars(
                select(PendingAction.id).where(
                    PendingAction.layer_id == run.layer_id,
                    PendingAction.status == "approved",
                    PendingAction.origin == "queued",
                )
            )
        )
        ids = [*auto_ids, *approved]
        removals = (
            list(
                session.scalars(
                    select(PendingAction.id).where(
                        PendingAction.id.in_(ids), PendingAction.action_type.in_(REMOVALS)
                    )
                )
            )
            if ids
            else []
        )
        return auto_ids, approved, sorted(removals)


def record_dispatch_outcomes(ctx: StageContext, run_id: str, approved_ids: list[str]) -> None:
    with transaction(ctx.session_factory) as session:
        run = _load(session, run_id, lock=True)
        if stage_finished(run, "dispatching"):
            return
        changes = []
        dispatched = failed = 0
        for change in run.changes:
            change = dict(change)
            auto_id = change.pop("_autoId", None)
            if auto_id:
                row = session.get(PendingAction, auto_id)
                assert row is not None
                if row.status == "dispatched":
                    change["outcome"], change["reason"] = "dispatched", None
                    dispatched += 1
                else:
                    change["outcome"] = "dispatch_failed"
                    change["reason"] = row.dispatch_failure_reason or f"status {row.status}"
                    failed += 1
            changes.append(change)
        sent_approved = 0
        if approved_ids:
            sent_approved = len(
                list(
                    session.scalars(
                        select(PendingAction.id).where(
                            PendingAction.id.in_(approved_ids), PendingAction.status == "dispatched"
                        )
                    )
                )
            )
        run.changes = changes
        run.summary = {
            **run.summary,
            "dispatched": dispatched,
            "dispatchFailed": failed,
            "approvedDispatched": sent_approved,
        }
        _mark_finished(run, "dispatching", utcnow())


def strip_internal(ctx: StageContext, run_id: str) -> None:
    """A dry run or a run with nothing to send never enters dispatching; keep changes clean."""
    with transaction(ctx.session_factory) as session:
        run = _load(session, run_id, lock=True)
        if any("_autoId" in c for c in run.changes):
            run.changes = [{k: v for k, v in c.items() if k != "_autoId"} for c in run.changes]


# --- notifying and the end -----------------------------------------------------------------


def complete(ctx: StageContext, run_id: str) -> None:
    """Mark the run completed and record its events for delivery, in one transaction."""
    with transaction(ctx.session_factory) as session:
        run = _load(session, run_id, lock=True)
        if run.status != "running":
            return
        now = utcnow()
        _finish_current_stage(run, now)
        run.stages = [
            *run.stages,
            {"stage": "done", "startedAt": isoformat(now), "finishedAt": isoformat(now)},
        ]
        run.stage, run.progress, run.status, run.finished_at = "done", 1.0, "completed", now
        job = session.get(Job, run.job_id)
        if job is not None:
            job.status, job.finished_at, job.updated_at = "completed", now, now
        session.flush()
        payload = run_to_api(run)
        webhooks.emit(
            session,
            organization_id=run.organization_id,
            project_id=run.project_id,
            event_type="ads.optimizer.run.completed",
            data=payload,
        )
        webhooks.emit(
            session,
            organization_id=run.organization_id,
            project_id=run.project_id,
            event_type="job.completed",
            data=_job_event(
                run,
                "completed",
                result={
                    "summary": payload["summary"],
                    "runUrl": f"/v1/projects/{run.project_id}/ads/optimizer/runs/{run.id}",
                },
            ),
        )


def fail(ctx: StageContext, run_id: str, code: str, message: str) -> None:
    with transaction(ctx.session_factory) as session:
        run = _load(session, run_id, lock=True)
        if run.status != "running":
            return
        now = utcnow()
        _finish_current_stage(run, now)
        run.status, run.finished_at = "failed", now
        run.error = {"code": code, "message": message}
        run.changes = [{k: v for k, v in c.items() if k != "_autoId"} for c in run.changes]
        job = session.get(Job, run.job_id)
        if job is not None:
            job.status, job.finished_at, job.updated_at = "failed", now, now
        session.flush()
        webhooks.emit(
            session,
            organization_id=run.organization_id,
            project_id=run.project_id,
            event_type="ads.optimizer.run.failed",
            data=run_to_api(run),
        )
        webhooks.emit(
            session,
            organization_id=run.organization_id,
            project_id=run.project_id,
            event_type="job.failed",
            data=_job_event(run, "failed", error=run.error),
        )
