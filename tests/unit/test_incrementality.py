"""The incrementality estimate: treated against held-out holders, or not enough data yet."""

from __future__ import annotations

import numpy as np

from adpilot.holdout.incrementality import Unit, estimate


def _units(rng: np.random.Generator, n: int, held: bool, lift: float, drift: float) -> list[Unit]:
    out = []
    for _ in range(n):
        size = rng.uniform(2, 20)  # conversions per day
        pre = rng.poisson(size * 14)
        post = rng.poisson(size * 28 * drift * (1.0 if held else 1.0 + lift))
        out.append(Unit(held, pre, size * 14 * 3000, 14, post, size * 28 * 3000 * drift, 28))
    return out


def test_the_interval_covers_a_known_lift_and_market_drift_cancels() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    for seed in range(40):
        units = _units(rng, 30, False, 0.12, 0.8) + _units(rng, 10, True, 0.12, 0.8)
        r = estimate(units, seed=seed)
        assert r.lift is not None and r.low is not None and r.high is not None
        covered += r.low <= 0.12 <= r.high
    assert covered >= 34  # a 95% interval: allow for chance


def test_too_few_held_out_holders_is_not_enough_data_yet() -> None:
    rng = np.random.default_rng(1)
    r = estimate(_units(rng, 10, False, 0.1, 1.0) + _units(rng, 1, True, 0.1, 1.0))
    assert not r.enough and r.lift is None
    assert r.reason.startswith("Not enough data yet")


def test_a_wide_interval_says_how_many_more_weeks_it_needs() -> None:
    rng = np.random.default_rng(2)
    tiny = [
        Unit(
            u.held,
            u.pre_conversions / 20,
            u.pre_spend_cents,
            14,
            u.post_conversions / 20,
            u.post_spend_cents,
            28,
        )
        for u in _units(rng, 3, False, 0.1, 1.0) + _units(rng, 2, True, 0.1, 1.0)
    ]
    r = estimate(tiny)
    assert not r.enough and r.weeks_needed is not None and r.weeks_needed > 0
    assert f"about {r.weeks_needed} more weeks" in r.reason
