"""Windows, attribution lag, the hierarchical Gamma–Poisson estimates and the score."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import stats

from adpilot.engine.classify import performance_score
from adpilot.engine.estimates import GammaPosterior, fit_hierarchy, lag_shares, moment_shape
from adpilot.engine.types import EngineSettings
from adpilot.engine.windows import group_sum, trailing_sums, window_sums

NOW = dt.datetime(2026, 11, 22, 0, 0, tzinfo=dt.UTC)


def test_trailing_sums_cover_the_most_recent_days() -> None:
    daily = np.arange(30, dtype=np.float64)[None, :].repeat(2, axis=0)
    daily[1] *= 2
    sums = trailing_sums(daily, (1, 3, 7, 14, 30))
    assert sums[1].tolist() == [29.0, 58.0]
    assert sums[3].tolist() == [29 + 28 + 27, 2 * (29 + 28 + 27)]
    assert sums[7][0] == sum(range(23, 30))
    assert sums[30][0] == sum(range(30))


def test_windows_longer_than_the_data_are_clamped() -> None:
    sums = trailing_sums(np.ones((1, 5)), (3, 30))
    assert sums[3][0] == 3 and sums[30][0] == 5


def test_group_sum_rolls_rows_up_in_one_and_two_dimensions() -> None:
    groups = np.array([0, 1, 0, 2], dtype=np.intp)
    assert group_sum(np.array([1.0, 2.0, 3.0, 4.0]), groups, 3).tolist() == [4.0, 2.0, 4.0]
    rolled = group_sum(np.arange(8, dtype=np.float64).reshape(4, 2), groups, 3)
    assert rolled.tolist() == [[4.0, 6.0], [2.0, 3.0], [6.0, 7.0]]


def test_window_rollup_matches_direct_sums() -> None:
    rng = np.random.default_rng(1)
    spend = rng.integers(0, 100, (6, 30)).astype(np.float64)
    ws = window_sums({"spend": spend})
    groups = np.array([0, 0, 1, 1, 1, 2], dtype=np.intp)
    rolled = ws.rollup(groups, 3)
    assert rolled.get("spend", 7)[1] == spend[2:5, -7:].sum()
    assert ws.between("spend", 7, 30)[0] == spend[0, :23].sum()


def test_lag_shares_follow_the_reporting_curve() -> None:
    settings = EngineSettings()
    today = NOW.date()
    dates = [today - dt.timedelta(days=k) for k in (29, 15, 8, 4, 3, 2, 1)]
    shares = lag_shares(NOW, dates, settings)
    # Yesterday ended exactly now (0 days old), the day before is 1 day old, and so on.
    assert shares[-1] == pytest.approx(0.5)
    assert shares[-2] == pytest.approx(0.8)
    assert shares[-3] == pytest.approx(0.87)
    assert shares[-4] == pytest.approx(0.9)
    assert shares[-5] == pytest.approx(0.95)  # 7 days old
    assert shares[0] == pytest.approx(1.0)
    off = lag_shares(NOW, dates, EngineSettings(attribution_lag_correction=False))
    assert off.tolist() == [1.0] * len(dates)


def test_posterior_cpa_probability_matches_scipy() -> None:
    post = GammaPosterior(np.array([7.0]), np.array([8000.0]))
    target = 1000.0
    # P(CPA > target) = P(λ < 1/target) under Gamma(shape, rate).
    expected = stats.gamma.cdf(1.0 / target, a=7.0, scale=1.0 / 8000.0)
    assert post.p_cpa_above(target)[0] == pytest.approx(expected)
    lo, hi = post.cpa_quantile(0.05)[0], post.cpa_quantile(0.95)[0]
    assert lo < post.cpa_estimate()[0] < hi
    assert stats.gamma.cdf(1.0 / lo, a=7.0, scale=1 / 8000.0) == pytest.approx(0.95)


def test_moment_shape_pools_strongly_without_excess_variance_and_weakly_with_it() -> None:
    parent = np.full(50, 0.001)
    exposure = np.full(50, 100_000.0)
    same = np.full(50, 100.0)
    assert moment_shape(same, exposure, parent, 2.0, 20.0) == 20.0
    rng = np.random.default_rng(3)
    spread = rng.gamma(2.0, 50.0, 50)  # rates vary a lot: CV ≈ 0.7
    assert moment_shape(spread, exposure, parent, 2.0, 20.0) < 5.0


def test_hierarchy_shrinks_thin_ads_towards_their_ad_set() -> None:
    settings = EngineSettings()
    # Ad set of three ads at CPA $10 with plenty of data, plus one ad with 2 conversions on $8.
    conv = np.array([100.0, 100.0, 100.0, 2.0])
    exposure = np.array([100_000.0, 100_000.0, 100_000.0, 800.0])
    h = fit_hierarchy(
        conv,
        exposure,
        np.zeros(4, dtype=np.intp),
        np.zeros(1, dtype=np.intp),
        1,
        1,
        1000.0,
        settings,
    )
    cpa = h.ad.cpa_estimate()
    assert cpa[0] == pytest.approx(1000.0, rel=0.02)
    # Raw CPA is $4, but two conversions are not evidence: the estimate stays near $10.
    assert cpa[3] > 850.0
    score = performance_score(h.ad, 1000.0)
    assert score[3] < 80.0
    assert abs(score[0] - 50.0) < 5.0


def test_score_orders_by_cpa_and_is_50_at_target() -> None:
    shape = np.full(5, 400.0)
    cpas = np.array([500.0, 800.0, 1000.0, 1300.0, 3000.0])
    post = GammaPosterior(shape, shape * cpas)
    score = performance_score(post, 1000.0)
    assert np.all(np.diff(score) < 0)
    assert score[2] == pytest.approx(50.0, abs=1.0)
    assert score[0] > 80.0 and score[4] < 10.0
    assert np.all((score >= 0) & (score <= 100))


def test_score_of_thin_evidence_is_pulled_towards_50() -> None:
    thick = GammaPosterior(np.array([400.0]), np.array([400.0 * 500.0]))
    thin = GammaPosterior(np.array([3.0]), np.array([3.0 * 500.0]))
    assert performance_score(thin, 1000.0)[0] < performance_score(thick, 1000.0)[0]


def test_ctr_is_pooled_with_the_ad_set_by_an_estimated_strength() -> None:
    from adpilot.engine.estimates import beta_strength, fit_ctr

    rng = np.random.default_rng(5)
    n = np.full(60, 50_000.0)
    same = rng.binomial(50_000, 0.01, 60).astype(np.float64)
    spread = rng.binomial(50_000, np.clip(rng.lognormal(np.log(0.01), 0.4, 60), 0, 1))
    parent = np.full(60, 0.01)
    assert beta_strength(same, n, parent, 100.0, 100_000.0) == 100_000.0
    assert beta_strength(spread.astype(np.float64), n, parent, 100.0, 100_000.0) < 20_000.0

    # Three busy ads at 1% and a thin one with 3 clicks in 100 impressions.
    clicks = np.array([500.0, 500.0, 500.0, 3.0])
    imps = np.array([50_000.0, 50_000.0, 50_000.0, 100.0])
    post = fit_ctr(clicks, imps, np.zeros(4, dtype=np.intp), 1, EngineSettings())
    assert post.mean()[0] == pytest.approx(0.01, rel=0.01)
    assert post.mean()[3] < 0.015  # 3% raw, but 100 impressions are thin evidence
    _mean, var = post.log_moments()
    assert var[3] > var[0] > 0
