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
    HistoryEntry,
    MetricArrays,
)
from adpilot.sim.market import Market
from adpilot.sim.reports import AdMatrix, ad_matrix
from adpilot.sim.tables import LEARN_NAMES, LEARNED, STATUS_NAMES

WINDOW_DAYS = 30
RUN_HOUR = 6  # runs happen at 06:00 in the account's time zone (UTC in the benchmark)


def run_time(m: Market) -> dt.datetime:
    """The moment of the cycle's run: early on the first day not yet simulated."""
    today = m.through + dt.timedelta(days=1)
    return dt.datetime.combine(today, dt.time(RUN_HOUR), dt.UTC)


def _when(unix: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(unix), tz=dt.UTC)


def reported_window(m: Market, days: int = WINDOW_DAYS) -> AdMatrix:
    """The last `days` complete days (fewer when the history is shorter), as reported today."""
    until = m.through
    since = max(until - dt.timedelta(days=days - 1), m.history_start)
    return ad_matrix(m, since, until)


def observe(
    m: Market,
    *,
    target_cpa_cents: int | None,
    settings: EngineSettings,
    history: Sequence[HistoryEntry] = (),
    window: AdMatrix | None = None,
) -> EngineInput:
    """The EngineInput an optimizer run would build for this account right now."""
    mx = window if window is not None else reported_window(m)
    camps, sets, ads, creatives = m.campaigns, m.adsets, m.ads, m.creatives
    learning_reported = m.profile.reports_learning
    campaigns = [
        CampaignInput(
            id=camps.id[c],
            name=camps.name[c],
            status=STATUS_NAMES[int(camps.status[c])],
            created_at=_when(camps.created[c]),
            budget_mode="campaign" if camps.cbo[c] else "adset",
            daily_budget_cents=int(camps.budget[c]) if camps.cbo[c] else None,
        )
        for c in range(len(camps.id))
    ]
    geo = [[g for g, on in zip(m.countries, row, strict=True) if on] for row in sets.geo]
    adsets = [
        AdSetInput(
            id=sets.id[s],
            campaign_id=camps.id[int(sets.campaign[s])],
            name=sets.name[s],
            status=STATUS_NAMES[int(sets.status[s])],
            created_at=_when(sets.created[s]),
            daily_budget_cents=None if camps.cbo[int(sets.campaign[s])] else int(sets.budget[s]),
            targeting={"geo": geo[s]},
            schedule={"dayparts": [int(h) for h in np.flatnonzero(sets.hours[s])]},
            learning=(LEARN_NAMES[int(sets.learn[s])] or LEARN_NAMES[LEARNED])
            if learning_reported
            else None,
        )
        for s in range(len(sets.id))
    ]
    ad_inputs = [
        AdInput(
            id=ads.id[a],
            adset_id=sets.id[int(ads.adset[a])],
            campaign_id=camps.id[int(sets.campaign[int(ads.adset[a])])],
            name=ads.name[a],
            status=STATUS_NAMES[int(ads.status[a])],
            created_at=_when(ads.created[a]),
            ads_content_id=creatives.id[int(ads.creative[a])],
        )
        for a in range(len(ads.id))
    ]
    library = [
        CreativeInput(
            id=creatives.id[k],
            name=creatives.name[k],
            organic_score=float(creatives.score[k]),
            safety_failed=bool(creatives.safety[k]),
            pool=creatives.pool[k],
        )
        for k in range(len(creatives.id))
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
        ads=ad_inputs,
        target_cpa_cents=target_cpa_cents,
        settings=settings,
        creatives=library,
        history=list(history),
    )
