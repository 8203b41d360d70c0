"""Ground-truth queries for oracles and benchmarks: expected delivery and true CPAs, no noise."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from adpilot.sim.delivery import plan_day

if TYPE_CHECKING:
    from adpilot.sim.market import Market

F8 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Expected:
    """Expected delivery of one typical day at the current state (per ad and per ad set)."""

    ad_spend: F8  # dollars
    ad_impressions: F8
    ad_clicks: F8
    ad_conversions: F8
    adset_spend: F8
    adset_conversions: F8

    @property
    def total_spend(self) -> float:
        return float(self.ad_spend.sum())

    @property
    def total_conversions(self) -> float:
        return float(self.ad_conversions.sum())


def expected_daily(
    m: Market,
    *,
    day: dt.date | None = None,
    campaign_budgets: Mapping[str, int] | None = None,
    adset_budgets: Mapping[str, int] | None = None,
    typical: bool = True,
) -> Expected:
    """Expected outcome of `day` (default: the next day to simulate) with today's state.

    Budgets can be overridden (external id → cents) to ask "what if": an oracle probes marginal
    returns this way. `typical` drops the weekday pattern and regime shift.
    """
    target = (day or m.through + dt.timedelta(days=1)).toordinal()
    c_budget = m.campaigns.budget.copy()
    s_budget = m.adsets.budget.copy()
    for ext, cents in (campaign_budgets or {}).items():
        c_budget[m.index_of("campaign", ext)] = cents
    for ext, cents in (adset_budgets or {}).items():
        s_budget[m.index_of("adset", ext)] = cents
    plan = plan_day(m, target, budget_cents=(c_budget, s_budget), neutral=typical)
    a_set = m.ads.adset
    imps = plan.impressions[a_set] * plan.share
    spend = imps * plan.cpm_eff[a_set] / 1000.0
    clicks = imps * plan.ctr
    conv = clicks * plan.cvr
    n_sets = len(m.adsets.id)
    return Expected(
        ad_spend=spend,
        ad_impressions=imps,
        ad_clicks=clicks,
        ad_conversions=conv,
        adset_spend=np.bincount(a_set, weights=spend, minlength=n_sets).astype(np.float64),
        adset_conversions=np.bincount(a_set, weights=conv, minlength=n_sets).astype(np.float64),
    )


def _cpa_cents(spend: F8, conv: F8) -> F8:
    return np.where(conv > 0, spend * 100.0 / np.where(conv > 0, conv, 1.0), math.inf)


def true_cpa_ads(m: Market) -> dict[str, float]:
    """True expected CPA in cents per ad that is delivering (inf when it converts nothing)."""
    e = expected_daily(m)
    cpa = _cpa_cents(e.ad_spend, e.ad_conversions)
    return {m.ads.id[i]: float(cpa[i]) for i in np.flatnonzero(e.ad_spend > 0)}


def true_cpa_adsets(m: Market) -> dict[str, float]:
    e = expected_daily(m)
    cpa = _cpa_cents(e.adset_spend, e.adset_conversions)
    return {m.adsets.id[i]: float(cpa[i]) for i in np.flatnonzero(e.adset_spend > 0)}


def ad_true_cpa_unsaturated(m: Market) -> dict[str, float]:
    """Each live ad's CPA in cents if it got the ad set's delivery now (fatigue included).

    Unlike `true_cpa_ads` this is defined for paused ads too, which is what "was this pause a
    false pause?" needs: the ad's own cost per conversion, not whether it happens to deliver.
    """
    plan = plan_day(m, (m.through + dt.timedelta(days=1)).toordinal(), neutral=True)
    sets = m.adsets
    a_set = m.ads.adset
    fatigue = plan.fatigue
    ctr = np.clip(sets.ctr[a_set] * m.ads.ctr * fatigue, 0.0, 0.95)
    cvr = np.clip(sets.cvr[a_set] * m.ads.cvr, 0.0, 0.95)
    # Use the ad set's base CPM (no saturation): a property of the ad, not of today's budget.
    cpa = sets.cpm[a_set] / (1000.0 * ctr * cvr) * 100.0
    return {m.ads.id[i]: float(cpa[i]) for i in range(len(m.ads.id))}


def true_totals(m: Market, since: dt.date, until: dt.date) -> tuple[int, int]:
    """(spend cents, true conversions) actually delivered over [since, until]."""
    hist = m.history
    lo = max(since.toordinal(), hist.day0)
    hi = min(until.toordinal(), hist.day0 + hist.days - 1)
    spend = conv = 0
    for d in range(lo, hi + 1):
        spend += int(hist.spend[d - hist.day0].sum())
        conv += int(hist.conversions[d - hist.day0].sum())
    return spend, conv
