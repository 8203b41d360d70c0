"""The seven benchmark scenarios: how each seed's account is drawn and what its market does.

Sizes follow the reference ranges (1–20 campaigns, 3–80 ad sets, 3–6 ads per ad set, $100–$20k
a day); each scenario stresses one thing. On top of it every seed draws its truth from several
model families (`draw_families`), so no single response curve, fatigue law, lag profile or
delivery split is the one a policy could be tuned to. A seed fixes the account completely, so
every policy starts from the same market and meets the same day-level randomness (paired
comparisons).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adpilot.platforms.base import PlatformName
from adpilot.sim.generate import LagSpec, TruthKnobs, generate_market, lag_shares
from adpilot.sim.market import Market
from adpilot.sim.profiles import PROFILES
from adpilot.sim.rng import py_random, text_key

START = dt.date(2027, 1, 4)  # the first cycle's day (a Monday); warm-up is the 28 days before
WARMUP_DAYS = 28


@dataclass(frozen=True)
class Scenario:
    key: str  # S1..S7
    title: str
    build: Callable[[int], Market]  # market seed → the account after its warm-up


@dataclass(frozen=True)
class Families:
    """The model families one seed's account is drawn from, and the knobs they set."""

    names: tuple[str, ...]
    knobs: TruthKnobs
    lag_stretch: float  # reported share s becomes s**stretch (>1 stretched, <1 compressed)


def draw_families(seed: int, platform: PlatformName, *, fatigue: bool) -> Families:
    """One draw per family axis: response curve, fatigue law, lag, delivery split, shocks,
    sparse winners, high-CTR bad converters, learning penalty."""
    rng = py_random(seed, 903)
    prof = PROFILES[platform]
    names: list[str] = []
    knobs: dict[str, Any] = {}
    curve = rng.choice(("curve_michaelis_menten", "curve_hill", "curve_saturated"))
    names.append(curve)
    if curve == "curve_hill":
        # S-shaped: below the threshold more budget makes each dollar cheaper.
        knobs.update(shape=(1.5, 2.5), h_mult=(0.6, 2.0))
    elif curve == "curve_saturated":
        knobs.update(h_mult=(0.15, 0.5))
    if fatigue and prof.halflife_days is not None:
        names.append("fatigue_frequency")
        if rng.random() < 0.5:
            names.append("fatigue_age")
            knobs["age_fatigue"] = rng.uniform(0.5, 1.5)
    lag = rng.choice(("lag_reference", "lag_stretched", "lag_compressed"))
    names.append(lag)
    stretch = {"lag_reference": 1.0, "lag_stretched": rng.uniform(1.4, 2.2)}.get(
        lag, rng.uniform(0.4, 0.7)
    )
    if rng.random() < 0.5:
        names.append("delivery_clicky")
        knobs.update(cvr_visibility=0.0, kappa=(2.0, 3.5))
    else:
        names.append("delivery_quality")
    if rng.random() < 0.5:
        names.append("day_shocks")
        knobs["shocks_per_week"] = rng.uniform(0.2, 0.5)
    if prof.adset_budgets and rng.random() < 0.5:
        names.append("sparse_winners")
        knobs["sparse_winners"] = rng.randint(1, 3)
    if rng.random() < 0.5:
        names.append("bad_converters")
        knobs["bad_converter_share"] = rng.uniform(0.2, 0.5)
    if prof.learning_events > 0:
        penalty = rng.choice(("learning_mild", "learning_reference", "learning_severe"))
        names.append(penalty)
        knobs["learning_penalty"] = {
            "learning_mild": (0.9, 0.99),
            "learning_reference": (0.7, 0.95),
            "learning_severe": (0.4, 0.7),
        }[penalty]
    return Families(tuple(names), TruthKnobs(**knobs), stretch)


def _stretched(lag: LagSpec, stretch: float) -> tuple[float, ...]:
    return tuple(float(x) ** stretch for x in lag_shares(lag))


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
    lag: LagSpec = "normal",
    fatigue: bool = True,
    **knobs: Any,
) -> Market:
    rng = py_random(seed, 901)
    n_camps, n_sets, daily = _size(rng, adsets, per_adset)
    if spend is not None:
        daily = _log_uniform(rng, *spend)
    plat = platform or _social(seed)
    fam = draw_families(seed, plat, fatigue=fatigue)
    m = generate_market(
        plat,
        seed,
        n_camps,
        n_sets,
        (3, 6),
        (daily, daily),
        today=START,
        history_days=WARMUP_DAYS,
        breakdowns=False,
        retain_days=WARMUP_DAYS + 7 * 26 + 7,
        lag=_stretched(lag, fam.lag_stretch),
        truth=fam.knobs,
        **knobs,
    )
    m.families = fam.names
    return m


def _s1(seed: int) -> Market:
    return _account(seed, fatigue_strength=0.0, fatigue=False)


def _s2(seed: int) -> Market:
    return _account(seed, fatigue_strength=1.5)


def _s3(seed: int) -> Market:
    # Sparse: few conversions per ad set, CPA $20–80 (the CVR band scaled down).
    return _account(seed, adsets=(10, 30), spend=(200.0, 600.0), cvr_multiplier=0.55)


def _s4(seed: int) -> Market:
    return _account(seed, lag="heavy")  # heavy, then stretched or compressed by its family


def _s5(seed: int) -> Market:
    return _account(seed, regime_shift="cpm" if seed % 4 < 2 else "cvr")


def _s6(seed: int) -> Market:
    rng = py_random(seed, 902)
    return _account(seed, cold_start_share=rng.uniform(0.3, 0.5))


def _s7(seed: int) -> Market:
    return _account(seed, platform="apple", per_adset=(20.0, 200.0), fatigue=False)


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
