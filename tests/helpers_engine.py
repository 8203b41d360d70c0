"""Test helpers for the decision engine: crafted accounts and result filters."""

from __future__ import annotations

from adpilot.engine.builder import AccountBuilder, spread
from adpilot.engine.types import EngineResult, EngineSettings, Proposal

# Crafted data has no attribution lag, so the engine must not correct for one.
# Platform-neutral: the engine tests model a platform that can daypart any ad set.
NOLAG = EngineSettings(attribution_lag_correction=False, no_daypart_platforms=frozenset())
TARGET = 1000  # $10.00


def builder(**kwargs: object) -> AccountBuilder:
    kwargs.setdefault("target_cpa_cents", TARGET)
    kwargs.setdefault("settings", NOLAG)
    return AccountBuilder(**kwargs)  # type: ignore[arg-type]


def classes(result: EngineResult) -> dict[str, str]:
    return {a.entity_id: a.ad_class for a in result.assessments}


def of_type(result: EngineResult, action_type: str) -> list[Proposal]:
    return [p for p in result.proposals if p.action_type == action_type]


def fatigued_account(with_creative: bool = True) -> tuple[AccountBuilder, str]:
    """An ad whose CTR and conversions fell in the last week, beside three steady siblings."""
    b = builder()
    if with_creative:
        b.creative(id="adc_fresh", name="Fresh", organic_score=7.5)
    c = b.campaign()
    s = b.adset(c, daily_budget_cents=20_000)
    tired = b.ad(
        s,
        spend=5000,
        impressions=5000,
        clicks=[75] * 23 + [35] * 7,
        conversions=spread(7.5 * 23, 23, 23) + [2] * 7,
        frequency=[2.0] * 23 + [3.6] * 7,
        creative="adc_old",
    )
    for cpa in (800, 850, 900):
        b.steady_ad(s, spend_per_day=5000, cpa_cents=cpa)
    return b, tired


def budget_account(settings: EngineSettings = NOLAG) -> tuple[AccountBuilder, dict[str, str]]:
    """Three ad-set budgets: a clear winner, one on target and a clear loser."""
    b = builder(settings=settings)
    c = b.campaign()
    ids: dict[str, str] = {}
    for key, cpa in (("winner", 600), ("par", 1000), ("loser", 1350)):
        s = b.adset(c, name=key.title(), daily_budget_cents=6000)
        ids[key] = s
        for _ in range(3):
            b.steady_ad(s, spend_per_day=2000, cpa_cents=cpa)
    return b, ids
