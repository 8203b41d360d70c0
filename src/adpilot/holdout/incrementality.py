"""What adpilot's changes added: treated against held-out budget holders, with an interval.

Pure. Each unit is one holder in one holdout period with its conversions and spend per day in
the `PRE_DAYS` before the period and in the period so far. Per arm the period's conversions per
day are divided by the pre-period's (a difference in differences on the log scale, so holders of
any size and the market's drift cancel); the lift is the treated arm's ratio over the held-out
arm's, less 1. Its 95% interval combines a bootstrap that resamples holders within each arm
(budget moves shift money between treated holders, so an arm's total is what is compared) with
the counts' Poisson noise, on the log scale with a t quantile for few holders.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

PRE_DAYS = 14
MIN_POST_DAYS = 7
MIN_UNITS = 2  # per arm
# An interval wider than this on the log scale either side cannot tell a typical 10–20% lift from
# none: the report says "not enough data yet" until it narrows.
MAX_HALF_WIDTH = 0.15
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Unit:
    held: bool
    pre_conversions: float
    pre_spend_cents: float
    pre_days: int
    post_conversions: float
    post_spend_cents: float
    post_days: int


@dataclass(frozen=True)
class Report:
    enough: bool
    reason: str
    treated: int
    held_out: int
    post_days: int
    lift: float | None = None  # relative change in conversions per day from adpilot's changes
    low: float | None = None
    high: float | None = None
    cpa_change: float | None = None  # relative change in CPA (negative: cheaper)
    cpa_low: float | None = None
    cpa_high: float | None = None
    added_conversions: float | None = None
    added_low: float | None = None
    added_high: float | None = None
    weeks_needed: int | None = None  # more weeks of data until the interval is narrow enough


def _sums(units: Sequence[Unit]) -> np.ndarray:
    """[pre conv/day, pre spend/day, post conv/day, post spend/day] per unit."""
    return np.array(
        [
            [
                u.pre_conversions / max(u.pre_days, 1),
                u.pre_spend_cents / max(u.pre_days, 1),
                u.post_conversions / max(u.post_days, 1),
                u.post_spend_cents / max(u.post_days, 1),
            ]
            for u in units
        ],
        dtype=np.float64,
    ).reshape(-1, 4)


def _log_ratios(t: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log conversion lift, log CPA change) for arm sums shaped [..., 4]."""

    def arm(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pre_c, pre_s, post_c, post_s = (np.maximum(s[..., k], 1e-9) for k in range(4))
        conv = np.log(post_c / pre_c)
        cpa = np.log((post_s / post_c) / (pre_s / pre_c))
        return conv, cpa

    tc, tp = arm(t)
    hc, hp = arm(h)
    return tc - hc, tp - hp


def estimate(units: Sequence[Unit], seed: int = 0) -> Report:
    treated = [u for u in units if not u.held]
    held = [u for u in units if u.held]
    post_days = max((u.post_days for u in units), default=0)
    base = {"treated": len(treated), "held_out": len(held), "post_days": post_days}
    if len(treated) < MIN_UNITS or len(held) < MIN_UNITS:
        return Report(
            False,
            f"Not enough data yet: {len(held)} held-out and {len(treated)} treated budget holders; "
            f"at least {MIN_UNITS} of each are needed.",
            **base,
        )
    if post_days < MIN_POST_DAYS:
        return Report(
            False,
            f"Not enough data yet: {post_days} days of the holdout period so far; at least "
            f"{MIN_POST_DAYS} are needed.",
            weeks_needed=math.ceil((MIN_POST_DAYS - post_days) / 7),
            **base,
        )
    ts, hs = _sums(treated), _sums(held)
    conv, cpa = _log_ratios(ts.sum(axis=0), hs.sum(axis=0))
    rng = np.random.default_rng(seed)
    ti = rng.integers(0, len(ts), size=(BOOTSTRAP, len(ts)))
    hi = rng.integers(0, len(hs), size=(BOOTSTRAP, len(hs)))
    b_conv, b_cpa = _log_ratios(ts[ti].sum(axis=1), hs[hi].sum(axis=1))
    # The bootstrap sees the spread between holders; the counts' own Poisson noise is added so
    # that a few similar holders cannot make the interval look tighter than the data allow, and
    # a t quantile on the smaller arm widens it while holders are few.
    counts = [
        sum(u.pre_conversions for u in treated),
        sum(u.post_conversions for u in treated),
        sum(u.pre_conversions for u in held),
        sum(u.post_conversions for u in held),
    ]
    poisson = sum(1.0 / max(c, 0.5) for c in counts)
    z = float(stats.t.ppf(0.975, min(len(treated), len(held)) - 1))
    se = math.sqrt(float(np.var(b_conv)) + poisson)
    se_cpa = math.sqrt(float(np.var(b_cpa)) + poisson)
    lo, hi_ = float(conv) - z * se, float(conv) + z * se
    clo, chi = float(cpa) - z * se_cpa, float(cpa) + z * se_cpa
    post_conv = float(sum(u.post_conversions for u in treated))

    def added(log_lift: float) -> float:
        return post_conv * (1.0 - math.exp(-log_lift))

    half = float(hi_ - lo) / 2.0
    enough = half <= MAX_HALF_WIDTH
    weeks_so_far = max(post_days / 7.0, 1.0)
    needed = 0 if enough else math.ceil(weeks_so_far * (half / MAX_HALF_WIDTH) ** 2 - weeks_so_far)
    reason = (
        f"{len(treated)} treated and {len(held)} held-out budget holders over {post_days} days."
        if enough
        else f"Not enough data yet: the interval is ±{100 * half:.0f}%; about {needed} more "
        "weeks would narrow it enough."
    )
    return Report(
        enough,
        reason,
        lift=math.expm1(float(conv)),
        low=math.expm1(float(lo)),
        high=math.expm1(float(hi_)),
        cpa_change=math.expm1(float(cpa)),
        cpa_low=math.expm1(float(clo)),
        cpa_high=math.expm1(float(chi)),
        added_conversions=added(float(conv)),
        added_low=added(float(lo)),
        added_high=added(float(hi_)),
        weeks_needed=needed or None,
        **base,
    )
