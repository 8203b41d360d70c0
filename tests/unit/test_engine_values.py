"""Every proposal's currentValue and newValue say what its words say, counting the run's own
earlier changes exactly as the rationale does."""

from __future__ import annotations

import datetime as dt

import pytest

from adpilot.bench.quality.observe import observe
from adpilot.engine.run import evaluate
from adpilot.engine.text import entity_ref, hour_ranges, join_words, money, plural, quoted
from adpilot.engine.types import EngineInput, EngineSettings, Proposal
from adpilot.sim.generate import generate_market
from tests.helpers_engine import budget_account, builder, fatigued_account
from tests.unit.test_engine import mixed_account

ALL_TYPES = {
    "pause_ad",
    "pause_adset",
    "update_budget",
    "push_creative",
    "replace_creative",
    "prune_creative",
    "update_targeting",
    "update_schedule",
}


def _losing_adset_account() -> EngineInput:
    b = builder()
    c = b.campaign()
    good = b.adset(c, daily_budget_cents=6000)
    bad = b.adset(c, daily_budget_cents=6000)
    for _ in range(3):
        b.steady_ad(good, spend_per_day=2000, cpa_cents=900)
        b.steady_ad(bad, spend_per_day=2000, cpa_cents=2500)
    return b.build()


def _generated(platform: str, seed: int) -> EngineInput:
    market = generate_market(
        platform,  # type: ignore[arg-type]
        seed,
        n_campaigns=3,
        n_adsets=9,
        ads_per_adset=(2, 6),
        daily_spend_range=(500.0, 3000.0),
        today=dt.date(2026, 11, 1),
        history_days=30,
        fatigue_strength=2.0,
    )
    return observe(market, target_cpa_cents=None, settings=EngineSettings())


def check_values(inp: EngineInput, proposals: list[Proposal]) -> set[str]:
    """Assert every proposal's values against its words and the input; the types checked."""
    cur = inp.currency
    ads = {a.id: a for a in inp.ads}
    adsets = {s.id: s for s in inp.adsets}
    names = {c.id: c.name for c in inp.creatives}
    for p in proposals:
        old, new, t = p.current_value, p.new_value, p.action_type
        if t == "update_budget":
            a, b = old["dailyBudgetCents"], new["dailyBudgetCents"]
            holder = adsets.get(p.entity_id) or next(
                c for c in inp.campaigns if c.id == p.entity_id
            )
            assert a == holder.daily_budget_cents
            assert f"from {money(a, cur)} to {money(b, cur)}" in p.summary
            pct = round(100 * (b - a) / a)
            assert p.rationale.endswith(f"{'+' if b > a else '-'}{abs(pct)}% budget."), p.rationale
        elif t == "push_creative":
            removals = sum(
                q.action_type in ("pause_ad", "prune_creative") and q.adset_id == p.adset_id
                for q in proposals
            )
            active = sum(a.adset_id == p.entity_id and a.status == "active" for a in inp.ads)
            assert old == {"activeAds": active - removals}
            assert new == {"adsContentId": new["adsContentId"], "activeAds": active - removals + 1}
            assert f"has {plural(old['activeAds'], 'active ad')}" in p.rationale
            if removals:
                assert f"after this run's {plural(removals, 'removal')}" in p.rationale
            else:
                assert "after this run's" not in p.rationale
            assert quoted(names[new["adsContentId"]]) in p.summary
        elif t == "replace_creative":
            assert old == {"adsContentId": ads[p.entity_id].ads_content_id}
            assert p.summary.endswith(f"with {quoted(names[new['adsContentId']])}")
        elif t in ("pause_ad", "pause_adset", "prune_creative"):
            entity = ads.get(p.entity_id) or adsets[p.entity_id]
            assert old == {"status": "active"} and entity.status == "active"
            assert new == {"status": "removed" if t == "prune_creative" else "paused"}
            verb = "Remove" if t == "prune_creative" else "Pause"
            assert p.summary.startswith(f"{verb} {entity_ref(p.entity_type, p.entity_name)}")
        elif t == "update_targeting":
            geo = list(adsets[p.entity_id].targeting.get("geo") or [])
            assert old == {"geo": geo}
            dropped = [g.upper() for g in geo if g not in new["geo"]]
            assert f"Stop targeting {join_words(dropped)}" in p.summary
            assert f"(keeps {join_words(new['geo'])})" in p.summary
            for g in dropped:
                assert f"{g}: " in p.rationale
        elif t == "update_schedule":
            hours = list(adsets[p.entity_id].schedule.get("dayparts") or range(24))
            assert old == {"dayparts": hours}
            gone = hour_ranges(sorted(set(hours) - set(new["dayparts"])))
            assert f"during {join_words(gone)}" in p.summary
            assert f"keeps {plural(len(set(new['dayparts'])), 'hour')} a day" in p.summary
            assert p.rationale.startswith(f"Hours {join_words(gone)}:")
        else:  # pragma: no cover - a new action type must be added here
            raise AssertionError(t)
    return {p.action_type for p in proposals}


def test_every_action_types_values_match_its_rationale_and_the_runs_earlier_changes() -> None:
    crafted = [
        mixed_account()[0].build(),
        budget_account()[0].build(),
        fatigued_account()[0].build(),
        _losing_adset_account(),
    ]
    seen: set[str] = set()
    for inp in crafted:
        seen |= check_values(inp, list(evaluate(inp).proposals))
    assert seen == ALL_TYPES


@pytest.mark.parametrize("platform", ["meta", "tiktok", "apple"])
@pytest.mark.parametrize("seed", [4, 12, 19])
def test_generated_accounts_values_match_their_rationales(platform: str, seed: int) -> None:
    inp = _generated(platform, seed)
    check_values(inp, list(evaluate(inp).proposals))
