"""Per-platform parameter ranges of the simulated market (see docs: optimizer-benchmark)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from adpilot.platforms.base import PlatformName

# Attribution lag: share of a day's conversions already reported when the day is this many days
# old. Ages between knots interpolate linearly; from the last knot on, everything is reported.
LAG_AGES: tuple[int, ...] = (0, 1, 2, 3, 7, 14, 28)
LAG_NORMAL: tuple[float, ...] = (0.50, 0.80, 0.87, 0.90, 0.95, 0.98, 1.00)
LAG_HEAVY: tuple[float, ...] = (0.30, 0.55, 0.68, 0.76, 0.87, 0.95, 1.00)

# Monday..Sunday. Weekends are a little dearer and convert a little better.
WEEKDAY_CPM: tuple[float, ...] = (1.00, 0.98, 0.97, 0.99, 1.02, 1.04, 1.03)
WEEKDAY_CVR: tuple[float, ...] = (1.00, 1.01, 1.00, 0.99, 0.97, 1.02, 1.04)

# Share of a day's traffic by hour (account time zone): quiet nights, an evening peak.
# fmt: off
HOUR_TRAFFIC: tuple[float, ...] = (
    0.60, 0.40, 0.30, 0.25, 0.25, 0.35, 0.60, 0.90, 1.10, 1.20, 1.25, 1.30,
    1.35, 1.30, 1.30, 1.30, 1.35, 1.45, 1.60, 1.75, 1.80, 1.65, 1.30, 0.90,
)
# Typical conversion-rate multiplier by hour: late-night traffic converts worse.
HOUR_CVR: tuple[float, ...] = (
    0.90, 0.88, 0.86, 0.86, 0.87, 0.90, 0.94, 0.97, 1.00, 1.00, 1.01, 1.01,
    1.01, 1.01, 1.01, 1.01, 1.02, 1.03, 1.04, 1.04, 1.03, 1.01, 0.97, 0.93,
)
# fmt: on


@dataclass(frozen=True)
class PlatformProfile:
    """Ground-truth ranges for one platform; each range is read as a log-normal's ±2σ band."""

    name: PlatformName
    cpm: tuple[float, float]  # dollars per 1000 impressions, per ad set
    ctr: tuple[float, float]  # click (tap) through rate, per ad set
    cvr: tuple[float, float]  # click → conversion, per ad set
    creative_ctr_sigma: float  # spread of creatives' CTR around their ad set
    creative_cvr_sigma: float
    halflife_days: tuple[float, float] | None  # fatigue half-life at typical delivery; None = none
    fatigue_floor: tuple[float, float]
    kappa: tuple[float, float]  # delivery concentration on better ads
    learning_events: int  # 0 = the platform has no learning phase
    learning_days: int
    min_campaign_budget_cents: int
    min_adset_budget_cents: int
    adset_budgets: bool  # False: only campaigns hold budgets (Apple)
    cbo_efficiency_weight: float  # how strongly a campaign budget favours efficient ad sets
    reports_frequency: bool
    reports_learning: bool
    max_frequency: float  # daily frequency of a fully worn-out ad
    countries: tuple[str, ...]


PROFILES: dict[PlatformName, PlatformProfile] = {
    "meta": PlatformProfile(
        name="meta",
        cpm=(9.0, 16.0),
        ctr=(0.009, 0.017),
        # With the CPM and CTR bands this spans a CPA of roughly $8–55.
        cvr=(0.018, 0.11),
        creative_ctr_sigma=0.25,
        creative_cvr_sigma=0.15,
        halflife_days=(14.0, 42.0),
        fatigue_floor=(0.3, 0.6),
        kappa=(1.0, 3.0),
        learning_events=50,
        learning_days=7,
        min_campaign_budget_cents=100,
        min_adset_budget_cents=100,
        adset_budgets=True,
        cbo_efficiency_weight=1.0,
        reports_frequency=True,
        reports_learning=True,
        max_frequency=3.0,
        countries=("US", "CA", "GB", "AU", "DE", "FR", "BR", "MX"),
    ),
    "tiktok": PlatformProfile(
        name="tiktok",
        cpm=(3.0, 12.0),
        ctr=(0.005, 0.015),
        cvr=(0.017, 0.14),
        creative_ctr_sigma=0.30,
        creative_cvr_sigma=0.15,
        # TikTok audiences tire of a video faster.
        halflife_days=(7.0, 21.0),
        fatigue_floor=(0.3, 0.6),
        kappa=(1.0, 3.0),
        learning_events=25,
        learning_days=7,
        min_campaign_budget_cents=5000,
        min_adset_budget_cents=2000,
        adset_budgets=True,
        cbo_efficiency_weight=1.0,
        reports_frequency=True,
        reports_learning=True,
        max_frequency=3.5,
        countries=("US", "CA", "GB", "AU", "DE", "FR", "BR", "MX"),
    ),
    "apple": PlatformProfile(
        name="apple",
        # Search ads are bought per tap; a $0.5–4 tap at ~10% tap-through is a $50–400 CPM.
        cpm=(50.0, 400.0),
        ctr=(0.06, 0.16),
        cvr=(0.40, 0.75),
        creative_ctr_sigma=0.35,
        creative_cvr_sigma=0.20,
        halflife_days=None,
        fatigue_floor=(1.0, 1.0),
        kappa=(1.0, 2.0),
        learning_events=0,
        learning_days=0,
        min_campaign_budget_cents=100,
        min_adset_budget_cents=100,
        adset_budgets=False,
        # Apple splits a campaign's budget by search volume, not by predicted efficiency.
        cbo_efficiency_weight=0.0,
        reports_frequency=False,
        reports_learning=False,
        max_frequency=1.0,
        countries=("US", "CA", "GB", "AU", "DE", "JP"),
    ),
}


def lognormal_params(band: tuple[float, float]) -> tuple[float, float]:
    """(mu, sigma) of a log-normal whose ±2σ band is `band`."""
    lo, hi = band
    return (math.log(lo) + math.log(hi)) / 2.0, max((math.log(hi) - math.log(lo)) / 4.0, 1e-9)


def band_median(band: tuple[float, float]) -> float:
    return math.sqrt(band[0] * band[1])
