"""What a policy sees each cycle: the account as a sync would store it, as an EngineInput.

The same shapes the optimizer run builds from its store (`runs.stages.build_engine_input`):
entity rows with their status, budgets and learning state, the last 30 complete days of
reported (lagged) daily rows per ad, the creative library and the layer's recent actions.
Ids are the market's external ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from adpilot.engine.types import (
    AdInput,
    AdSetInput,
    CampaignInput,
    CreativeInput,
    EngineInput,
    EngineSettings,
    Goal,
    HistoryEntry,
    MetricArrays,
)
from adpilot.sim.market import Market
from adpilot.sim.reports import (
    AdMatrix,
    ad_matrix,
    ads_data,
    adsets_data,
    campaigns_data,
    creatives_data,
)

WINDOW_DAYS = 30
RUN_HOUR = 6  # runs happen at 06:00 in the account's time zone (UTC in the benchmark)


def run_time(m: Market) -> dt.datetime:
    """The moment of the cycle's run: early on the first day not yet simulated."""
    today = m.through + dt.timedelta(days=1)
    return dt.datetime.combine(today, dt.time(RUN_HOUR), dt.UTC)


def reported_window(m: Market, days: int = WINDOW_DAYS) -> AdMatrix:
    """The last `days` complete days (fewer when the history is shorter), as reported today."""
    until = m.through
    since = max(until - dt.timedelta(days=days - 1), m.history_start)
    return ad_matrix(m, since, until)


def observe(
    m: Market,
    *,
    goal: Goal | None = None,
    target_cpa_cents: int | None = None,
    settings: EngineSettings,
    history: Sequence[HistoryEntry] = (),
) -> EngineInput:
    """The EngineInput an optimizer run would build for this account right now.

    With a goal, the layer's target CPA is the goal's (a `conversion_value` layer states none).
    """
    if goal is not None:
        target_cpa_cents = goal.cents if goal.type == "target_cpa" else None
    mx = reported_window(m)
    # The entity rows a sync stores are the ones the market's own reports list.
    campaigns = [
        CampaignInput(
            id=c.external_id,
            name=c.name,
            status=c.status,
            created_at=c.created_at,
            budget_mode=c.budget_mode,
            daily_budget_cents=c.daily_budget_cents,
        )
        for c in campaigns_data(m)
    ]
    adsets = [
        AdSetInput(
            id=s.external_id,
            campaign_id=s.campaign_external_id,
            name=s.name,
            status=s.status,
            created_at=s.created_at,
            daily_budget_cents=s.daily_budget_cents,
            targeting=s.targeting,
            schedule=s.schedule,
            learning=s.learning,
        )
        for s in adsets_data(m)
    ]
    ads = [
        AdInput(
            id=a.external_id,
            adset_id=a.adset_external_id,
            campaign_id=a.campaign_external_id,
            name=a.name,
            status=a.status,
            created_at=a.created_at,
            ads_content_id=a.creative_external_id,
        )
        for a in ads_data(m)
    ]
    library = [
        CreativeInput(
            id=k.external_id,
            name=k.name,
            organic_score=k.organic_score,
            safety_failed=k.safety_failed,
            pool=k.pool,
        )
        for k in creatives_data(m)
    ]
    frequency: np.ndarray | None = None
    if m.profile.reports_frequency:
        # Days without delivery have no row on a platform, so their frequency is unknown.
        frequency = np.where(mx.impressions > 0, mx.frequency, np.nan)
    return EngineInput(
        now=run_time(m),
        platform=m.platform,
        currency=m.account.currency,
        dates=list(mx.days),
        metrics=MetricArrays(
            ad_ids=mx.ad_ids,
            spend_cents=mx.spend,
            impressions=mx.impressions,
            clicks=mx.clicks,
            conversions=mx.conversions,
            frequency=frequency,
        ),
        campaigns=campaigns,
        adsets=adsets,
        ads=ads,
        target_cpa_cents=target_cpa_cents,
        goal=goal,
        settings=settings,
        creatives=library,
        history=list(history),
    )
