"""Store a platform snapshot (entities, daily metrics, breakdowns) for one layer, idempotently."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.entities.models import (
    Ad,
    AdDailyMetric,
    AdsContent,
    AdSet,
    AdSetBreakdown,
    Campaign,
)
from adpilot.kit.ids import new_id
from adpilot.layers.models import AdAccount, Layer
from adpilot.platforms.base import AccountSnapshot, PlatformAuthError
from adpilot.platforms.registry import open_platform

# Runs and syncs read the last 30 complete days.
WINDOW_DAYS = 30


def _by_external_id(session: Session, model: Any, layer_id: str) -> dict[str, Any]:
    return {
        row.external_id: row
        for row in session.scalars(select(model).where(model.layer_id == layer_id))
    }


def content_ids_by_asset(session: Session, project_id: str, platform: str) -> dict[str, str]:
    """Map a platform creative ref to our creative library id."""
    rows = session.scalars(select(AdsContent).where(AdsContent.project_id == project_id))
    return {ref: row.id for row in rows if (ref := (row.asset_refs or {}).get(platform))}


def store_snapshot(
    session: Session,
    layer: Layer,
    account: AdAccount,
    snapshot: AccountSnapshot,
    since: dt.date,
    until: dt.date,
    now: dt.datetime,
) -> int:
    """Upsert entities by external id and replace the window's metrics; returns entity count.

    Safe to repeat: a retried sync step converges on the same rows.
    """
    campaigns = _by_external_id(session, Campaign, layer.id)
    for c in snapshot.campaigns:
        row = campaigns.get(c.external_id)
        if row is None:
            row = Campaign(
                id=new_id("cmp"),
                layer_id=layer.id,
                project_id=layer.project_id,
                platform=layer.platform,
                external_id=c.external_id,
            )
            session.add(row)
            campaigns[c.external_id] = row
        row.name, row.status, row.budget_mode = c.name, c.status, c.budget_mode
        row.daily_budget_cents, row.created_at, row.synced_at = (
            c.daily_budget_cents,
            c.created_at,
            now,
        )
    session.flush()

    adsets = _by_external_id(session, AdSet, layer.id)
    for s in snapshot.adsets:
        parent = campaigns.get(s.campaign_external_id)
        if parent is None:
            continue  # an ad set whose campaign the platform did not list: skip, not guess
        row = adsets.get(s.external_id)
        if row is None:
            row = AdSet(
                id=new_id("adg"),
                layer_id=layer.id,
                project_id=layer.project_id,
                external_id=s.external_id,
            )
            session.add(row)
            adsets[s.external_id] = row
        row.campaign_id, row.name, row.status = parent.id, s.name, s.status
        row.daily_budget_cents, row.targeting, row.schedule = (
            s.daily_budget_cents,
            dict(s.targeting),
            dict(s.schedule),
        )
        row.learning, row.created_at, row.synced_at = s.learning, s.created_at, now
    session.flush()

    content_ids = content_ids_by_asset(session, layer.project_id, layer.platform)
    ads = _by_external_id(session, Ad, layer.id)
    for a in snapshot.ads:
        parent_set = adsets.get(a.adset_external_id)
        if parent_set is None:
            continue
        row = ads.get(a.external_id)
        if row is None:
            row = Ad(
                id=new_id("ad"),
                layer_id=layer.id,
                project_id=layer.project_id,
                external_id=a.external_id,
            )
            session.add(row)
            ads[a.external_id] = row
        row.adset_id, row.campaign_id = parent_set.id, parent_set.campaign_id
        row.name, row.status = a.name, a.status
        row.creative_external_id = a.creative_external_id
        row.ads_content_id = content_ids.get(a.creative_external_id or "")
        row.created_at, row.synced_at = a.created_at, now
    session.flush()

    session.execute(
        delete(AdDailyMetric).where(
            AdDailyMetric.layer_id == layer.id,
            AdDailyMetric.date >= since,
            AdDailyMetric.date <= until,
        )
    )
    metric_rows = [
        {
            "ad_id": ads[m.ad_external_id].id,
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
    if metric_rows:
        session.execute(insert(AdDailyMetric), metric_rows)

    session.execute(delete(AdSetBreakdown).where(AdSetBreakdown.layer_id == layer.id))
    breakdown_rows = [
        {
            "adset_id": adsets[b.adset_external_id].id,
            "dimension": b.dimension,
            "key": b.key,
            "layer_id": layer.id,
            "spend_cents": b.spend_cents,
            "impressions": b.impressions,
            "clicks": b.clicks,
            "conversions": b.conversions,
        }
        for b in snapshot.breakdowns
        if b.adset_external_id in adsets
    ]
    if breakdown_rows:
        session.execute(insert(AdSetBreakdown), breakdown_rows)

    account.currency = snapshot.account.currency or account.currency
    account.timezone = snapshot.account.timezone or account.timezone
    return len(snapshot.campaigns) + len(snapshot.adsets) + len(snapshot.ads)


def metrics_window(timezone: str, now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The last 30 complete days in the account's time zone, ending yesterday."""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    until = now.astimezone(zone).date() - dt.timedelta(days=1)
    return until - dt.timedelta(days=WINDOW_DAYS - 1), until


def read_account(
    settings: Settings,
    factory: sessionmaker[Session],
    account: AdAccount,
    conversion_event: str | None,
    since: dt.date,
    until: dt.date,
) -> AccountSnapshot:
    """Everything the platform shows of `account` over [since, until]. A refused token is
    recorded on the account (expired or invalid) before the error goes up."""
    try:
        platform = open_platform(settings, factory, account, conversion_event=conversion_event)
        return platform.fetch_snapshot(since, until)
    except PlatformAuthError as exc:
        with transaction(factory) as session:
            acct = session.get(AdAccount, account.id)
            assert acct is not None
            acct.token_status = exc.token_status
        raise


def store_for_layer(
    session: Session,
    layer_id: str,
    account_id: str,
    snapshot: AccountSnapshot,
    since: dt.date,
    until: dt.date,
    now: dt.datetime,
) -> dict[str, int]:
    """Store a snapshot under the layer's row lock (a run's sync and a scheduled one take
    turns, so neither inserts an entity the other just did); the token proved valid."""
    layer = session.get(Layer, layer_id, with_for_update=True)
    account = session.get(AdAccount, account_id)
    assert layer is not None and account is not None
    store_snapshot(session, layer, account, snapshot, since, until, now)
    account.token_status = "valid"
    account.token_last_validated_at = now
    return {
        "campaigns": len(snapshot.campaigns),
        "adsets": len(snapshot.adsets),
        "ads": len(snapshot.ads),
        "metricRows": len(snapshot.metrics),
    }
