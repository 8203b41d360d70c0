"""Random markets of any size with scenario knobs, for benchmarks that step them week by week."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from adpilot.platforms.base import PlatformName
from adpilot.sim.builder import MarketBuilder
from adpilot.sim.delivery import CVR_VISIBILITY
from adpilot.sim.market import (
    LEARNING_PENALTY,
    Market,
    MarketParams,
    RegimeShift,
    Shock,
    regime_internal,
)
from adpilot.sim.names import adset_name, campaign_name, creative_name
from adpilot.sim.profiles import LAG_HEAVY, LAG_NORMAL, band_median
from adpilot.sim.rng import STREAM_BUILD, generator, py_random

LagSpec = Literal["normal", "heavy"] | Sequence[float]


def lag_shares(lag: LagSpec) -> tuple[float, ...]:
    if lag == "normal":
        return LAG_NORMAL
    if lag == "heavy":
        return LAG_HEAVY
    shares = tuple(float(x) for x in lag)
    if len(shares) != len(LAG_NORMAL) or shares[-1] != 1.0:
        raise ValueError("lag shares need one value per lag age, ending at 1.0")
    return shares


@dataclass(frozen=True)
class TruthKnobs:
    """How a generated account's hidden truth departs from the reference model (defaults: not).

    - `shape`: range of each ad set's Hill exponent (1 = Michaelis–Menten; above 1 S-shaped).
    - `h_mult`: range of saturation spend ÷ starting spend (None: the reference's U[0.5, 4]).
    - `kappa`: range of the delivery split's concentration on better ads (None: the platform's).
    - `cvr_visibility`: how much the delivery split reads conversion quality (0: clicks only).
    - `age_fatigue`: CTR also tires with age since the creative started (0: only by frequency).
    - `learning_penalty`: range of a restarted learning phase's efficiency multiplier.
    - `shocks_per_week`: expected account-wide day-level shocks (a CVR dip or a CPM spike).
    - `sparse_winners`: ad sets with a small budget but a much cheaper conversion.
    - `bad_converter_share`: share of ad sets that run one high-CTR ad that converts badly.
    """

    shape: tuple[float, float] = (1.0, 1.0)
    h_mult: tuple[float, float] | None = None
    kappa: tuple[float, float] | None = None
    cvr_visibility: float = CVR_VISIBILITY
    age_fatigue: float = 0.0
    learning_penalty: tuple[float, float] = LEARNING_PENALTY
    shocks_per_week: float = 0.0
    sparse_winners: int = 0
    bad_converter_share: float = 0.0


def random_shocks(
    rng: random.Random, start: dt.date, days: int, per_week: float
) -> tuple[Shock, ...]:
    """Account-wide shock days: mostly conversion dips (CVR × 0.4–0.7), else CPM × 1.4–2."""
    out: list[Shock] = []
    for d in range(days):
        if rng.random() < per_week / 7.0:
            day = start.toordinal() + d
            if rng.random() < 0.6:
                out.append(Shock(day, "cvr", rng.uniform(0.4, 0.7)))
            else:
                out.append(Shock(day, "cpm", rng.uniform(1.4, 2.0)))
    return tuple(out)


def random_regime_shift(
    seed: int, today: dt.date, kind: Literal["cpm", "cvr"], *, horizon_days: int = 84
) -> RegimeShift:
    """One shift starting 1–8 weeks after `today`, lasting 2–4 weeks (CPM +30–60% or CVR −30%)."""
    rng = py_random(seed, STREAM_BUILD, 77)
    start = today + dt.timedelta(days=rng.randrange(7, max(8, min(57, horizon_days - 13))))
    end = start + dt.timedelta(days=rng.randrange(14, 29))
    multiplier = rng.uniform(1.3, 1.6) if kind == "cpm" else 0.7
    return RegimeShift(kind, start, end, multiplier)


def generate_market(
    platform: PlatformName,
    seed: int,
    n_campaigns: int,
    n_adsets: int,
    ads_per_adset: int | tuple[int, int],
    daily_spend_range: tuple[float, float],
    *,
    today: dt.date,
    history_days: int = 28,
    fatigue_strength: float = 1.0,
    cold_start_share: float = 0.0,
    regime_shift: RegimeShift | Literal["cpm", "cvr"] | None = None,
    lag: LagSpec = "normal",
    cbo_share: float = 0.3,
    pool_size: int | None = None,
    breakdowns: bool = True,
    retain_days: int = 60,
    cvr_multiplier: float = 1.0,
    timezone: str = "UTC",
    account_external_id: str | None = None,
    truth: TruthKnobs | None = None,
) -> Market:
    """A random account with `history_days` of history ending the day before `today`.

    Knobs: `daily_spend_range` (account spend in dollars/day, drawn log-uniformly),
    `fatigue_strength` (0 = creatives never tire, 2 = twice as fast), `cold_start_share` (share of
    ads created in the last 6 days), `regime_shift` (a given shift, or "cpm"/"cvr" for a random
    one in the 12 weeks after `today`), `lag` (attribution lag profile), `cbo_share` (share of
    campaigns under a campaign budget; Apple always budgets on campaigns), `pool_size` (unused
    creatives in the library), `cvr_multiplier` (scales every ad set's conversion rate, to move
    the account's CPA band), `truth` (departures from the reference model, see `TruthKnobs`).
    Step it with `advance_to`; read it with `adpilot.sim.reports`.
    """
    if n_campaigns < 1 or n_adsets < n_campaigns:
        raise ValueError("need at least one campaign and one ad set per campaign")
    b = MarketBuilder(
        platform,
        seed,
        today=today,
        history_days=history_days,
        timezone=timezone,
        account_external_id=account_external_id,
    )
    rng = b.rng
    arrays = generator(seed, STREAM_BUILD, 1)  # for the few vector draws
    profile = b.profile

    sets_per_campaign = np.ones(n_campaigns, dtype=int)
    sets_per_campaign += arrays.multinomial(
        n_adsets - n_campaigns, np.full(n_campaigns, 1 / n_campaigns)
    )
    cbo = arrays.random(n_campaigns) < (1.0 if not profile.adset_budgets else cbo_share)

    lo, hi = daily_spend_range
    total = float(np.exp(arrays.uniform(np.log(lo), np.log(max(hi, lo)))))
    # One share per budget holder: the campaign under a campaign budget, else each ad set.
    holders = int(np.sum(np.where(cbo, 1, sets_per_campaign)))
    shares = iter(arrays.dirichlet(np.full(holders, 2.0)) * total)

    def budget_for(is_campaign: bool) -> int:
        minimum = (
            profile.min_campaign_budget_cents if is_campaign else profile.min_adset_budget_cents
        )
        return max(int(np.rint(next(shares) * 100)), minimum)

    knobs = truth or TruthKnobs()
    # Draws for the truth knobs come from their own stream: default accounts stay as they were.
    fam = py_random(seed, STREAM_BUILD, 88)
    holder_sets = [
        (c, i) for c in range(n_campaigns) if not cbo[c] for i in range(int(sets_per_campaign[c]))
    ]
    winners = set(fam.sample(holder_sets, min(knobs.sparse_winners, len(holder_sets))))
    oldest = today - dt.timedelta(days=history_days + 180)
    for c in range(n_campaigns):
        c_created = oldest + dt.timedelta(days=rng.randrange(120))
        camp = b.campaign(
            campaign_name(platform, c, rng),
            cbo=bool(cbo[c]),
            budget_cents=budget_for(True) if cbo[c] else 0,
            created=c_created,
        )
        for i in range(int(sets_per_campaign[c])):
            s_created = c_created + dt.timedelta(days=rng.randrange(40))
            budget = 0 if cbo[c] else budget_for(False)
            cvr = None
            if (c, i) in winners:
                # A sparse cheap winner: a small budget on a conversion rate 2–3× the typical.
                budget = max(budget // 4, profile.min_adset_budget_cents)
                cvr = min(band_median(profile.cvr) * fam.uniform(2.0, 3.0), 0.9)
            s = b.adset(
                camp,
                adset_name(platform, len(b.adsets), rng),
                created=s_created,
                budget_cents=budget,
                cvr=cvr,
                shape=fam.uniform(*knobs.shape) if knobs.shape != (1.0, 1.0) else 1.0,
                h_mult=fam.uniform(*knobs.h_mult) if knobs.h_mult else None,
                kappa=fam.uniform(*knobs.kappa) if knobs.kappa else None,
            )
            bad_converter = knobs.bad_converter_share > 0 and (
                fam.random() < knobs.bad_converter_share
            )
            if isinstance(ads_per_adset, int):
                n_ads = ads_per_adset
            else:
                n_ads = rng.randrange(ads_per_adset[0], ads_per_adset[1] + 1)
            for _ in range(n_ads):
                if rng.random() < cold_start_share:
                    a_created = today - dt.timedelta(days=rng.randrange(1, 7))
                else:
                    span = max((today - s_created).days - 8, 1)
                    a_created = s_created + dt.timedelta(days=rng.randrange(span))
                    a_created = min(a_created, today - dt.timedelta(days=7))
                if bad_converter:
                    # High CTR (and so a high organic score), a third of the conversion rate.
                    bad_converter = False
                    quality = fam.uniform(2.2, 3.0)
                    k = b.creative(
                        creative_name(len(b.creatives), rng),
                        ctr=quality,
                        cvr=fam.uniform(0.2, 0.35),
                    )
                else:
                    k = b.creative(creative_name(len(b.creatives), rng))
                b.ad(s, k, created=a_created)

    for _ in range(pool_size if pool_size is not None else max(6, n_adsets)):
        b.creative(creative_name(len(b.creatives), rng))

    shift = regime_shift
    if isinstance(shift, str):
        shift = random_regime_shift(seed, today, shift)
    params = MarketParams(
        lag=lag_shares(lag),
        regime=regime_internal(shift),
        fatigue_strength=fatigue_strength,
        breakdowns=breakdowns,
        retain_days=max(retain_days, history_days),
        cvr_visibility=knobs.cvr_visibility,
        learning_penalty=knobs.learning_penalty,
        age_fatigue=knobs.age_fatigue,
        shocks=random_shocks(
            fam,
            today - dt.timedelta(days=history_days),
            history_days + 7 * 27,
            knobs.shocks_per_week,
        )
        if knobs.shocks_per_week > 0
        else (),
    )
    market = b.build(params)
    if cvr_multiplier != 1.0:
        market.adsets.cvr = np.minimum(market.adsets.cvr * cvr_multiplier, 0.9)
    market.advance_to(today - dt.timedelta(days=1))
    return market
