"""Random markets for benchmarks: size, speed, and the scenario knobs."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np

from adpilot.sim import (
    RegimeShift,
    ad_matrix,
    expected_daily,
    generate_market,
    random_regime_shift,
)
from adpilot.sim.market import NO_FATIGUE_TAU

TODAY = dt.date(2026, 11, 22)


def day(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def test_ten_thousand_ads_simulate_thirty_days_quickly() -> None:
    m = generate_market("meta", 1, 100, 2500, 4, (20_000.0, 20_000.0), today=TODAY, history_days=0)
    assert len(m.ads.id) == 10_000
    # CPU time of this process: what the simulation costs, whatever else the machine is doing.
    started = time.process_time()
    assert m.advance_to(day(29)) == 30
    elapsed = time.process_time() - started
    assert elapsed < 3.0, f"30 days of 10k ads took {elapsed:.2f}s"
    spend = ad_matrix(m, day(0), day(29)).spend.sum(axis=0) / 100
    assert np.all(np.abs(spend / 20_000 - 1) < 0.05)


def test_sizes_and_spend_follow_the_arguments() -> None:
    m = generate_market("tiktok", 3, 4, 12, (3, 6), (1000.0, 2000.0), today=TODAY, history_days=28)
    assert len(m.campaigns.id) == 4
    assert len(m.adsets.id) == 12
    per_set = np.bincount(m.ads.adset)
    assert per_set.min() >= 3 and per_set.max() <= 6
    daily = ad_matrix(m, day(-28), day(-1)).spend.sum(axis=0) / 100
    assert 900 < daily.mean() < 2200
    assert m.through == day(-1)
    assert len(m.creatives.id) > len(m.ads.id)  # a pool of unused creatives


def test_apple_budgets_always_sit_on_campaigns() -> None:
    m = generate_market("apple", 2, 3, 9, 3, (500.0, 800.0), today=TODAY, cbo_share=0.0)
    assert m.campaigns.cbo.all()
    assert (m.adsets.budget == 0).all()


def test_cold_start_share_makes_young_ads() -> None:
    m = generate_market("meta", 4, 5, 20, 5, (2000.0, 3000.0), today=TODAY, cold_start_share=0.4)
    young = np.mean(m.ads.day > day(-7).toordinal())
    assert 0.25 < young < 0.55


def test_no_fatigue_when_strength_is_zero() -> None:
    m = generate_market("tiktok", 5, 2, 4, 3, (500.0, 600.0), today=TODAY, fatigue_strength=0.0)
    assert np.all(m.ads.tau == NO_FATIGUE_TAU)


def test_a_regime_shift_raises_cost_only_while_it_lasts() -> None:
    shift = RegimeShift("cpm", day(7), day(21), 1.5)
    m = generate_market("meta", 6, 2, 6, 3, (800.0, 900.0), today=TODAY, regime_shift=shift)
    normal = expected_daily(m, day=day(3), typical=False)
    shifted = expected_daily(m, day=day(10), typical=False)
    after = expected_daily(m, day=day(24), typical=False)
    assert shifted.total_conversions < 0.85 * normal.total_conversions
    assert abs(after.total_conversions / normal.total_conversions - 1) < 0.1
    drawn = random_regime_shift(6, TODAY, "cvr")
    assert drawn.kind == "cvr" and drawn.multiplier == 0.7
    assert day(7) <= drawn.start and 14 <= (drawn.end - drawn.start).days <= 28


def test_heavy_lag_reports_less_of_recent_days() -> None:
    kwargs = dict(today=TODAY, history_days=30, cbo_share=0.0)
    normal = generate_market("meta", 8, 3, 9, 4, (3000.0, 3000.0), **kwargs)  # type: ignore[arg-type]
    heavy = generate_market("meta", 8, 3, 9, 4, (3000.0, 3000.0), lag="heavy", **kwargs)  # type: ignore[arg-type]
    a = ad_matrix(normal, day(-7), day(-1))
    b = ad_matrix(heavy, day(-7), day(-1))
    assert np.array_equal(a.true_conversions, b.true_conversions)  # same truth, same seed
    assert b.conversions.sum() < 0.9 * a.conversions.sum()


def test_a_benchmark_can_step_it_week_by_week() -> None:
    m = generate_market("meta", 10, 3, 8, 4, (1500.0, 2000.0), today=TODAY)
    for week in range(1, 4):
        assert m.advance_to(day(7 * week - 1)) == 7
        rows = ad_matrix(m, day(7 * week - 30), day(7 * week - 1))
        assert rows.days[-1] == day(7 * week - 1)
        assert len(rows.days) == 30


def test_cvr_multiplier_moves_the_cpa_band() -> None:
    kwargs = dict(today=TODAY, history_days=14, breakdowns=False)
    base = generate_market("meta", 12, 2, 6, 4, (2000.0, 2000.0), **kwargs)  # type: ignore[arg-type]
    dear = generate_market("meta", 12, 2, 6, 4, (2000.0, 2000.0), cvr_multiplier=0.5, **kwargs)  # type: ignore[arg-type]
    a = ad_matrix(base, day(-14), day(-1))
    b = ad_matrix(dear, day(-14), day(-1))
    assert abs(b.spend.sum() / a.spend.sum() - 1) < 0.05
    assert 0.35 < b.true_conversions.sum() / a.true_conversions.sum() < 0.65


def test_each_simulated_day_records_its_expected_outcome() -> None:
    m = generate_market("tiktok", 13, 3, 9, 4, (3000.0, 3000.0), today=TODAY, history_days=28)
    assert [d for d, _, _ in m.expected_days] == [day(k).toordinal() for k in range(-28, 0)]
    realised = ad_matrix(m, day(-28), day(-1)).true_conversions.sum()
    expected = sum(c for _, c, _ in m.expected_days)
    assert abs(realised / expected - 1) < 0.05
    spend = sum(s for _, _, s in m.expected_days)
    assert abs(ad_matrix(m, day(-28), day(-1)).spend.sum() / 100 / spend - 1) < 0.02
