"""The simulated market: determinism, state round trips, delivery mechanics and writes."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from adpilot.sim import Market, SimError, ad_matrix, expected_daily, generate_market
from adpilot.sim.lag import reported_share
from adpilot.sim.profiles import LAG_AGES, LAG_NORMAL
from adpilot.sim.reports import breakdown_totals
from adpilot.sim.tables import ACTIVE, LEARNED, LEARNING
from adpilot.sim.truth import true_cpa_ads, true_totals

TODAY = dt.date(2026, 11, 22)
AT = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def day(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def small(platform: str = "meta", seed: int = 7, **kw: object) -> Market:
    return generate_market(
        platform,  # type: ignore[arg-type]
        seed,
        n_campaigns=2,
        n_adsets=4,
        ads_per_adset=3,
        daily_spend_range=(400.0, 500.0),
        today=TODAY,
        history_days=14,
        cbo_share=0.0,
        **kw,  # type: ignore[arg-type]
    )


def ad_spend(m: Market, ad: int, since: dt.date, until: dt.date) -> int:
    mx = ad_matrix(m, since, until)
    return int(mx.spend[ad].sum())


def test_state_round_trips_through_json_and_continues_identically() -> None:
    a = small()
    state = json.loads(json.dumps(a.to_state(), allow_nan=False))
    b = Market.from_state(state)
    assert b.to_state() == a.to_state()
    a.advance_to(day(9))
    b.advance_to(day(9))
    assert a.to_state() == b.to_state()


def test_advance_is_idempotent_and_independent_of_how_it_is_split() -> None:
    whole, pieces = small(), small()
    assert whole.advance_to(day(10)) == 11
    for n in (0, 3, 4, 8, 10):
        pieces.advance_to(day(n))
    assert pieces.advance_to(day(5)) == 0
    assert whole.advance_to(day(10)) == 0
    assert whole.to_state()["history"] == pieces.to_state()["history"]
    assert whole.through == day(10)


def test_same_seed_gives_the_same_market_and_another_seed_does_not() -> None:
    assert small(seed=3).to_state() == small(seed=3).to_state()
    assert small(seed=3).to_state()["history"] != small(seed=4).to_state()["history"]


def test_a_paused_ad_gets_no_further_spend_and_its_siblings_take_it() -> None:
    m = small()
    mx = ad_matrix(m, day(-7), day(-1))
    ad = int(np.argmax(mx.spend.sum(axis=1)))
    siblings = np.flatnonzero((m.ads.adset == m.ads.adset[ad]) & (np.arange(len(m.ads.id)) != ad))
    before = mx.spend[siblings].sum()
    m.set_status("ad", m.ads.id[ad], "paused", AT)
    m.advance_to(day(6))
    after = ad_matrix(m, day(0), day(6))
    assert after.spend[ad].sum() == 0
    assert after.impressions[ad].sum() == 0
    # The ad set keeps spending its budget through the remaining ads.
    assert after.spend[siblings].sum() > before * 1.05


def test_a_budget_change_changes_spend_in_proportion() -> None:
    m = small()
    s = int(m.ads.adset[0])
    rows = np.flatnonzero(m.ads.adset == s)
    before = ad_matrix(m, day(-7), day(-1)).spend[rows].sum()
    m.set_daily_budget("adset", m.adsets.id[s], int(m.adsets.budget[s]) * 2, AT)
    m.advance_to(day(6))
    after = ad_matrix(m, day(0), day(6)).spend[rows].sum()
    assert 1.7 < after / before < 2.3


def test_more_budget_buys_conversions_at_a_rising_cost() -> None:
    m = small()
    s = 0
    ext = m.adsets.id[s]
    base = expected_daily(m)
    doubled = expected_daily(m, adset_budgets={ext: int(m.adsets.budget[s]) * 2})
    conv0, conv1 = base.adset_conversions[s], doubled.adset_conversions[s]
    spend0, spend1 = base.adset_spend[s], doubled.adset_spend[s]
    assert conv0 < conv1 < 2 * conv0  # diminishing returns
    assert spend1 / conv1 > spend0 / conv0


def test_fatigue_lowers_ctr_as_impressions_accumulate() -> None:
    # New ads (cold start) begin unworn, so the whole decline is visible.
    tired = small(fatigue_strength=3.0, cold_start_share=1.0)
    fresh = small(fatigue_strength=0.0, cold_start_share=1.0)
    for m in (tired, fresh):
        m.advance_to(day(40))
    ratios = {}
    for name, m in (("tired", tired), ("fresh", fresh)):
        mx = ad_matrix(m, day(0), day(40))
        first = mx.clicks[:, :7].sum() / mx.impressions[:, :7].sum()
        last = mx.clicks[:, -7:].sum() / mx.impressions[:, -7:].sum()
        ratios[name] = last / first
    assert ratios["tired"] < 0.7
    assert 0.9 < ratios["fresh"] < 1.1


def test_replacing_a_creative_resets_fatigue_and_changes_quality() -> None:
    m = small(fatigue_strength=2.0)
    m.advance_to(day(20))
    ad = int(np.argmax(m.ads.cum))
    unused = int(np.setdiff1d(np.arange(len(m.creatives.id)), m.ads.creative)[0])
    old_ctr = m.ads.ctr[ad]
    m.replace_creative(m.ads.id[ad], m.creatives.id[unused], AT)
    assert m.ads.cum[ad] == 0
    assert m.ads.creative[ad] == unused
    assert m.ads.ctr[ad] != old_ctr


def test_recent_days_are_under_reported_and_fill_in_as_they_age() -> None:
    m = generate_market(
        "meta", 5, 3, 9, 4, (3000.0, 3000.0), today=TODAY, history_days=30, cbo_share=0.0
    )
    early = ad_matrix(m, day(-30), day(-1), as_of=TODAY)
    later = ad_matrix(m, day(-30), day(-1), as_of=day(3))
    settled = ad_matrix(m, day(-30), day(-1), as_of=day(40))
    assert np.all(early.conversions <= later.conversions)
    assert np.all(later.conversions <= settled.conversions)
    assert np.array_equal(settled.conversions, settled.true_conversions)
    last3_rep, last3_true = early.conversions[:, -3:].sum(), early.true_conversions[:, -3:].sum()
    assert last3_rep < 0.93 * last3_true
    assert early.conversions[:, :-28].sum() == early.true_conversions[:, :-28].sum()
    # Yesterday is about 80% reported (a day old).
    assert 0.7 < early.conversions[:, -1].sum() / early.true_conversions[:, -1].sum() < 0.9


def test_reported_share_follows_the_lag_curve() -> None:
    assert np.allclose(reported_share(np.asarray(LAG_AGES), LAG_NORMAL), LAG_NORMAL)
    assert reported_share(5, LAG_NORMAL) == pytest.approx(0.925)
    assert reported_share(60, LAG_NORMAL) == 1.0


def test_a_big_budget_change_restarts_learning_and_costs_efficiency() -> None:
    m = small()
    s = 1
    ext = m.adsets.id[s]
    assert m.adsets.learn[s] == LEARNED
    before = expected_daily(m).adset_conversions[s]
    m.set_daily_budget("adset", ext, int(m.adsets.budget[s] * 1.1), AT)
    assert m.adsets.learn[s] == LEARNED  # +10% is not significant
    m.set_daily_budget("adset", ext, int(m.adsets.budget[s] * 1.5), AT)
    assert m.adsets.learn[s] == LEARNING
    assert 0.7 <= m.adsets.learn_pen[s] <= 0.95
    learning = expected_daily(m, adset_budgets={ext: int(m.adsets.budget[s] / 1.5 / 1.1)})
    assert learning.adset_conversions[s] < before
    m.advance_to(day(8))
    assert m.adsets.learn[s] != LEARNING


def test_apple_has_no_learning_phase() -> None:
    m = small("apple")
    c = int(m.adsets.campaign[0])
    m.set_daily_budget("campaign", m.campaigns.id[c], int(m.campaigns.budget[c]) * 2, AT)
    assert not np.any(m.adsets.learn == LEARNING)


def test_targeting_limits_delivery_to_the_listed_countries() -> None:
    m = small()
    s = 0
    geo = [c for c, on in zip(m.countries, m.adsets.geo[s], strict=True) if on]
    assert len(geo) >= 3
    m.set_geo(m.adsets.id[s], geo[:1], AT)
    assert m.adsets.learn[s] == LEARNING
    m.advance_to(day(4))
    by_country, _ = breakdown_totals(m, day(0), day(4))
    impressions = dict(zip(m.countries, by_country[s, :, 1], strict=True))
    assert impressions[geo[0]] > 0
    assert all(impressions[c] == 0 for c in geo[1:])


def test_schedule_limits_delivery_to_the_listed_hours() -> None:
    m = small()
    s = 2
    m.set_dayparts(m.adsets.id[s], list(range(9, 18)), AT)
    m.advance_to(day(4))
    _, by_hour = breakdown_totals(m, day(0), day(4))
    assert by_hour[s, 9:18, 1].sum() > 0
    assert by_hour[s, :9, 1].sum() == 0 and by_hour[s, 18:, 1].sum() == 0


def test_breakdowns_add_up_to_the_ad_set_totals() -> None:
    m = small()
    mx = ad_matrix(m, day(-14), day(-1), as_of=day(60))
    by_country, by_hour = breakdown_totals(m, day(-14), day(-1), as_of=day(60))
    for s in range(len(m.adsets.id)):
        rows = m.ads.adset == s
        for totals in (by_country, by_hour):
            assert totals[s, :, 0].sum() == mx.spend[rows].sum()
            assert totals[s, :, 1].sum() == mx.impressions[rows].sum()
            assert totals[s, :, 2].sum() == mx.clicks[rows].sum()
            assert totals[s, :, 3].sum() == mx.true_conversions[rows].sum()


def test_pushing_a_creative_adds_a_delivering_ad_and_pruning_stops_one() -> None:
    m = small()
    s = 3
    unused = np.setdiff1d(np.arange(len(m.creatives.id)), m.ads.creative)
    new_id = m.push_creative(m.adsets.id[s], m.creatives.id[int(unused[0])], AT)
    assert m.status_of("ad", new_id) == "active"
    victim = int(np.flatnonzero(m.ads.adset == s)[0])
    m.prune_ad(m.ads.id[victim], AT)
    m.advance_to(day(3))
    mx = ad_matrix(m, day(0), day(3))
    assert mx.spend[m.index_of("ad", new_id)].sum() > 0
    assert mx.spend[victim].sum() == 0
    assert m.status_of("ad", m.ads.id[victim]) == "deleted"
    assert m.ads.status[m.index_of("ad", new_id)] == ACTIVE


def test_impossible_writes_are_refused() -> None:
    m = small()
    with pytest.raises(SimError) as e:
        m.set_status("ad", "999", "paused", AT)
    assert e.value.kind == "not_found"
    with pytest.raises(SimError) as e:
        m.set_daily_budget("adset", m.adsets.id[0], 50, AT)
    assert e.value.kind == "invalid_value"
    with pytest.raises(SimError):
        m.set_geo(m.adsets.id[0], ["ZZ"], AT)
    with pytest.raises(SimError):
        m.set_dayparts(m.adsets.id[0], [], AT)
    m.prune_ad(m.ads.id[0], AT)
    with pytest.raises(SimError) as e:
        m.set_status("ad", m.ads.id[0], "paused", AT)
    assert e.value.kind == "invalid_state"


def test_a_campaign_budget_belongs_to_the_campaign_only() -> None:
    m = generate_market(
        "meta", 9, 2, 4, 3, (400.0, 500.0), today=TODAY, history_days=7, cbo_share=1.0
    )
    c = 0
    s = int(np.flatnonzero(m.adsets.campaign == c)[0])
    with pytest.raises(SimError):
        m.set_daily_budget("adset", m.adsets.id[s], 10_000, AT)
    rows = np.isin(m.ads.adset, np.flatnonzero(m.adsets.campaign == c))
    before = ad_matrix(m, day(-7), day(-1)).spend[rows].sum()
    m.set_daily_budget("campaign", m.campaigns.id[c], int(m.campaigns.budget[c]) // 2, AT)
    m.advance_to(day(6))
    after = ad_matrix(m, day(0), day(6)).spend[rows].sum()
    assert 0.4 < after / before < 0.6


def test_truth_is_queryable_and_matches_history() -> None:
    m = small()
    cpa = true_cpa_ads(m)
    live = {m.ads.id[i] for i in np.flatnonzero(m.ads.status == ACTIVE)}
    assert set(cpa) == live
    assert all(0 < v < 1e7 for v in cpa.values())
    spend, conv = true_totals(m, day(-14), day(-1))
    mx = ad_matrix(m, day(-14), day(-1))
    assert spend == mx.spend.sum()
    assert conv == mx.true_conversions.sum()
