"""Simulated ad market: ground truth, delivery, lagged reports, writes, and JSON-able state."""

from adpilot.sim.bootstrap import bootstrap_market, bootstrap_problems
from adpilot.sim.generate import generate_market, random_regime_shift
from adpilot.sim.market import Market, MarketParams, RegimeShift, SimError
from adpilot.sim.profiles import PROFILES, PlatformProfile
from adpilot.sim.reports import (
    AdMatrix,
    CreativeRecord,
    ad_matrix,
    breakdown_totals,
    breakdowns,
    creatives_data,
    daily_metrics,
    snapshot,
)
from adpilot.sim.truth import (
    Expected,
    ad_true_cpa_unsaturated,
    expected_daily,
    true_cpa_ads,
    true_cpa_adsets,
    true_totals,
)

__all__ = [
    "PROFILES",
    "AdMatrix",
    "CreativeRecord",
    "Expected",
    "Market",
    "MarketParams",
    "PlatformProfile",
    "RegimeShift",
    "SimError",
    "ad_matrix",
    "ad_true_cpa_unsaturated",
    "bootstrap_market",
    "bootstrap_problems",
    "breakdown_totals",
    "breakdowns",
    "creatives_data",
    "daily_metrics",
    "expected_daily",
    "generate_market",
    "random_regime_shift",
    "snapshot",
    "true_cpa_ads",
    "true_cpa_adsets",
    "true_totals",
]
