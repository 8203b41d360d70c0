"""Judge one horizon of one followed proposal from the stored metrics, and record it.

The data are the layer's synced daily metrics. A day's figures are as fresh as the latest sync
whose window covered it, so the judgement's "as of" time is the oldest of those over the
horizon: a horizon is judged only once every one of its days was read after it matured.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adpilot.engine.outcomes import (
    Claim,
    Forecast,
    LagCurve,
    NotMatured,
    OutcomeInput,
    OutcomeSettings,
    Series,
    estimate_outcome,
    matures_at,
)
from adpilot.entities.models import Ad, AdDailyMetric
from adpilot.kit.ids import new_id
from adpilot.layers.models import Layer
from adpilot.outcomes.follow import MATURE_SHARE, advance, lag_curve
from adpilot.outcomes.models import ActionOutcome, Prediction
from adpilot.outcomes.views import evaluated_view
from adpilot.pending.models import PendingAction
from adpilot.runs.models import OptimizerRun
from adpilot.webhooks import service as webhooks

EVENT = "ads.action.evaluated"
MAX_COMPARABLES = 50
_DAY = dt.timedelta(days=1)
_SETTINGS = OutcomeSettings()


def _key_column(entity_type: str) -> Any:
    return {"campaign": Ad.campaign_id, "adset": Ad.adset_id}.get(entity_type, Ad.id)


def daily_series(
    session: Session, layer_id: str, entity_type: str, first: dt.date, last: dt.date
) -> dict[str, Series]:
    """Per entity of the type: daily spend and conversions over [first, last], zeros filled."""
    key = _key_column(entity_type)
    rows = session.execute(
        select(
            key,
            AdDailyMetric.date,
            func.sum(AdDailyMetric.spend_cents),
            func.sum(AdDailyMetric.conversions),
        )
        .join(Ad, Ad.id == AdDailyMetric.ad_id)
        .where(
            AdDailyMetric.layer_id == layer_id,
            AdDailyMetric.date >= first,
            AdDailyMetric.date <= last,
        )
        .group_by(key, AdDailyMetric.date)
    )
    by: dict[str, dict[dt.date, tuple[float, float]]] = defaultdict(dict)
    for entity_id, day, spend, conv in rows:
        by[entity_id][day] = (float(spend or 0), float(conv or 0))
    dates = [first + i * _DAY for i in range((last - first).days + 1)]
    return {
        e: Series(
            dates,
            [days.get(d, (0.0, 0.0))[0] for d in dates],
            [days.get(d, (0.0, 0.0))[1] for d in dates],
        )
        for e, days in by.items()
    }


def data_as_of(
    session: Session, layer_id: str, first: dt.date, last: dt.date
) -> dt.datetime | None:
    """When the figures of the days [first, last] were last read: the oldest, over those days, of
    the latest completed sync covering each (None when a day was never synced)."""
    runs = session.execute(
        select(OptimizerRun.window_since, OptimizerRun.window_until, OptimizerRun.started_at).where(
            OptimizerRun.layer_id == layer_id,
            OptimizerRun.status == "completed",
            OptimizerRun.window_since <= last,
            OptimizerRun.window_until >= first,
        )
    ).all()
    oldest: dt.datetime | None = None
    day = first
    while day <= last:
        covering = [s for since, until, s in runs if since and until and since <= day <= until]
        if not covering:
            return None
        latest = max(covering)
        oldest = latest if oldest is None or latest < oldest else oldest
        day += _DAY
    return oldest


def _changed_entities(
    session: Session, layer_id: str, since: dt.datetime, until: dt.datetime
) -> list[tuple[str, str | None, str | None, dt.datetime, str]]:
    """(entity, ad set, campaign, sent at, pending id) of every change sent in the period."""
    return [
        (r.entity_id, r.adset_id, r.campaign_id, r.dispatched_at, r.id)
        for r in session.scalars(
            select(PendingAction).where(
                PendingAction.layer_id == layer_id,
                PendingAction.status == "dispatched",
                PendingAction.dispatched_at >= since,
                PendingAction.dispatched_at < until,
            )
        )
        if r.dispatched_at is not None
    ]


def _fallback_forecast(series: Series, first: dt.date, days: int) -> Forecast:
    """No forecast was recorded (a proposal older than forecasts): the baseline's own rate."""
    idx = [i for i, d in enumerate(series.dates) if first <= d < first + days * _DAY]
    spend = sum(series.spend_cents[i] for i in idx) / max(len(idx), 1)
    conv = sum(series.conversions[i] for i in idx)
    return Forecast(spend, conv / max(len(idx), 1), conv + 1.0)


def _matured(session: Session, pred: Prediction, horizon: int, lag: LagCurve) -> dt.datetime | None:
    """When the horizon's data were read, if that was after the horizon matured."""
    first = pred.started_at.date()
    as_of = data_as_of(session, pred.layer_id, first, first + (horizon - 1) * _DAY)
    if as_of is None or as_of < matures_at(pred.started_at, horizon, lag, MATURE_SHARE):
        return None
    return as_of


