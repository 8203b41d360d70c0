"""The holdout report of a layer: this period's arms and the incrementality estimate so far."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adpilot.entities.models import Ad, AdDailyMetric
from adpilot.holdout import incrementality
from adpilot.holdout.assign import CADENCE_DAYS, period_start
from adpilot.holdout.models import HoldoutAssignment
from adpilot.layers.models import Layer

_DAY = dt.timedelta(days=1)


def _daily(
    session: Session, layer_id: str, column: Any
) -> dict[str, dict[dt.date, tuple[int, int]]]:
    """Holder id (by `column`: the ad's campaign or ad set) → date → (spend, conversions)."""
    rows = session.execute(
        select(
            column,
            AdDailyMetric.date,
            func.sum(AdDailyMetric.spend_cents),
            func.sum(AdDailyMetric.conversions),
        )
        .join(Ad, Ad.id == AdDailyMetric.ad_id)
        .where(AdDailyMetric.layer_id == layer_id)
        .group_by(column, AdDailyMetric.date)
    )
    out: dict[str, dict[dt.date, tuple[int, int]]] = defaultdict(dict)
    for key, day, spend, conv in rows:
        out[key][day] = (int(spend or 0), int(conv or 0))
    return out


def _window(days: dict[dt.date, tuple[int, int]], start: dt.date, end: dt.date) -> tuple[int, int]:
    spend = conv = 0
    d = start
    while d <= end:
        s, c = days.get(d, (0, 0))
        spend, conv, d = spend + s, conv + c, d + _DAY
    return spend, conv


def units(session: Session, layer: Layer) -> list[incrementality.Unit]:
    """One unit per recorded holder-period with data before and in the period."""
    last = session.scalar(
        select(func.max(AdDailyMetric.date)).where(AdDailyMetric.layer_id == layer.id)
    )
    if last is None:
        return []
    by_level = {
        "campaign": _daily(session, layer.id, Ad.campaign_id),
        "adset": _daily(session, layer.id, Ad.adset_id),
    }
    out = []
    for a in session.scalars(
        select(HoldoutAssignment).where(HoldoutAssignment.layer_id == layer.id)
    ):
        days = by_level.get(a.entity_type, {}).get(a.entity_id, {})
        end = min(a.period_start + (CADENCE_DAYS - 1) * _DAY, last)
        post_days = (end - a.period_start).days + 1
        if post_days <= 0:
            continue
        pre_s, pre_c = _window(
            days, a.period_start - incrementality.PRE_DAYS * _DAY, a.period_start - _DAY
        )
        post_s, post_c = _window(days, a.period_start, end)
        out.append(
            incrementality.Unit(
                a.held, pre_c, pre_s, incrementality.PRE_DAYS, post_c, post_s, post_days
            )
        )
    return out


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100.0 * x, 1)


def report_to_api(r: incrementality.Report) -> dict[str, Any]:
    def interval(lo: float | None, hi: float | None) -> list[float | None] | None:
        return None if lo is None else [_pct(lo), _pct(hi)]

    return {
        "enoughData": r.enough,
        "message": r.reason,
        "treatedHolders": r.treated,
        "heldOutHolders": r.held_out,
        "days": r.post_days,
        "conversionLiftPct": _pct(r.lift),
        "conversionLiftCi95Pct": interval(r.low, r.high),
        "cpaChangePct": _pct(r.cpa_change),
        "cpaChangeCi95Pct": interval(r.cpa_low, r.cpa_high),
        "addedConversions": None if r.added_conversions is None else round(r.added_conversions, 1),
        "addedConversionsCi95": None
        if r.added_low is None
        else [round(r.added_low, 1), round(r.added_high or 0.0, 1)],
        "weeksNeeded": r.weeks_needed,
    }


def holdout_report(session: Session, layer: Layer, today: dt.date) -> dict[str, Any]:
    period = period_start(today)
    current = list(
        session.scalars(
            select(HoldoutAssignment).where(
                HoldoutAssignment.layer_id == layer.id, HoldoutAssignment.period_start == period
            )
        )
    )
    return {
        "layerId": layer.id,
        "holdoutShare": layer.holdout_share,
        "cadenceDays": CADENCE_DAYS,
        "currentPeriod": {
            "start": period.isoformat(),
            "end": (period + (CADENCE_DAYS - 1) * _DAY).isoformat(),
            "heldOut": sorted(a.entity_id for a in current if a.held),
            "treated": sorted(a.entity_id for a in current if not a.held),
        },
        "incrementality": report_to_api(incrementality.estimate(units(session, layer))),
    }
