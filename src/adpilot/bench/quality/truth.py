"""Ground truth the benchmark needs: response curves per budget holder and true CPAs.

Everything here reads the simulator's hidden parameters; only the oracle policy and the metrics
use it, never the policies that stand for real optimizers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from adpilot.sim.delivery import Plan, plan_day, saturation
from adpilot.sim.market import Market
from adpilot.sim.tables import F8


def typical_plan(m: Market) -> Plan:
    """Tomorrow's expected delivery at today's settings, without the day's own randomness."""
    return plan_day(m, (m.through + dt.timedelta(days=1)).toordinal(), neutral=True)


@dataclass(frozen=True)
class AdSetTruth:
    """Per ad set: conversions per dollar before saturation (a), saturation spend (h) and the
    curve's shape, and per ad the conversions per impression, all without a learning penalty.
    An ad set spending s dollars a day converts a·s / saturation(s/h, shape)."""

    a: F8  # conversions per dollar before saturation (as spend → 0 on a Michaelis–Menten curve)
    h: F8  # dollars/day
    shape: F8  # Hill exponent (1 = Michaelis–Menten)
    q_ad: F8  # per ad: conversions per impression (ad set factors included)
    cpm_eff: F8  # per ad set, dollars per 1000 impressions at today's spend
    spend: F8  # per ad set, dollars/day at today's budgets
    on: npt.NDArray[np.bool_]


def adset_truth(m: Market, plan: Plan | None = None) -> AdSetTruth:
    plan = plan or typical_plan(m)
    a_set = m.ads.adset
    n_sets = len(m.adsets.id)
    q_ad = plan.ctr * plan.cvr / np.maximum(plan.learn_mult[a_set], 1e-9)
    q_set = np.bincount(a_set, weights=plan.share * q_ad, minlength=n_sets)
    a = np.where(plan.set_on, 1000.0 * q_set / np.maximum(plan.cpm_base, 1e-9), 0.0)
    return AdSetTruth(a, plan.h_eff, m.adsets.shape, q_ad, plan.cpm_eff, plan.spend, plan.set_on)


def conversions_at(t: AdSetTruth, rows: npt.ArrayLike, spend: npt.ArrayLike) -> F8:
    """Expected conversions a day of ad sets `rows` spending `spend` dollars a day each."""
    r = np.asarray(rows)
    s = np.asarray(spend, dtype=np.float64)
    x = s / np.maximum(t.h[r], 1e-9)
    return np.asarray(t.a[r] * s / saturation(x, t.shape[r]), dtype=np.float64)


def ad_true_cpa_cents(m: Market, t: AdSetTruth) -> F8:
    """Each ad's own cost per conversion at its ad set's current (saturated) CPM, in cents."""
    a_set = m.ads.adset
    q = np.maximum(t.q_ad, 1e-12)
    return t.cpm_eff[a_set] / (1000.0 * q) * 100.0


def adset_true_cpa_cents(m: Market, t: AdSetTruth) -> F8:
    """Each ad set's average cost per conversion at its current spend, in cents."""
    conv = conversions_at(t, np.arange(len(t.a)), t.spend)
    return np.where(conv > 0, t.spend * 100.0 / np.maximum(conv, 1e-12), np.inf)