def ready(session: Session, prediction_id: str, horizon: int) -> bool:
    """May this horizon be judged now (its data read mature)?"""
    pred = session.get(Prediction, prediction_id)
    layer = session.get(Layer, pred.layer_id) if pred else None
    if pred is None or layer is None:
        return False
    return _matured(session, pred, horizon, lag_curve(layer)) is not None


def build_input(
    session: Session, pred: Prediction, horizon: int, lag: LagCurve
) -> OutcomeInput | None:
    """The estimator's input, or None while the horizon's data are not yet read mature."""
    start = pred.started_at
    first = start.date()
    before = first - _SETTINGS.baseline_days * _DAY
    last = first + (horizon - 1) * _DAY
    as_of = _matured(session, pred, horizon, lag)
    if as_of is None:
        return None
    fc = pred.evidence.get("forecast") or {}
    claim: Claim | None = None
    if pred.sent:
        judged = fc.get("judged") or {"entityType": pred.entity_type, "entityId": pred.entity_id}
        forecast = fc.get("noChange")
    else:
        raw_claim = fc.get("claim")
        claim = Claim.from_json(raw_claim)
        judged = (
            raw_claim
            if claim and raw_claim
            else fc.get("judged")
            or {
                "entityType": pred.entity_type,
                "entityId": pred.entity_id,
            }
        )
        forecast = raw_claim.get("noChange") if claim and raw_claim else fc.get("noChange")
    kind, entity_id = judged["entityType"], judged["entityId"]
    all_series = daily_series(session, pred.layer_id, kind, before, last)
    empty = Series([], [], [])
    entity = all_series.get(entity_id, empty)
    if not entity.dates:
        dates = [before + i * _DAY for i in range((last - before).days + 1)]
        entity = Series(dates, [0.0] * len(dates), [0.0] * len(dates))
    no_change = (
        Forecast.from_json(forecast)
        if forecast
        else _fallback_forecast(entity, before, _SETTINGS.baseline_days)
    )
    change = Forecast.from_json(fc["change"]) if pred.sent and fc.get("change") else None

    horizon_end = dt.datetime.combine(last + _DAY, dt.time(0), dt.UTC)
    window_start = dt.datetime.combine(before, dt.time(0), dt.UTC)
    changes = _changed_entities(session, pred.layer_id, window_start, horizon_end)
    touched: set[str] = set()
    for ent, adset, campaign, _at, _pid in changes:
        touched.update(x for x in (ent, adset, campaign) if x)
    again = [
        at
        for ent, adset, campaign, at, pid in changes
        if pid != pred.pending_id and at > start and entity_id in (ent, adset, campaign)
    ]
    comparables = (
        [s for e, s in sorted(all_series.items()) if e != entity_id and e not in touched][
            :MAX_COMPARABLES
        ]
        if pred.sent
        else []
    )
    return OutcomeInput(
        changed_at=start,
        as_of=as_of,
        horizon_days=horizon,
        entity=entity,
        no_change=no_change,
        value_cents=float(pred.value_cents or 0) or _pool_value(all_series),
        change=change,
        comparables=comparables,
        lag=lag,
        sent=pred.sent,
        changed_again_at=min(again) if again else None,
        claim=claim,
        settings=_SETTINGS,
    )


def _pool_value(series: dict[str, Series]) -> float:
    """Without a target: the pool's own CPA over the period prices spend in conversions."""
    spend = sum(sum(s.spend_cents) for s in series.values())
    conv = sum(sum(s.conversions) for s in series.values())
    return spend / conv if conv > 0 else 1.0


def judge(
    session: Session, prediction_id: str, horizon: int, now: dt.datetime
) -> dict[str, Any] | None:
    """Judge and store one horizon (in the caller's transaction); the evaluated action's view,
    or None when there is nothing to do yet. Safe to repeat: a stored horizon is returned."""
    pred = session.scalars(
        select(Prediction).where(Prediction.id == prediction_id).with_for_update()
    ).one_or_none()
    if pred is None:
        return None
    stored = session.scalars(
        select(ActionOutcome).where(
            ActionOutcome.prediction_id == pred.id, ActionOutcome.horizon_days == horizon
        )
    ).first()
    if stored is not None:
        return evaluated_view(session, pred)
    if pred.status != "following" or horizon not in pred.horizons:
        return None
    layer = session.get(Layer, pred.layer_id)
    assert layer is not None
    lag = lag_curve(layer)
    inp = build_input(session, pred, horizon, lag)
    if inp is None:
        return None
    try:
        out = estimate_outcome(inp)
    except NotMatured:
        return None
    session.add(
        ActionOutcome(
            id=new_id("out"),
            prediction_id=pred.id,
            horizon_days=horizon,
            verdict=out.verdict,
            p_true=out.p_true,
            estimable=out.estimable,
            detail=out.to_json(),
            as_of=inp.as_of,
            evaluated_at=now,
        )
    )
    advance(pred, horizon, lag, now)
    pred.latest_verdict, pred.latest_horizon, pred.evaluated_at = out.verdict, horizon, now
    session.flush()
    view = evaluated_view(session, pred)
    webhooks.emit(
        session,
        organization_id=pred.organization_id,
        project_id=pred.project_id,
        event_type=EVENT,
        data=view,
    )
    return view
