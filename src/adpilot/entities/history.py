"""How much daily history a layer keeps: a backfill on first sync and a retention horizon.

The optimizer reads 30 days, but a backtest replays up to 12 weeks with a 30-day window each, so
at least 90 days (and up to `RETENTION_DAYS`) of synced daily metrics are kept per layer.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from adpilot.entities.models import Ad, AdDailyMetric
from adpilot.layers.models import Layer
from adpilot.platforms.base import AccountSnapshot

BACKFILL_DAYS = 90
# 12 replayed weeks plus a 30-day window, with a little room.
RETENTION_DAYS = 120


def backfill_since(
    session: Session, layer: Layer, since: dt.date, until: dt.date
) -> dt.date | None:
    """The first day to backfill before `since` on a layer's first sync, else None.

    Only once: a young account whose platform has nothing older is not asked again every run.
    """
    stored = session.scalar(
        select(AdDailyMetric.date).where(AdDailyMetric.layer_id == layer.id).limit(1)
    )
    start = until - dt.timedelta(days=BACKFILL_DAYS - 1)
    return None if stored is not None or start >= since else start


def store_history(
    session: Session, layer: Layer, snapshot: AccountSnapshot, since: dt.date, until: dt.date
) -> int:
    """Replace the layer's daily metrics in [since, until] from `snapshot` (entities untouched:
    the run's own snapshot stored them); rows of ads we do not know are skipped."""
    ads = {
        ext: ad_id
        for ext, ad_id in session.execute(
            select(Ad.external_id, Ad.id).where(Ad.layer_id == layer.id)
        )
    }
    session.execute(
        delete(AdDailyMetric).where(
            AdDailyMetric.layer_id == layer.id,
            AdDailyMetric.date >= since,
            AdDailyMetric.date <= until,
        )
    )
    rows = [
        {
            "ad_id": ads[m.ad_external_id],
            "date": m.date,
            "layer_id": layer.id,
            "spend_cents": m.spend_cents,
            "impressions": m.impressions,
            "clicks": m.clicks,
            "conversions": m.conversions,
            "frequency": m.frequency,
        }
        for m in snapshot.metrics
        if m.ad_external_id in ads and since <= m.date <= until
    ]
    if rows:
        session.execute(insert(AdDailyMetric), rows)
    return len(rows)


def prune(session: Session, layer: Layer, until: dt.date) -> None:
    """Drop daily metrics older than the retention horizon."""
    session.execute(
        delete(AdDailyMetric).where(
            AdDailyMetric.layer_id == layer.id,
            AdDailyMetric.date <= until - dt.timedelta(days=RETENTION_DAYS),
        )
    )
