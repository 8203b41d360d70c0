"""The curated sandbox account holds what it promises, computed here from its reported data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from adpilot.platforms.base import PlatformName
from adpilot.sim import Market, bootstrap_market, bootstrap_problems
from adpilot.sim.reports import ad_matrix, breakdown_totals, creatives_data
from adpilot.sim.tables import ACTIVE

TODAY = dt.date(2026, 11, 22)
YESTERDAY = TODAY - dt.timedelta(days=1)
F8 = npt.NDArray[np.float64]


@pytest.fixture(scope="module", params=["meta", "tiktok", "apple"])
def market(request: pytest.FixtureRequest) -> Market:
    return bootstrap_market(request.param, 1234, TODAY)


@pytest.fixture(scope="module")
def apple_market() -> Market:
    return bootstrap_market("apple", 1234, TODAY)


@pytest.fixture(scope="module", params=["meta", "tiktok"])
def social_market(request: pytest.FixtureRequest) -> Market:
    """Meta and TikTok: the platforms whose ads tire (search ads do not)."""
    return bootstrap_market(request.param, 1234, TODAY)


@dataclass
class Windows:
    """Per-ad sums over the last N days (as a run on TODAY would compute them)."""

    spend: dict[int, F8]
    conv: dict[int, F8]
    imps: dict[int, F8]
    clicks: dict[int, F8]
    pool_cpa: float


def windows(m: Market) -> Windows:
    mx = ad_matrix(m, TODAY - dt.timedelta(days=30), YESTERDAY, as_of=TODAY)
    sums = {
        name: {w: arr[:, -w:].sum(axis=1).astype(float) for w in (3, 7, 14, 30)}
        for name, arr in (
            ("spend", mx.spend),
            ("conv", mx.conversions),
            ("imps", mx.impressions),
            ("clicks", mx.clicks),
        )
    }
    pool = float(mx.spend.sum() / mx.conversions.sum())
    return Windows(sums["spend"], sums["conv"], sums["imps"], sums["clicks"], pool)


def cpa(spend: npt.NDArray[Any], conv: npt.NDArray[Any]) -> F8:
    return np.where(conv > 0, spend / np.maximum(conv, 1), np.inf)


def test_history_is_thirty_days_ending_yesterday(market: Market) -> None:
    assert market.through == YESTERDAY
    mx = ad_matrix(market, TODAY - dt.timedelta(days=60), YESTERDAY)
    assert mx.days[0] == TODAY - dt.timedelta(days=30)
    assert mx.days[-1] == YESTERDAY
    assert mx.spend.sum(axis=0).min() > 0  # every day delivered


def test_it_is_reproducible_from_the_seed(market: Market) -> None:
    again = bootstrap_market(market.platform, 1234, TODAY)
    assert again.to_state() == market.to_state()
    other = bootstrap_market(market.platform, 99, TODAY)
    assert other.to_state()["history"] != market.to_state()["history"]


def test_a_budget_holder_is_a_clear_winner(market: Market) -> None:
    w = windows(market)
    a_set, s_camp = market.ads.adset, market.adsets.campaign
    n_sets = len(market.adsets.id)
    set_spend = np.bincount(a_set, weights=w.spend[14], minlength=n_sets)
    set_conv = np.bincount(a_set, weights=w.conv[14], minlength=n_sets)
    cbo = market.campaigns.cbo[s_camp]
    holders_spend = list(set_spend[~cbo]) + list(np.bincount(s_camp[cbo], weights=set_spend[cbo]))
    holders_conv = list(set_conv[~cbo]) + list(np.bincount(s_camp[cbo], weights=set_conv[cbo]))
    wins = [
        s / c
        for s, c in zip(holders_spend, holders_conv, strict=True)
        if c >= 30 and s / c <= 0.6 * w.pool_cpa
    ]
    assert wins, "no budget holder with CPA ≤ 0.6× pool and ≥ 30 conversions in 14 days"


def test_an_ad_is_a_clear_loser(market: Market) -> None:
    w = windows(market)
    zero_with_spend = (w.spend[7] > 5000) & (w.conv[7] == 0)
    far_above = (cpa(w.spend[30], w.conv[30]) > 2.5 * w.pool_cpa) & (w.spend[30] > w.pool_cpa)
    live = market.ads.status == ACTIVE
    siblings = np.bincount(market.ads.adset[live], minlength=len(market.adsets.id))
    losers = (zero_with_spend | far_above) & live & (siblings[market.ads.adset] > 1)
    assert losers.any()


def test_apple_has_a_losing_ad_group_in_a_campaign_with_others(apple_market: Market) -> None:
    market = apple_market
    w = windows(market)
    n_sets = len(market.adsets.id)
    set_cpa = cpa(
        np.bincount(market.ads.adset, weights=w.spend[30], minlength=n_sets),
        np.bincount(market.ads.adset, weights=w.conv[30], minlength=n_sets),
    )
    bad = np.flatnonzero(set_cpa > 2.0 * w.pool_cpa)
    assert bad.size
    camp = market.adsets.campaign[bad[0]]
    assert np.sum(market.adsets.campaign == camp) > 1
    assert market.campaigns.cbo.all()  # budgets live on Apple campaigns


def test_an_ad_is_visibly_fatigued(social_market: Market) -> None:
    market = social_market
    mx = ad_matrix(market, TODAY - dt.timedelta(days=30), YESTERDAY, as_of=TODAY)
    w = windows(market)
    ctr_first = mx.clicks[:, :7].sum(axis=1) / np.maximum(mx.impressions[:, :7].sum(axis=1), 1)
    ctr_last = mx.clicks[:, -7:].sum(axis=1) / np.maximum(mx.impressions[:, -7:].sum(axis=1), 1)
    c3, c7, c14, c30 = (cpa(w.spend[n], w.conv[n]) for n in (3, 7, 14, 30))
    last_imps = mx.impressions[:, -7:]
    freq = (mx.frequency[:, -7:] * last_imps).sum(axis=1) / np.maximum(last_imps.sum(axis=1), 1)
    others = np.median(freq[freq > 0])
    tired = (
        (ctr_last < 0.75 * ctr_first)
        & (c3 > c7)
        & (c7 > c14)
        & (c14 > c30)
        & (freq >= 2.0)
        & (freq > others)
        & (w.spend[30] > 3 * w.pool_cpa)
    )
    assert tired.any()
    ad = int(np.flatnonzero(tired)[0])
    assert market.ads.cum[ad] > 2 * np.median(market.ads.cum)  # heavily shown


def test_there_is_room_and_material_for_new_creatives(market: Market) -> None:
    live = market.ads.status == ACTIVE
    per_set = np.bincount(market.ads.adset[live], minlength=len(market.adsets.id))
    assert (per_set < 4).any()
    eligible = [
        c
        for c in creatives_data(market)
        if c.organic_score >= 4.0 and not c.safety_failed and not c.running_in_adsets
    ]
    assert len(eligible) >= 3
    library = creatives_data(market)
    assert any(c.safety_failed for c in library)
    assert any(c.organic_score < 4.0 for c in library)
    assert {c.pool for c in library} <= {"generated", "ugc", "manual"}


def test_entities_are_older_than_three_days_but_one_young_ad(market: Market) -> None:
    cutoff = (dt.datetime.combine(TODAY, dt.time()) - dt.timedelta(days=3)).replace(tzinfo=dt.UTC)
    stamps = [*market.campaigns.created, *market.adsets.created]
    assert all(dt.datetime.fromtimestamp(int(t), dt.UTC) < cutoff for t in stamps)
    young = [
        market.ads.name[i]
        for i, t in enumerate(market.ads.created)
        if dt.datetime.fromtimestamp(int(t), dt.UTC) >= cutoff
    ]
    assert len(young) <= 1


def test_shape_of_the_account(market: Market) -> None:
    assert len(market.campaigns.id) == 3
    per_campaign = np.bincount(market.adsets.campaign)
    assert per_campaign.min() >= 2 and per_campaign.max() <= 3
    per_set = np.bincount(market.ads.adset)
    if market.platform == "apple":
        assert market.campaigns.cbo.all()
    else:
        assert market.campaigns.cbo.sum() == 1
        assert per_set.min() >= 3 and per_set.max() <= 5


def test_breakdowns_reveal_a_poor_country_and_poor_night_hours(market: Market) -> None:
    by_country, by_hour = breakdown_totals(market, TODAY - dt.timedelta(days=30), YESTERDAY)
    found_country = False
    for s in range(len(market.adsets.id)):
        spend, conv = by_country[s, :, 0], by_country[s, :, 3]
        delivering = spend > 0
        if delivering.sum() < 2 or conv.sum() == 0:
            continue
        rates = cpa(spend[delivering].astype(float), conv[delivering].astype(float))
        share = spend[delivering] / spend.sum()
        worst = int(np.argmax(rates))
        if share[worst] > 0.1 and rates[worst] > 2 * spend.sum() / conv.sum():
            found_country = True
    assert found_country
    night = by_hour[:, :6, :].sum(axis=1)
    day = by_hour[:, 8:22, :].sum(axis=1)
    night_cpa = cpa(night[:, 0].astype(float), night[:, 3].astype(float))
    day_cpa = cpa(day[:, 0].astype(float), day[:, 3].astype(float))
    assert ((night_cpa > 2.5 * day_cpa) & (night[:, 0] >= 2 * day_cpa)).any()


@pytest.mark.parametrize("platform", ["meta", "tiktok", "apple"])
def test_every_seed_keeps_the_promises(platform: PlatformName) -> None:
    for seed in range(6):
        m = bootstrap_market(platform, seed, TODAY)
        assert bootstrap_problems(m) == [], (platform, seed)
