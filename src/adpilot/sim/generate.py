"""Random markets of any size with scenario knobs, for benchmarks that step them week by week."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

import numpy as np

from adpilot.platforms.base import PlatformName
from adpilot.sim.builder import MarketBuilder
from adpilot.sim.market import Market, MarketParams, RegimeShift, regime_internal
from adpilot.sim.names import adset_name, campaign_name, creative_name
from adpilot.sim.profiles import LAG_HEAVY, LAG_NORMAL
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
) -> Market:
    """A random account with `history_days` of history ending the day before `today`.

    Knobs: `daily_spend_range` (account spend in dollars/day, drawn log-uniformly),
    `fatigue_strength` (0 = creatives never tire, 2 = twice as fast), `cold_start_share` (share of
    ads created in the last 6 days), `regime_shift` (a given shift, or "cpm"/"cvr" for a random
    one in the 12 weeks after `today`), `lag` (attribution lag profile), `cbo_share` (share of
    campaigns under a campaign budget; Apple always budgets on campaigns), `pool_size` (unused
    creatives in the library), `cvr_multiplier` (scales every ad set's conversion rate, to move
    the account's CPA band). Step it with `advance_to`; read it with `adpilot.sim.reports`.
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

    oldest = today - dt.timedelta(days=history_days + 180)
    for c in range(n_campaigns):
        c_created = oldest + dt.timedelta(days=rng.randrange(120))
        camp = b.campaign(
            campaign_name(platform, c, rng),
            cbo=bool(cbo[c]),
            budget_cents=budget_for(True) if cbo[c] else 0,
            created=c_created,
        )
        for _ in range(int(sets_per_campaign[c])):
            s_created = c_created + dt.timedelta(days=rng.randrange(40))
            s = b.adset(
                camp,
                adset_name(platform, len(b.adsets), rng),
                created=s_created,
                budget_cents=0 if cbo[c] else budget_for(False),
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
    )
    market = b.build(params)
    if cvr_multiplier != 1.0:
        market.adsets.cvr = np.minimum(market.adsets.cvr * cvr_multiplier, 0.9)
    market.advance_to(today - dt.timedelta(days=1))
    return market
