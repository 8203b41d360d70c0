"""The nine hard guardrails of SPEC §4.4 as pure functions over proposals and plain facts.

Shared by production runs and the simulator benchmark, so the context is built from plain
dataclasses, never from database rows. A held proposal carries one reason: a machine-readable
prefix naming the rule, a colon, and a human detail (`cooldown: budget changed 20h ago`).

Cooldown kinds (rule 7): `update_budget` is a budget change; every other action changes what runs
or where (pauses, creatives, targeting, schedules) and counts as structural. The bid cooldown
applies to bid edits, which none of the eight action types is yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from adpilot.engine.fingerprint import evidence_changed
from adpilot.engine.text import entity_ref, money
from adpilot.engine.types import (
    PROTECTED_CLASSES,
    EngineInput,
    EngineResult,
    EngineSettings,
    HistoryEntry,
    Proposal,
)
from adpilot.engine.windows import entity_totals
from adpilot.platforms.base import EntityType, PlatformName

WRITE_CLASS_HELD_REASON = "write_class_disabled"

# Held-reason prefixes, one per rule (rule number in SPEC §4.4).
TOO_YOUNG = "too_young"  # 1
MIN_IMPRESSIONS = "min_impressions"  # 2
MIN_SPEND = "min_spend"  # 2
PROTECTED_CLASS = "protected_class"  # 3
LAST_ACTIVE = "last_active"  # 4
BUDGET_STEP = "budget_step"  # 5
MIN_BUDGET = "min_budget"  # 5
RUN_CAP = "run_cap"  # 6
COOLDOWN = "cooldown"  # 7
PLATFORM_LIMIT = "platform_limit"  # 7
LOW_CONFIDENCE = "low_confidence"  # 8
RECENTLY_REJECTED = "recently_rejected"  # 9
HELD_REASON_PREFIXES: tuple[str, ...] = (
    TOO_YOUNG,
    MIN_IMPRESSIONS,
    MIN_SPEND,
    PROTECTED_CLASS,
    LAST_ACTIVE,
    BUDGET_STEP,
    MIN_BUDGET,
    RUN_CAP,
    COOLDOWN,
    PLATFORM_LIMIT,
    LOW_CONFIDENCE,
    RECENTLY_REJECTED,
    WRITE_CLASS_HELD_REASON,
)

PAUSE_ACTIONS = frozenset({"pause_ad", "pause_adset"})
# Actions that take an ad out of its ad set's active ads.
AD_REMOVALS = frozenset({"pause_ad", "prune_creative"})
# Statuses of earlier actions that still count for cooldowns: queued, approved or sent.
COOLDOWN_STATUSES = frozenset({"pending", "approved", "dispatched"})
_PLATFORM_NAMES = {"meta": "Meta", "tiktok": "TikTok", "apple": "Apple Ads"}


@dataclass(frozen=True)
class EntityFacts:
    """What the guardrails need to know about one campaign, ad set or ad."""

    entity_type: EntityType
    entity_id: str
    name: str
    status: str
    created_at: dt.datetime
    parent_id: str | None = None  # ad → its ad set, ad set → its campaign
    impressions: int = 0  # over the evaluation data (30 days)
    spend_cents: int = 0
    ad_class: str | None = None  # the engine's class this run


@dataclass(frozen=True, eq=False)
class GuardrailContext:
    now: dt.datetime
    platform: PlatformName
    settings: EngineSettings
    entities: Mapping[str, EntityFacts]
    history: Sequence[HistoryEntry] = ()
    currency: str = "USD"

    @cached_property
    def history_by_entity(self) -> Mapping[str, Sequence[HistoryEntry]]:
        out: dict[str, list[HistoryEntry]] = {}
        for h in self.history:
            out.setdefault(h.entity_id, []).append(h)
        return out

    @cached_property
    def top_ads_by_adset(self) -> Mapping[str, str]:
        """Ad set id → name of one active TOP_PERFORMER ad in it (rule 3 for ad set pauses)."""
        out: dict[str, str] = {}
        for f in self.entities.values():
            if (
                f.entity_type == "ad"
                and f.parent_id is not None
                and f.status == "active"
                and f.ad_class == "TOP_PERFORMER"
            ):
                out.setdefault(f.parent_id, f.name)
        return out


@dataclass(frozen=True)
class GuardedProposal:
    proposal: Proposal
    held_reason: str | None = None

    @property
    def held(self) -> bool:
        return self.held_reason is not None


def build_context(
    inp: EngineInput, result: EngineResult | None = None, window: int | None = None
) -> GuardrailContext:
    """Facts for every entity of an engine input, with the classes of its result.

    Without a result (proposals from elsewhere, e.g. a rule set in the quality benchmark) the
    evidence sums come straight from the input's metrics and no entity has a class.
    """
    days = window or max(len(inp.dates), 1)
    assessed = (
        {
            a.entity_id: a
            for group in (
                result.assessments,
                result.adset_assessments,
                result.campaign_assessments,
            )
            for a in group
        }
        if result is not None
        else {}
    )
    raw = entity_totals(inp, days) if result is None else {}

    def facts(
        entity_type: EntityType,
        entity_id: str,
        name: str,
        status: str,
        created: dt.datetime,
        parent: str | None,
    ) -> EntityFacts:
        a = assessed.get(entity_id)
        stats = (a.windows.get(days) or a.windows[max(a.windows)]) if a else raw.get(entity_id)
        return EntityFacts(
            entity_type=entity_type,
            entity_id=entity_id,
            name=name,
            status=status,
            created_at=created,
            parent_id=parent,
            impressions=stats.impressions if stats else 0,
            spend_cents=stats.spend_cents if stats else 0,
            ad_class=a.ad_class if a else None,
        )

    entities: dict[str, EntityFacts] = {}
    for c in inp.campaigns:
        entities[c.id] = facts("campaign", c.id, c.name, c.status, c.created_at, None)
    for s in inp.adsets:
        entities[s.id] = facts("adset", s.id, s.name, s.status, s.created_at, s.campaign_id)
    for ad in inp.ads:
        entities[ad.id] = facts("ad", ad.id, ad.name, ad.status, ad.created_at, ad.adset_id)
    return GuardrailContext(
        now=inp.now,
        platform=inp.platform,
        settings=inp.settings,
        entities=entities,
        history=tuple(inp.history),
        currency=inp.currency,
    )


def _ago(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600.0
    if hours < 48:
        return f"{max(int(hours), 0)}h ago"
    return f"{int(hours // 24)} days ago"


def _ref(ctx: GuardrailContext, entity_id: str) -> str:
    f = ctx.entities.get(entity_id)
    return entity_ref(f.entity_type, f.name) if f else entity_id


# --- Rule 1 -------------------------------------------------------------------------------------
def check_too_young(p: Proposal, ctx: GuardrailContext) -> str | None:
    f = ctx.entities.get(p.entity_id)
    if f is None:
        return f"{TOO_YOUNG}: age of {p.entity_type} {p.entity_id} is unknown"
    age = ctx.now - f.created_at
    if age < dt.timedelta(days=ctx.settings.too_young_days):
        return f"{TOO_YOUNG}: {_ref(ctx, p.entity_id)} created {_ago(age)}"
    return None


# --- Rule 2 -------------------------------------------------------------------------------------
def check_min_evidence(p: Proposal, ctx: GuardrailContext) -> str | None:
    f = ctx.entities.get(p.entity_id)
    if f is None:
        return None
    st = ctx.settings
    if p.action_type == "update_budget" and f.impressions < st.min_impressions_for_budget:
        return (
            f"{MIN_IMPRESSIONS}: {_ref(ctx, p.entity_id)} has {f.impressions:,} impressions "
            f"(a budget change needs {st.min_impressions_for_budget:,})"
        )
    if p.action_type in PAUSE_ACTIONS and f.spend_cents < st.min_spend_for_pause_cents:
        return (
            f"{MIN_SPEND}: {_ref(ctx, p.entity_id)} has spent "
            f"{money(f.spend_cents, ctx.currency)} (a pause needs "
            f"{money(st.min_spend_for_pause_cents, ctx.currency)})"
        )
    return None


# --- Rule 3 -------------------------------------------------------------------------------------
def check_protected_class(p: Proposal, ctx: GuardrailContext) -> str | None:
    if p.action_type not in PAUSE_ACTIONS:
        return None
    f = ctx.entities.get(p.entity_id)
    if f is not None and f.ad_class in PROTECTED_CLASSES:
        return f"{PROTECTED_CLASS}: {f.ad_class}"
    if p.action_type == "pause_adset" and p.entity_id in ctx.top_ads_by_adset:
        name = ctx.top_ads_by_adset[p.entity_id]
        return f"{PROTECTED_CLASS}: TOP_PERFORMER {entity_ref('ad', name)} in this ad set"
    return None


# --- Rule 5 -------------------------------------------------------------------------------------
def check_budget(p: Proposal, ctx: GuardrailContext) -> str | None:
    if p.action_type != "update_budget":
        return None
    st = ctx.settings
    cur_v, new_v = p.current_value.get("dailyBudgetCents"), p.new_value.get("dailyBudgetCents")
    if not isinstance(cur_v, int) or not isinstance(new_v, int) or cur_v <= 0:
        return f"{BUDGET_STEP}: current or new daily budget is missing"
    step = abs(new_v - cur_v)
    if step > st.budget_max_step_fraction * cur_v:
        return (
            f"{BUDGET_STEP}: {100 * (new_v - cur_v) / cur_v:+.0f}% exceeds the "
            f"{100 * st.budget_max_step_fraction:.0f}% step limit"
        )
    if step > st.budget_max_step_cents:
        return (
            f"{BUDGET_STEP}: a change of {money(step, ctx.currency)} exceeds the "
            f"{money(st.budget_max_step_cents, ctx.currency)} step limit"
        )
    minimum = st.min_daily_budget(ctx.platform, p.entity_type)
    if new_v < minimum:
        return (
            f"{MIN_BUDGET}: {money(new_v, ctx.currency)} is below the "
            f"{_PLATFORM_NAMES.get(ctx.platform, ctx.platform)} minimum of "
            f"{money(minimum, ctx.currency)} for a {p.entity_type} budget"
        )
    return None


# --- Rule 7 -------------------------------------------------------------------------------------
def cooldown_kind(action_type: str) -> str:
    return "budget" if action_type == "update_budget" else "structural"


def _cooldown_hours(kind: str, st: EngineSettings) -> float:
    return {
        "budget": st.cooldown_budget_hours,
        "structural": st.cooldown_structural_hours,
        "bid": st.cooldown_bid_hours,
    }[kind]


def check_cooldown(p: Proposal, ctx: GuardrailContext) -> str | None:
    st = ctx.settings
    kind = cooldown_kind(p.action_type)
    limit = dt.timedelta(hours=_cooldown_hours(kind, st))
    recent_budget_changes = 0
    for h in ctx.history_by_entity.get(p.entity_id, ()):
        if h.status not in COOLDOWN_STATUSES:
            continue
        age = ctx.now - h.at
        if cooldown_kind(h.action_type) == kind and age < limit:
            if kind == "budget":
                what = "budget changed" if h.status == "dispatched" else "budget change queued"
            else:
                what = f"{h.action_type} " + ("sent" if h.status == "dispatched" else "queued")
            return (
                f"{COOLDOWN}: {what} {_ago(age)} ({_cooldown_hours(kind, st):g}h {kind} cooldown)"
            )
        if h.action_type == "update_budget" and age < dt.timedelta(hours=1):
            recent_budget_changes += 1
    if (
        ctx.platform == "meta"
        and p.action_type == "update_budget"
        and recent_budget_changes >= st.meta_max_budget_changes_per_hour
    ):
        return (
            f"{PLATFORM_LIMIT}: {recent_budget_changes} budget changes in the last hour "
            f"(Meta allows {st.meta_max_budget_changes_per_hour} per ad set per hour)"
        )
    return None


# --- Rule 8 -------------------------------------------------------------------------------------
def check_confidence(p: Proposal, ctx: GuardrailContext) -> str | None:
    if not p.confidence >= ctx.settings.min_confidence:
        return f"{LOW_CONFIDENCE}: {p.confidence:.2f} < {ctx.settings.min_confidence:.2f}"
    return None


# --- Rule 9 -------------------------------------------------------------------------------------
def check_rejected(p: Proposal, ctx: GuardrailContext) -> str | None:
    st = ctx.settings
    memory = dt.timedelta(days=st.rejection_memory_days)
    for h in ctx.history_by_entity.get(p.entity_id, ()):
        if (
            h.status == "rejected"
            and h.action_type == p.action_type
            and ctx.now - h.at < memory
            and not evidence_changed(
                h.evidence_fingerprint, p.evidence_fingerprint, st.rejection_material_change
            )
        ):
            return (
                f"{RECENTLY_REJECTED}: the same {p.action_type} was rejected "
                f"{_ago(ctx.now - h.at)} and the evidence has not changed materially"
            )
    return None


# Per-proposal rules, in the order their reasons are reported.
SINGLE_RULES: tuple[Callable[[Proposal, GuardrailContext], str | None], ...] = (
    check_too_young,
    check_min_evidence,
    check_protected_class,
    check_budget,
    check_cooldown,
    check_confidence,
    check_rejected,
)


def _active_counts(ctx: GuardrailContext) -> tuple[dict[str, int], dict[str, int]]:
    """Active ads per ad set and active ad sets per campaign."""
    ads: dict[str, int] = {}
    sets: dict[str, int] = {}
    for f in ctx.entities.values():
        if f.status != "active" or f.parent_id is None:
            continue
        if f.entity_type == "ad":
            ads[f.parent_id] = ads.get(f.parent_id, 0) + 1
        elif f.entity_type == "adset":
            sets[f.parent_id] = sets.get(f.parent_id, 0) + 1
    return ads, sets


def apply_guardrails(
    proposals: Sequence[Proposal], context: GuardrailContext
) -> list[GuardedProposal]:
    """Judge every proposal; the result is in input order, each with its held reason or None.

    Proposals are judged highest confidence first, so that rule 4 (never the last active ad or ad
    set, counting this run's earlier removals) and rule 6 (per-run caps) keep the most certain.
    """
    st = context.settings
    active_ads, active_sets = _active_counts(context)
    removed_ads: dict[str, int] = {}
    removed_sets: dict[str, int] = {}
    actions = pauses = 0
    reasons: list[str | None] = [None] * len(proposals)
    order = sorted(range(len(proposals)), key=lambda n: (-proposals[n].confidence, n))
    for n in order:
        p = proposals[n]
        reason = next((r for rule in SINGLE_RULES if (r := rule(p, context))), None)
        f = context.entities.get(p.entity_id)
        parent = f.parent_id if f else None
        is_active = f is not None and f.status == "active"
        if reason is None and is_active and parent is not None:
            if p.action_type in AD_REMOVALS:
                if active_ads.get(parent, 0) - removed_ads.get(parent, 0) < 2:
                    reason = f"{LAST_ACTIVE}: {_ref(context, parent)} would have no active ads"
            elif p.action_type == "pause_adset" and (
                active_sets.get(parent, 0) - removed_sets.get(parent, 0) < 2
            ):
                reason = f"{LAST_ACTIVE}: {_ref(context, parent)} would have no active ad sets"
        if reason is None:
            if actions >= st.max_actions_per_run:
                reason = f"{RUN_CAP}: {st.max_actions_per_run} actions already in this run"
            elif p.action_type in PAUSE_ACTIONS and pauses >= st.max_pauses_per_run:
                reason = f"{RUN_CAP}: {st.max_pauses_per_run} pauses already in this run"
        if reason is None:
            actions += 1
            pauses += p.action_type in PAUSE_ACTIONS
            if is_active and parent is not None:
                if p.action_type in AD_REMOVALS:
                    removed_ads[parent] = removed_ads.get(parent, 0) + 1
                elif p.action_type == "pause_adset":
                    removed_sets[parent] = removed_sets.get(parent, 0) + 1
        reasons[n] = reason
    return [GuardedProposal(p, r) for p, r in zip(proposals, reasons, strict=True)]


def hold_for_write_class(proposal: Proposal) -> GuardedProposal:
    """Record a candidate of a disabled write class as held (SPEC §5.4)."""
    return GuardedProposal(proposal, WRITE_CLASS_HELD_REASON)


def split_write_classes(
    proposals: Sequence[Proposal], write_classes: Mapping[str, bool]
) -> tuple[list[Proposal], list[GuardedProposal]]:
    """(proposals of enabled classes, held candidates of disabled ones); unknown → enabled."""
    enabled: list[Proposal] = []
    held: list[GuardedProposal] = []
    for p in proposals:
        if write_classes.get(p.action_type, True):
            enabled.append(p)
        else:
            held.append(hold_for_write_class(p))
    return enabled, held
