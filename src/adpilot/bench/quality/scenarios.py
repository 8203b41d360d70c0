"""The seven benchmark scenarios: how each seed's account is drawn and what its market does.

Sizes follow the reference ranges (1–20 campaigns, 3–80 ad sets, 3–6 ads per ad set, $100–$20k
a day); each scenario stresses one thing. A seed fixes the account completely, so every policy
starts from the same market and meets the same day-level randomness (paired comparisons).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adpilot.platforms.base import PlatformName
from adpilot.sim.generate import generate_market
from adpilot.sim.market import Market
from adpilot.sim.rng import py_random, text_key

START = dt.date(2027, 1, 4)  # the first cycle's day (a Monday); warm-up is the 28 days before
WARMUP_DAYS = 28


@dataclass(frozen=True)
class Scenario:
    key: str  # S1..S7
    title: str
    build: Callable[[int], Market]  # market seed → the account after its warm-up


def _log_uniform(rng: Any, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _size(
    rng: Any, adsets: tuple[int, int], per_adset: tuple[float, float]
) -> tuple[int, int, float]:
    """(campaigns, ad sets, daily spend in dollars) drawn for one account."""
    n_sets = round(_log_uniform(rng, adsets[0], adsets[1]))
    n_camps = max(1, min(20, n_sets, round(n_sets / rng.uniform(2.0, 6.0))))
    spend = min(max(n_sets * _log_uniform(rng, *per_adset), 100.0), 20_000.0)
    return n_camps, n_sets, spend


def _social(seed: int) -> PlatformName:
    return "meta" if seed % 2 == 0 else "tiktok"


def _account(
    seed: int,
    *,
    platform: PlatformName | None = None,
    adsets: tuple[int, int] = (3, 80),
    per_adset: tuple[float, float] = (40.0, 300.0),
    spend: tuple[float, float] | None = None,
    **knobs: Any,
) -> Market:
    rng = py_random(seed, 901)
    n_camps, n_sets, daily = _size(rng, adsets, per_adset)
    if spend is not None:
        daily = _log_uniform(rng, *spend)
    return generate_market(
        platform or _social(seed),
        seed,
        n_camps,
        n_sets,
        (3, 6),
        (daily, daily),
        today=START,
        history_days=WARMUP_DAYS,
        breakdowns=False,
        retain_days=WARMUP_DAYS + 7 * 26 + 7,
        **knobs,
    )


def _s1(seed: int) -> Market:
    return _account(seed, fatigue_strength=0.0)


def _s2(seed: int) -> Market:
    return _account(seed, fatigue_strength=1.5)


def _s3(seed: int) -> Market:
    # Sparse: few conversions per ad set, CPA $20–80 (the CVR band scaled down).
    return _account(seed, adsets=(10, 30), spend=(200.0, 600.0), cvr_multiplier=0.55)


def _s4(seed: int) -> Market:
    return _account(seed, lag="heavy")


def _s5(seed: int) -> Market:
    return _account(seed, regime_shift="cpm" if seed % 4 < 2 else "cvr")


def _s6(seed: int) -> Market:
    rng = py_random(seed, 902)
    return _account(seed, cold_start_share=rng.uniform(0.3, 0.5))


def _s7(seed: int) -> Market:
    return _account(seed, platform="apple", per_adset=(20.0, 200.0))


SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in (
        Scenario("S1", "stationary", _s1),
        Scenario("S2", "fatigue with a creative pool", _s2),
        Scenario("S3", "sparse", _s3),
        Scenario("S4", "heavy attribution lag", _s4),
        Scenario("S5", "regime shift", _s5),
        Scenario("S6", "cold start", _s6),
        Scenario("S7", "Apple keywords", _s7),
    )
}


def market_seed(scenario: str, index: int) -> int:
    """The market seed of the `index`-th seed of a scenario (the same for every policy)."""
    return text_key(f"quality:{scenario}:{index}")
