"""Model families of the simulated truth: curve shapes, fatigue by age, delivery splits, shocks,
sparse winners and bad converters; and markets stored before them load unchanged."""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np

from adpilot.sim import expected_daily, generate_market
from adpilot.sim.delivery import ad_fatigue, saturation
from adpilot.sim.generate import TruthKnobs
from adpilot.sim.market import Market, Shock
from adpilot.sim.truth import true_cpa_adsets

TODAY = dt.date(2026, 11, 22)


def _market(seed: int = 5, cbo_share: float = 0.3, **knobs: object) -> Market:
    return generate_market(
        "meta",
        seed,
        2,
        6,
        4,
        (3000.0, 3000.0),
        today=TODAY,
        breakdowns=False,
        cbo_share=cbo_share,
        truth=TruthKnobs(**knobs),  # type: ignore[arg-type]
    )


def test_an_s_shaped_ad_set_buys_cheaper_conversions_as_its_budget_grows_to_its_threshold() -> None:
    x = np.array([0.2, 0.5, 1.0, 2.0])
    mm = 1.0 / saturation(x, np.ones(4))
    hill = 1.0 / saturation(x, np.full(4, 2.0))
    assert np.all(np.diff(mm) < 0)  # Michaelis–Menten: every dollar dearer than the last
    assert hill[1] > hill[0] and hill[2] > hill[1] and hill[3] < hill[2]
    m = _market(shape=(2.0, 2.0), h_mult=(3.0, 3.0))
    holder = next(i for i in range(6) if not m.campaigns.cbo[m.adsets.campaign[i]])
    sid, budget = m.adsets.id[holder], int(m.adsets.budget[holder])
    low = expected_daily(m, adset_budgets={sid: budget // 2})
    high = expected_daily(m, adset_budgets={sid: budget})
    per_dollar = [e.adset_conversions[holder] / e.adset_spend[holder] for e in (low, high)]
    assert per_dollar[1] > per_dollar[0]


def test_a_strongly_saturated_account_converts_far_less_per_dollar() -> None:
    normal = _market()
    saturated = _market(h_mult=(0.15, 0.15))
    e0, e1 = expected_daily(normal), expected_daily(saturated)
    assert e1.total_conversions / e1.total_spend < 0.6 * e0.total_conversions / e0.total_spend


def test_ads_tire_with_age_when_the_market_has_age_fatigue() -> None:
    aging = _market(age_fatigue=1.0)
    plain = _market()
    day = aging.through.toordinal() + 1
    assert np.all(ad_fatigue(aging, day + 30) < ad_fatigue(aging, day) - 1e-9)
    assert np.array_equal(ad_fatigue(plain, day + 30), ad_fatigue(plain, day))


def test_a_clicky_delivery_split_feeds_the_high_ctr_bad_converter() -> None:
    quality = _market(bad_converter_share=1.0)
    clicky = _market(bad_converter_share=1.0, cvr_visibility=0.0, kappa=(3.0, 3.0))
    for m in (quality, clicky):
        bad = m.ads.ctr > 1.8  # the planted ad in every ad set
        assert bad.sum() == 6 and np.all(m.ads.cvr[bad] < 0.5)
    share = [expected_daily(m).ad_spend for m in (quality, clicky)]
    frac = [
        s[m.ads.ctr > 1.8].sum() / s.sum() for s, m in zip(share, (quality, clicky), strict=False)
    ]
    assert frac[1] > frac[0]


def test_sparse_winners_spend_little_and_convert_cheaply() -> None:
    plain = _market(seed=9, cbo_share=0.0)
    m = _market(seed=9, cbo_share=0.0, sparse_winners=2)
    cpa = true_cpa_adsets(m)
    # The same account otherwise: only the winners' budgets were cut to a quarter.
    winners = np.flatnonzero(m.adsets.budget < plain.adsets.budget)
    assert len(winners) == 2 and np.all(m.adsets.cvr[winners] > 0.08)
    others = [cpa[m.adsets.id[i]] for i in range(6) if i not in winners]
    assert max(cpa[m.adsets.id[i]] for i in winners) < float(np.median(others))


def test_a_shock_day_moves_that_day_only() -> None:
    m = _market()
    day = m.through.toordinal() + 3
    base = copy.deepcopy(m)
    m.params.shocks = (Shock(day, "cvr", 0.5),)
    m.advance_to(dt.date.fromordinal(day + 1))
    base.advance_to(dt.date.fromordinal(day + 1))
    exp_m = [e[1] for e in m.expected_days[-4:]]
    exp_b = [e[1] for e in base.expected_days[-4:]]
    assert exp_m[:2] == exp_b[:2] and exp_m[3] == exp_b[3]
    assert abs(exp_m[2] / exp_b[2] - 0.5) < 0.01


def test_a_market_stored_before_the_families_loads_and_runs_the_same() -> None:
    m = _market()
    state = m.to_state()
    for key in ("cvr_visibility", "learning_penalty", "age_fatigue", "shocks"):
        del state["params"][key]
    del state["adsets"]["shape"]
    del state["ads"]["born"]
    old = Market.from_state(state)
    assert np.array_equal(old.ads.born, m.ads.day) and np.all(old.adsets.shape == 1.0)
    end = m.through + dt.timedelta(days=5)
    m.advance_to(end)
    old.advance_to(end)
    assert [e[1] for e in old.expected_days] == [e[1] for e in m.expected_days[-5:]]
