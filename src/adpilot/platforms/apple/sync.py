"""A full read of one Apple ad account: entities, daily ad metrics and ad group breakdowns.

Round trips, in two waves of concurrent requests:
1. the account (currency, time zone) and every campaign, ad group and ad (`POST …/query`,
   deleted ones included so the local copy learns about deletions);
2. per campaign — Apple's apps reports require a `campaignId` filter — the ads report (DAILY),
   the ad groups report grouped by `countryOrRegion` (window totals), and the ad groups report
   by HOUR over the part of the window Apple allows hourly data for (the last 7 days); plus one
   geo lookup turning targeted country ids into ISO codes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adpilot.kit.clock import utcnow
from adpilot.platforms.apple import mapping
from adpilot.platforms.apple.client import AppleClient
from adpilot.platforms.apple.geo import GeoBook
from adpilot.platforms.base import (
    AccountInfo,
    AccountSnapshot,
    BreakdownMetric,
    DailyMetric,
    PlatformRejected,
    dropped_breakdown,
)

# Apple's windows: DAILY starts at most 90 days back and spans more than one day; HOURLY
# starts at most 7 days back.
HOURLY_LOOKBACK_DAYS = 7
METRIC_FIELDS = ["localSpend", "impressions", "taps", "tapInstalls"]
WITH_DELETED = {"filters": [{"field": "deleted", "operator": "IN", "value": [True, False]}]}


def account_info(client: AppleClient) -> AccountInfo:
    """`GET /v1/ad-accounts/{id}`: name, currency and time zone."""
    answer = client.request("GET", f"/v1/ad-accounts/{client.ad_account_id}")
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, dict):
        result = {}
    return AccountInfo(
        external_id=str(result.get("id") or client.ad_account_id),
        name=str(result.get("name") or f"Apple Ads account {client.ad_account_id}"),
        currency=str(result.get("currency") or "USD"),
        timezone=str(result.get("timezone") or result.get("timeZone") or "UTC"),
    )


def zone_of(info: AccountInfo) -> ZoneInfo:
    try:
        return ZoneInfo(info.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _reported(campaign: Mapping[str, Any], since: dt.date, zone: ZoneInfo) -> bool:
    """Whether a campaign can have delivery in the window (one deleted before it cannot)."""
    if not campaign.get("deleted"):
        return True
    changed = mapping.parse_time(campaign.get("modificationTime"), zone)
    return changed.astimezone(zone).date() >= since


def fetch_snapshot(
    client: AppleClient,
    geo: GeoBook,
    since: dt.date,
    until: dt.date,
    *,
    now: Callable[[], dt.datetime] = utcnow,
) -> AccountSnapshot:
    first: list[Callable[[], Any]] = [
        lambda: account_info(client),
        lambda: client.query_all("/v1/campaigns/query", WITH_DELETED),
        lambda: client.query_all("/v1/adgroups/query", WITH_DELETED),
        lambda: client.query_all("/v1/ads/query", WITH_DELETED),
    ]
    info, campaigns, groups, ads = client.map(lambda task: task(), first)
    zone = zone_of(info)
    today = now().astimezone(zone).date()
    single_day = since if since == until else None
    daily = None if single_day else "DAILY"
    hourly_since = max(since, today - dt.timedelta(days=HOURLY_LOOKBACK_DAYS))
    reported = [str(c["id"]) for c in campaigns if _reported(c, since, zone)]

    group_ids = [i for g in groups for i in mapping.country_ids_of(g)]
    # (kind, report) per campaign: the ads by day (a one-day window has totals only: DAILY
    # needs more than one day), the ad groups by country over the window, by hour lately.
    reports: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = []
    for cid in reported:
        reports.append(("ads", partial(_report, client, "ads", cid, since, until, daily)))
        country = partial(
            _report, client, "adgroups", cid, since, until, group_by="countryOrRegion"
        )
        reports.append(("country", country))
        if hourly_since <= until:
            hourly = partial(_report, client, "adgroups", cid, hourly_since, until, "HOURLY")
            reports.append(("hour", hourly))
    tasks: list[Callable[[], Any]] = [lambda: geo.isos_for(group_ids)]
    tasks += [run if kind == "ads" else partial(_refusable, run) for kind, run in reports]
    iso_by_id, *answers = client.map(lambda task: task(), tasks)
    # A breakdown the platform refuses for any campaign is left out whole, with the reason.
    refused: dict[str, PlatformRejected] = {}
    for (kind, _), answer in zip(reports, answers, strict=True):
        if isinstance(answer, PlatformRejected):
            refused.setdefault(kind, answer)

    metrics: list[DailyMetric] = []
    breakdowns: list[BreakdownMetric] = []
    hours: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (kind, _), rows in zip(reports, answers, strict=True):
        if kind in refused:
            continue
        for row in rows:
            if kind == "ads":
                metrics.extend(mapping.daily_metrics(row, single_day))
            elif kind == "country":
                breakdowns.extend(_country_breakdown(row))
            else:
                group_id = str(row["metadata"]["id"])
                for entry in row.get("granularMetrics") or []:
                    cell = hours[(group_id, mapping.report_hour(entry))]
                    for k, v in enumerate(mapping.metric_counts(entry)):
                        cell[k] += v
    for (group_id, hour), (spend, impressions, clicks, conversions) in sorted(hours.items()):
        if impressions > 0:
            breakdowns.append(
                BreakdownMetric(
                    group_id, "hour", str(hour), spend, impressions, clicks, conversions
                )
            )
    metrics.sort(key=lambda m: (m.date, m.ad_external_id))
    return AccountSnapshot(
        account=info,
        campaigns=[mapping.campaign_data(c, zone) for c in campaigns],
        adsets=[mapping.adset_data(g, iso_by_id, zone) for g in groups],
        ads=[mapping.ad_data(a, zone) for a in ads],
        metrics=metrics,
        breakdowns=breakdowns,
        dropped=[dropped_breakdown(kind, exc) for kind, exc in sorted(refused.items())],
    )


def _refusable(
    report: Callable[[], list[dict[str, Any]]],
) -> list[dict[str, Any]] | PlatformRejected:
    try:
        return report()
    except PlatformRejected as exc:
        return exc


def _report(
    client: AppleClient,
    level: str,
    campaign_id: str,
    since: dt.date,
    until: dt.date,
    granularity: str | None = None,
    *,
    group_by: str | None = None,
) -> list[dict[str, Any]]:
    """Every row of one campaign's `level` (ads, adgroups) report; no granularity = totals."""
    window: dict[str, Any] = {
        "start": since.isoformat(),
        "end": until.isoformat(),
        "timeZone": "ORTZ",
    }
    if granularity:
        window["granularity"] = granularity
    body: dict[str, Any] = {
        "filters": [{"field": "campaignId", "operator": "EQUALS", "value": campaign_id}],
        "timeRange": window,
        "fields": METRIC_FIELDS,
    }
    if group_by:
        body["groupBy"] = [group_by]
    return client.report_rows(f"/v1/reports/apps/{level}/query", body)


def _country_breakdown(row: Mapping[str, Any]) -> list[BreakdownMetric]:
    meta = row.get("metadata") or {}
    country = meta.get("countryOrRegion")
    spend, impressions, clicks, conversions = mapping.metric_counts(row.get("totalMetrics") or {})
    if not country or impressions <= 0:
        return []
    return [
        BreakdownMetric(
            str(meta["id"]), "country", str(country), spend, impressions, clicks, conversions
        )
    ]
