"""Each guardrail of SPEC §4.4 holds the proposal that breaks only that rule, and nothing else."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adpilot.engine.builder import AccountBuilder
from adpilot.engine.fingerprint import evidence_changed, make_fingerprint
from adpilot.engine.guardrails import (
    HELD_REASON_PREFIXES,
    WRITE_CLASS_HELD_REASON,
    EntityFacts,
    GuardedProposal,
    GuardrailContext,
    apply_guardrails,
    build_context,
    split_write_classes,
)
from adpilot.engine.run import evaluate
from adpilot.engine.types import ACTION_AXIS, EngineSettings, HistoryEntry, Proposal

NOW = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=60)


def facts(
    entity_id: str,
    entity_type: str,
    parent: str | None = None,
    *,
    status: str = "active",
    created: dt.datetime = OLD,
    impressions: int = 10_000,
    spend: int = 10_000,
    ad_class: str | None = "UNDERPERFORMING",
) -> EntityFacts:
    return EntityFacts(
        entity_type=entity_type,
        entity_id=entity_id,
        name=entity_id.upper(),
        status=status,
        created_at=created,
        parent_id=parent,
        impressions=impressions,
        spend_cents=spend,
        ad_class=ad_class,
    )


def account(n_sets: int = 2, n_ads: int = 3) -> dict[str, EntityFacts]:
    """cmp → n_sets ad sets (adg_k) → n_ads ads each (ad_k_m), all active and old enough."""
    out = {"cmp": facts("cmp", "campaign")}
    for k in range(n_sets):
        out[f"adg_{k}"] = facts(f"adg_{k}", "adset", "cmp")
        for m in range(n_ads):
            out[f"ad_{k}_{m}"] = facts(f"ad_{k}_{m}", "ad", f"adg_{k}")
    return out


def context(
    entities: dict[str, EntityFacts] | None = None,
    history: list[HistoryEntry] | None = None,
    platform: str = "meta",
    **overrides: Any,
) -> GuardrailContext:
    return GuardrailContext(
        now=NOW,
        platform=platform,
        settings=EngineSettings(**overrides),
        entities=entities if entities is not None else account(),
        history=history or [],
    )


def proposal(
    action_type: str,
    entity_id: str,
    *,
    confidence: float = 0.9,
    current: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> Proposal:
    entity_type = (
        "ad"
        if entity_id.startswith("ad_")
        else "adset"
        if entity_id.startswith("adg")
        else "campaign"
    )
    defaults: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "pause_ad": ({"status": "active"}, {"status": "paused"}),
        "pause_adset": ({"status": "active"}, {"status": "paused"}),
        "prune_creative": ({"status": "active"}, {"status": "removed"}),
        "update_budget": ({"dailyBudgetCents": 10_000}, {"dailyBudgetCents": 12_000}),
        "push_creative": ({"activeAds": 3}, {"adsContentId": "adc_x", "activeAds": 4}),
        "replace_creative": ({"adsContentId": "adc_a"}, {"adsContentId": "adc_b"}),
        "update_targeting": ({"geo": ["US", "DE"]}, {"geo": ["US"]}),
        "update_schedule": ({"dayparts": [0, 1, 2]}, {"dayparts": [1, 2]}),
    }
    cur, nxt = defaults[action_type]
    return Proposal(
        action_type=action_type,
        entity_type=entity_type,
        entity_id=entity_id,
        entity_name=entity_id.upper(),
        campaign_id="cmp",
        adset_id=None,
        axis=ACTION_AXIS[action_type],
        current_value=current if current is not None else cur,
        new_value=new if new is not None else nxt,
        summary="s",
        rationale="r",
        confidence=confidence,
        evidence={},
        evidence_fingerprint=fingerprint or make_fingerprint(action_type, cpa_ratio=1.8),
    )


def judge(p: Proposal, ctx: GuardrailContext) -> str | None:
    [g] = apply_guardrails([p], ctx)
    return g.held_reason


def prefix(reason: str | None) -> str | None:
    return reason.split(":", 1)[0] if reason else None


def entry(
    entity_id: str,
    action_type: str,
    status: str,
    hours_ago: float,
    fingerprint: str | None = None,
) -> HistoryEntry:
    return HistoryEntry(
        entity_id=entity_id,
        action_type=action_type,
        status=status,
        at=NOW - dt.timedelta(hours=hours_ago),
        evidence_fingerprint=fingerprint,
    )


@pytest.mark.parametrize(
    ("action_type", "entity_id"),
    [
        ("pause_ad", "ad_0_0"),
        ("pause_adset", "adg_0"),
        ("update_budget", "adg_0"),
        ("push_creative", "adg_0"),
        ("replace_creative", "ad_0_0"),
        ("prune_creative", "ad_0_0"),
        ("update_targeting", "adg_0"),
        ("update_schedule", "adg_0"),
    ],
)
def test_a_clean_proposal_of_every_type_passes(action_type: str, entity_id: str) -> None:
    assert judge(proposal(action_type, entity_id), context()) is None


# --- Rule 1: too young ------------------------------------------------------------------------


def test_rule1_holds_actions_on_entities_younger_than_three_days() -> None:
    ents = account()
    ents["adg_0"] = dataclasses.replace(ents["adg_0"], created_at=NOW - dt.timedelta(days=2.5))
    reason = judge(proposal("update_targeting", "adg_0"), context(ents))
    assert reason == "too_young: ad set “ADG_0” created 2 days ago"
    ents["adg_0"] = dataclasses.replace(ents["adg_0"], created_at=NOW - dt.timedelta(days=3.1))
    assert judge(proposal("update_targeting", "adg_0"), context(ents)) is None


def test_rule1_holds_entities_it_knows_nothing_about() -> None:
    assert prefix(judge(proposal("pause_ad", "ad_9_9"), context())) == "too_young"


# --- Rule 2: evidence before acting -------------------------------------------------------------


def test_rule2_holds_budget_changes_before_100_impressions() -> None:
    ents = account()
    ents["adg_0"] = dataclasses.replace(ents["adg_0"], impressions=99)
    assert prefix(judge(proposal("update_budget", "adg_0"), context(ents))) == "min_impressions"
    ents["adg_0"] = dataclasses.replace(ents["adg_0"], impressions=100)
    assert judge(proposal("update_budget", "adg_0"), context(ents)) is None


def test_rule2_holds_pauses_before_5_dollars_of_spend() -> None:
    ents = account()
    ents["ad_0_0"] = dataclasses.replace(ents["ad_0_0"], spend_cents=499)
    reason = judge(proposal("pause_ad", "ad_0_0"), context(ents))
    assert reason == "min_spend: ad “AD_0_0” has spent $4.99 (a pause needs $5.00)"
    ents["adg_1"] = dataclasses.replace(ents["adg_1"], spend_cents=100)
    assert prefix(judge(proposal("pause_adset", "adg_1"), context(ents))) == "min_spend"
    ents["ad_0_0"] = dataclasses.replace(ents["ad_0_0"], spend_cents=500)
    assert judge(proposal("pause_ad", "ad_0_0"), context(ents)) is None


# --- Rule 3: protected classes -----------------------------------------------------------------


@pytest.mark.parametrize("klass", ["TOP_PERFORMER", "HEALTHY", "LEARNING_PHASE", "TOO_YOUNG"])
def test_rule3_never_pauses_a_class_that_may_never_be_paused(klass: str) -> None:
    ents = account()
    ents["ad_0_0"] = dataclasses.replace(ents["ad_0_0"], ad_class=klass)
    assert judge(proposal("pause_ad", "ad_0_0"), context(ents)) == f"protected_class: {klass}"


def test_rule3_never_pauses_an_ad_set_holding_a_top_performer() -> None:
    ents = account()
    ents["ad_1_2"] = dataclasses.replace(ents["ad_1_2"], ad_class="TOP_PERFORMER")
    assert prefix(judge(proposal("pause_adset", "adg_1"), context(ents))) == "protected_class"
    ents["adg_1"] = dataclasses.replace(ents["adg_1"], ad_class="HEALTHY")
    ents["ad_1_2"] = dataclasses.replace(ents["ad_1_2"], ad_class="UNDERPERFORMING")
    assert judge(proposal("pause_adset", "adg_1"), context(ents)) == "protected_class: HEALTHY"


def test_rule3_does_not_block_non_pause_actions_on_protected_ads() -> None:
    ents = account()
    ents["ad_0_0"] = dataclasses.replace(ents["ad_0_0"], ad_class="TOP_PERFORMER")
    assert judge(proposal("replace_creative", "ad_0_0"), context(ents)) is None


# --- Rule 4: never the last active ad / ad set --------------------------------------------------


def test_rule4_counts_this_runs_other_pauses() -> None:
    ctx = context(account(n_sets=2, n_ads=3))
    props = [
        proposal("pause_ad", "ad_0_0", confidence=0.95),
        proposal("prune_creative", "ad_0_1", confidence=0.93),
        proposal("pause_ad", "ad_0_2", confidence=0.91),
    ]
    out = apply_guardrails(props, ctx)
    assert [g.held_reason for g in out[:2]] == [None, None]
    assert out[2].held_reason == "last_active: ad set “ADG_0” would have no active ads"


def test_rule4_keeps_the_most_confident_pause() -> None:
    ctx = context(account(n_sets=2, n_ads=2))
    out = apply_guardrails(
        [
            proposal("pause_ad", "ad_0_0", confidence=0.7),
            proposal("pause_ad", "ad_0_1", confidence=0.95),
        ],
        ctx,
    )
    assert prefix(out[0].held_reason) == "last_active"
    assert out[1].held_reason is None


def test_rule4_ignores_already_paused_ads() -> None:
    ents = account(n_sets=1, n_ads=3)
    ents["ad_0_2"] = dataclasses.replace(ents["ad_0_2"], status="paused")
    out = apply_guardrails(
        [proposal("pause_ad", "ad_0_0"), proposal("pause_ad", "ad_0_1", confidence=0.8)],
        context(ents),
    )
    assert [prefix(g.held_reason) for g in out] == [None, "last_active"]


def test_rule4_never_pauses_a_campaigns_last_active_ad_set() -> None:
    ctx = context(account(n_sets=2, n_ads=2))
    out = apply_guardrails(
        [
            proposal("pause_adset", "adg_0", confidence=0.99),
            proposal("pause_adset", "adg_1", confidence=0.98),
        ],
        ctx,
    )
    assert out[0].held_reason is None
    assert out[1].held_reason == "last_active: campaign “CMP” would have no active ad sets"


def test_rule4_does_not_count_held_pauses() -> None:
    ents = account(n_sets=1, n_ads=2)
    ents["ad_0_0"] = dataclasses.replace(ents["ad_0_0"], ad_class="HEALTHY")
    out = apply_guardrails(
        [proposal("pause_ad", "ad_0_0", confidence=0.99), proposal("pause_ad", "ad_0_1")],
        context(ents),
    )
    assert prefix(out[0].held_reason) == "protected_class"
    assert out[1].held_reason is None


# --- Rule 5: budget step and platform minimum ----------------------------------------------------


def budget(cur: int, new: int, entity_id: str = "adg_0") -> Proposal:
    return proposal(
        "update_budget",
        entity_id,
        current={"dailyBudgetCents": cur},
        new={"dailyBudgetCents": new},
    )


def test_rule5_caps_the_step_at_half_the_current_budget() -> None:
    assert judge(budget(10_000, 15_000), context()) is None
    assert judge(budget(10_000, 5_000), context()) is None
    assert (
        judge(budget(10_000, 15_001), context()) == "budget_step: +50% exceeds the 50% step limit"
    )
    assert prefix(judge(budget(10_000, 4_999), context())) == "budget_step"


def test_rule5_caps_the_step_at_100_dollars() -> None:
    assert judge(budget(40_000, 50_000), context()) is None
    reason = judge(budget(40_000, 50_100), context())
    assert reason == "budget_step: a change of $101.00 exceeds the $100.00 step limit"
    assert prefix(judge(budget(40_000, 29_000), context())) == "budget_step"


def test_rule5_never_goes_below_the_platform_minimum() -> None:
    assert judge(budget(3000, 1900), context(platform="meta")) is None
    reason = judge(budget(3000, 1900), context(platform="tiktok"))
    assert reason == "min_budget: $19.00 is below the TikTok minimum of $20.00 for a adset budget"
    assert judge(budget(3000, 2000), context(platform="tiktok")) is None
    # TikTok campaign budgets have a higher floor.
    assert prefix(judge(budget(7000, 4900, "cmp"), context(platform="tiktok"))) == "min_budget"
    assert prefix(judge(budget(150, 90), context(platform="apple"))) == "min_budget"


def test_rule5_holds_a_budget_proposal_without_values() -> None:
    p = proposal("update_budget", "adg_0", current={}, new={"dailyBudgetCents": 100})
    assert prefix(judge(p, context())) == "budget_step"


# --- Rule 6: per-run caps ------------------------------------------------------------------------


def test_rule6_keeps_the_40_most_confident_actions() -> None:
    ents = {"cmp": facts("cmp", "campaign")}
    props = []
    for k in range(45):
        ents[f"adg_{k}"] = facts(f"adg_{k}", "adset", "cmp")
        props.append(proposal("update_schedule", f"adg_{k}", confidence=0.5 + k / 100))
    out = apply_guardrails(props, context(ents))
    held = [k for k, g in enumerate(out) if g.held]
    assert held == [0, 1, 2, 3, 4]
    assert out[0].held_reason == "run_cap: 40 actions already in this run"


def test_rule6_keeps_the_20_most_confident_pauses() -> None:
    ents = account(n_sets=25, n_ads=3)
    props = [proposal("pause_ad", f"ad_{k}_0", confidence=0.6 + k / 100) for k in range(25)]
    props.append(proposal("update_targeting", "adg_0", confidence=0.51))
    out = apply_guardrails(props, context(ents))
    assert [k for k, g in enumerate(out) if g.held] == [0, 1, 2, 3, 4]
    assert out[0].held_reason == "run_cap: 20 pauses already in this run"
    assert out[-1].held_reason is None


# --- Rule 7: cooldowns and platform limits -------------------------------------------------------


def test_rule7_budget_cooldown_counts_dispatched_and_pending() -> None:
    hist = [entry("adg_0", "update_budget", "dispatched", 20)]
    assert judge(budget(10_000, 12_000), context(history=hist)) == (
        "cooldown: budget changed 20h ago (48h budget cooldown)"
    )
    pending = [entry("adg_0", "update_budget", "pending", 47)]
    assert prefix(judge(budget(10_000, 12_000), context(history=pending))) == "cooldown"
    approved = [entry("adg_0", "update_budget", "approved", 5)]
    assert prefix(judge(budget(10_000, 12_000), context(history=approved))) == "cooldown"


def test_rule7_cooldown_ignores_old_rejected_failed_and_other_entities() -> None:
    for hist in (
        [entry("adg_0", "update_budget", "dispatched", 49)],
        [entry("adg_0", "update_budget", "dispatch_failed", 2)],
        [entry("adg_0", "update_budget", "rejected", 2)],
        [entry("adg_1", "update_budget", "dispatched", 2)],
        [entry("adg_0", "update_targeting", "dispatched", 2)],  # other kind
    ):
        reason = judge(budget(10_000, 12_000), context(history=hist))
        # A rejection is rule 9's business, never a cooldown.
        assert reason is None or (hist[0].status == "rejected" and prefix(reason) != "cooldown")


def test_rule7_structural_cooldown() -> None:
    hist = [entry("ad_0_0", "replace_creative", "dispatched", 30)]
    assert judge(proposal("pause_ad", "ad_0_0"), context(history=hist)) == (
        "cooldown: replace_creative sent 30h ago (48h structural cooldown)"
    )
    assert (
        judge(proposal("pause_ad", "ad_0_0"), context(history=hist, cooldown_structural_hours=24))
        is None
    )


def test_rule7_meta_allows_four_budget_changes_per_ad_set_per_hour() -> None:
    hist = [entry("adg_0", "update_budget", "dispatched", 0.1 * k + 0.05) for k in range(4)]
    # With the 48h cooldown off, only the platform limit is left to hold it.
    reason = judge(budget(10_000, 12_000), context(history=hist, cooldown_budget_hours=0))
    assert reason == (
        "platform_limit: 4 budget changes in the last hour (Meta allows 4 per ad set per hour)"
    )
    assert judge(budget(10_000, 12_000), context(history=hist[:3], cooldown_budget_hours=0)) is None
    tiktok = context(history=hist, platform="tiktok", cooldown_budget_hours=0)
    assert judge(budget(10_000, 12_000), tiktok) is None


# --- Rule 8: confidence -------------------------------------------------------------------------


def test_rule8_holds_low_confidence() -> None:
    assert judge(proposal("pause_ad", "ad_0_0", confidence=0.42), context()) == (
        "low_confidence: 0.42 < 0.50"
    )
    assert judge(proposal("pause_ad", "ad_0_0", confidence=0.5), context()) is None
    assert prefix(judge(proposal("pause_ad", "ad_0_0", confidence=float("nan")), context())) == (
        "low_confidence"
    )


# --- Rule 9: rejection memory -------------------------------------------------------------------


def test_rule9_remembers_rejections_for_seven_days_unless_evidence_changed() -> None:
    fp = make_fingerprint("pause_ad", **{"class": "UNDERPERFORMING", "cpa_ratio": 1.8})
    p = proposal("pause_ad", "ad_0_0", fingerprint=fp)
    hist = [entry("ad_0_0", "pause_ad", "rejected", 48, fp)]
    reason = judge(p, context(history=hist))
    assert prefix(reason) == "recently_rejected"
    assert "2 days ago" in (reason or "")
    # Unknown fingerprint on the rejection: still remembered.
    assert prefix(judge(p, context(history=[entry("ad_0_0", "pause_ad", "rejected", 5)]))) == (
        "recently_rejected"
    )
    # Older than 7 days, another action type, another entity: forgotten.
    for other in (
        entry("ad_0_0", "pause_ad", "rejected", 24 * 7 + 1, fp),
        entry("ad_0_0", "replace_creative", "rejected", 5, fp),
        entry("ad_0_1", "pause_ad", "rejected", 5, fp),
    ):
        assert judge(p, context(history=[other])) is None


def test_rule9_lets_materially_changed_evidence_through() -> None:
    old = make_fingerprint("pause_ad", **{"class": "UNDERPERFORMING", "cpa_ratio": 1.8})
    hist = [entry("ad_0_0", "pause_ad", "rejected", 24, old)]
    similar = make_fingerprint("pause_ad", **{"class": "UNDERPERFORMING", "cpa_ratio": 1.9})
    worse = make_fingerprint("pause_ad", **{"class": "UNDERPERFORMING", "cpa_ratio": 2.6})
    reclassed = make_fingerprint("pause_ad", **{"class": "CRITICAL", "cpa_ratio": 1.8})
    assert judge(proposal("pause_ad", "ad_0_0", fingerprint=similar), context(history=hist))
    assert judge(proposal("pause_ad", "ad_0_0", fingerprint=worse), context(history=hist)) is None
    assert (
        judge(proposal("pause_ad", "ad_0_0", fingerprint=reclassed), context(history=hist)) is None
    )


def test_evidence_changed() -> None:
    a = make_fingerprint("update_budget", direction="up", cpa_ratio=0.6)
    assert not evidence_changed(a, a, 0.25)
    assert evidence_changed(
        a, make_fingerprint("update_budget", direction="down", cpa_ratio=0.6), 0.25
    )
    assert evidence_changed(
        a, make_fingerprint("update_budget", direction="up", cpa_ratio=0.8), 0.25
    )
    assert not evidence_changed(None, a, 0.25)
    assert not evidence_changed("garbage", a, 0.25)
    assert evidence_changed(a, make_fingerprint("update_budget", direction="up"), 0.25)


# --- write classes, ordering, integration -------------------------------------------------------


def test_disabled_write_classes_are_recorded_as_held() -> None:
    props = [proposal("pause_ad", "ad_0_0"), proposal("update_budget", "adg_0")]
    enabled, held = split_write_classes(props, {"pause_ad": False, "update_budget": True})
    assert enabled == [props[1]]
    assert held == [GuardedProposal(props[0], WRITE_CLASS_HELD_REASON)]
    assert WRITE_CLASS_HELD_REASON == "write_class_disabled"


def test_results_keep_input_order_and_reasons_use_known_prefixes() -> None:
    ents = account()
    ents["ad_1_0"] = dataclasses.replace(ents["ad_1_0"], ad_class="HEALTHY")
    props = [
        proposal("update_budget", "adg_0", confidence=0.3),
        proposal("pause_ad", "ad_1_0", confidence=0.99),
        proposal("update_schedule", "adg_1", confidence=0.7),
    ]
    out = apply_guardrails(props, context(ents))
    assert [g.proposal for g in out] == props
    for g in out:
        assert g.held_reason is None or prefix(g.held_reason) in HELD_REASON_PREFIXES


def test_guardrails_on_a_real_engine_run() -> None:
    b = AccountBuilder(
        target_cpa_cents=1000, settings=EngineSettings(attribution_lag_correction=False)
    )
    c = b.campaign()
    good = b.adset(c, daily_budget_cents=6000)
    bad = b.adset(c, daily_budget_cents=6000)
    young = b.adset(c, daily_budget_cents=6000, age_days=2)
    for _ in range(3):
        b.steady_ad(good, spend_per_day=2000, cpa_cents=600)
        b.steady_ad(bad, spend_per_day=2000, cpa_cents=2500)
        b.steady_ad(young, spend_per_day=2000, cpa_cents=600, age_days=2)
    b.record(good, "update_budget", "dispatched", 10)
    inp = b.build()
    result = evaluate(inp)
    out = {
        (g.proposal.action_type, g.proposal.entity_id): g
        for g in apply_guardrails(result.proposals, build_context(inp, result))
    }
    assert out["pause_adset", bad].held_reason is None
    assert prefix(out["update_budget", good].held_reason) == "cooldown"
    assert prefix(out["update_budget", young].held_reason) == "too_young"


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    platform=st.sampled_from(["meta", "tiktok", "apple"]),
    entity=st.sampled_from(["cmp", "adg_0"]),
    cur=st.integers(min_value=1, max_value=200_000),
    new=st.integers(min_value=0, max_value=400_000),
)
def test_passed_budget_changes_always_respect_step_and_minimum(
    platform: str, entity: str, cur: int, new: int
) -> None:
    ctx = context(platform=platform)
    [g] = apply_guardrails([budget(cur, new, entity)], ctx)
    if g.held_reason is None:
        step = abs(new - cur)
        assert step <= 0.5 * cur
        assert step <= 10_000
        assert new >= ctx.settings.min_daily_budget(
            platform, "campaign" if entity == "cmp" else "adset"
        )


@settings(max_examples=200, deadline=None)
@given(
    layout=st.lists(st.lists(st.booleans(), min_size=1, max_size=5), min_size=1, max_size=5),
    picks=st.lists(
        st.tuples(
            st.sampled_from(["pause_ad", "prune_creative", "pause_adset"]),
            st.integers(0, 4),
            st.integers(0, 4),
            st.floats(0.0, 1.0),
        ),
        max_size=30,
    ),
)
def test_no_ad_set_or_campaign_is_ever_left_without_active_children(
    layout: list[list[bool]], picks: list[tuple[str, int, int, float]]
) -> None:
    ents = {"cmp": facts("cmp", "campaign")}
    for k, ads in enumerate(layout):
        ents[f"adg_{k}"] = facts(f"adg_{k}", "adset", "cmp")
        for m, active in enumerate(ads):
            ents[f"ad_{k}_{m}"] = facts(
                f"ad_{k}_{m}", "ad", f"adg_{k}", status="active" if active else "paused"
            )
    props = []
    for action, k, m, conf in picks:
        target = f"adg_{k}" if action == "pause_adset" else f"ad_{k}_{m}"
        if target in ents:
            props.append(proposal(action, target, confidence=conf))
    out = apply_guardrails(props, context(ents))
    removed = {g.proposal.entity_id for g in out if not g.held}
    for k, ads in enumerate(layout):
        before = [f"ad_{k}_{m}" for m, a in enumerate(ads) if a]
        after = [a for a in before if a not in removed]
        assert after or not before
    sets_before = [f"adg_{k}" for k in range(len(layout))]
    assert [s for s in sets_before if s not in removed]
