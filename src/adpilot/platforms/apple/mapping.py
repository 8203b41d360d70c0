"""Apple v1 objects ↔ adpilot's normalised types (the only place Apple money becomes cents).

Campaigns hold the budget (`dailyBudget.value`, a Money object in major units); ad groups map to
ad sets (targeting: the `country` dimension's geo ids, the `daypart` dimension's weekly slots);
ads map to ads (`creativeId` is the creative). Installs through a tap (`tapInstalls`) are the
conversions, taps are the clicks; Apple reports no frequency and no learning state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from adpilot.platforms.base import (
    AdData,
    AdSetData,
    CampaignData,
    DailyMetric,
    EntityState,
    PlatformTransientError,
)

ALL_HOURS = list(range(24))


def cents(money: Any) -> int:
    """Integer cents of a Money object (`{"amount": "12.34", "currency": "USD"}`)."""
    if money is None:
        return 0
    amount = money.get("amount") if isinstance(money, Mapping) else money
    text = str(amount)
    whole, dot, fraction = text.lstrip("-").partition(".")
    if whole.isdigit() and (not dot or (fraction.isdigit() and len(fraction) <= 2)):
        # The common case, "12.34", without Decimal: syncs read tens of thousands of these.
        quick = int(whole) * 100 + int(fraction.ljust(2, "0") or 0)
        return -quick if text.startswith("-") else quick
    try:
        exact = Decimal(text) * 100
    except InvalidOperation:
        raise PlatformTransientError(f"Apple sent an unreadable amount {amount!r}") from None
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def status_of(entity: Mapping[str, Any]) -> str:
    """adpilot's status vocabulary: deleted wins, then the advertiser's own switch."""
    if entity.get("deleted"):
        return "deleted"
    return "active" if str(entity.get("status", "")).upper() == "ENABLED" else "paused"


def parse_time(value: Any, zone: ZoneInfo) -> dt.datetime:
    """Apple timestamps (`2025-09-01T08:00:00.000`, no zone) are in the account's time zone."""
    if not value:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    text = str(value).replace("Z", "")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(dt.UTC)


def daily_budget_cents(campaign: Mapping[str, Any]) -> int | None:
    budget = campaign.get("dailyBudget")
    if isinstance(budget, Mapping) and budget.get("value") is not None:
        return cents(budget["value"])
    return None


def campaign_data(c: Mapping[str, Any], zone: ZoneInfo) -> CampaignData:
    return CampaignData(
        external_id=str(c["id"]),
        name=str(c.get("name") or ""),
        status=status_of(c),
        budget_mode="campaign",  # Apple budgets live on campaigns only
        daily_budget_cents=daily_budget_cents(c),
        created_at=parse_time(c.get("creationTime"), zone),
    )


def _dimension(targeting: Any, name: str) -> list[str] | None:
    if not isinstance(targeting, Mapping):
        return None
    value = targeting.get(name)
    if not isinstance(value, Mapping) or value.get("include") is None:
        return None
    return [str(x) for x in value["include"]]


def geo_of(group: Mapping[str, Any], iso_by_id: Mapping[str, str]) -> list[str]:
    """ISO codes of the ad group's `country` targeting (geo ids resolved; unknown ids kept)."""
    ids = _dimension(group.get("targeting"), "country") or []
    return sorted({iso_by_id.get(i, i) for i in ids})


def country_ids_of(group: Mapping[str, Any]) -> list[str]:
    return _dimension(group.get("targeting"), "country") or []


def dayparts_of(group: Mapping[str, Any]) -> list[int]:
    """Hours of the day the ad group runs: no `daypart` dimension means every hour.

    Apple's slots cover a week (0–167, 0 = Sunday 00:00); adpilot's schedule is hours of the
    day, so an hour counts as on when any day has it.
    """
    slots = _dimension(group.get("targeting"), "daypart")
    if slots is None or not slots:
        return list(ALL_HOURS)
    return sorted({int(s) % 24 for s in slots if str(s).isdigit() and 0 <= int(s) < 168})


def adset_data(g: Mapping[str, Any], iso_by_id: Mapping[str, str], zone: ZoneInfo) -> AdSetData:
    return AdSetData(
        external_id=str(g["id"]),
        campaign_external_id=str(g["campaignId"]),
        name=str(g.get("name") or ""),
        status=status_of(g),
        daily_budget_cents=None,  # ad groups hold no budget on Apple
        targeting={"geo": geo_of(g, iso_by_id)},
        schedule={"dayparts": dayparts_of(g)},
        learning=None,  # Apple reports no learning phase
        created_at=parse_time(g.get("creationTime"), zone),
    )


def ad_data(a: Mapping[str, Any], zone: ZoneInfo) -> AdData:
    creative = a.get("creativeId")
    return AdData(
        external_id=str(a["id"]),
        adset_external_id=str(a["adGroupId"]),
        campaign_external_id=str(a["campaignId"]),
        name=str(a.get("name") or ""),
        status=status_of(a),
        creative_external_id=str(creative) if creative is not None else None,
        created_at=parse_time(a.get("creationTime"), zone),
    )


def report_date(entry: Mapping[str, Any]) -> dt.date:
    return dt.date.fromisoformat(str(entry["date"])[:10])


def report_hour(entry: Mapping[str, Any]) -> int:
    """The hour of an HOURLY granular row (`2026-10-01T13:00:00.000`, or an `hour` field)."""
    if entry.get("hour") is not None:
        return int(entry["hour"]) % 24
    text = str(entry.get("date") or "")
    if len(text) >= 13 and text[10] in "T ":
        return int(text[11:13])
    raise PlatformTransientError(f"Apple sent an hourly row without an hour: {text!r}")


def metric_counts(entry: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """(spend cents, impressions, clicks, conversions) of one AppsMetrics object."""
    return (
        cents(entry.get("localSpend")),
        int(entry.get("impressions") or 0),
        int(entry.get("taps") or 0),
        int(entry.get("tapInstalls") or 0),
    )


def daily_metrics(row: Mapping[str, Any], single_day: dt.date | None) -> list[DailyMetric]:
    """An ads-report row's days; a one-day report (no granularity) has only `totalMetrics`."""
    ad_id = str(row["metadata"]["id"])
    if single_day is not None:
        entries = [{**(row.get("totalMetrics") or {}), "date": single_day.isoformat()}]
    else:
        entries = list(row.get("granularMetrics") or [])
    out = []
    for entry in entries:
        spend, impressions, clicks, conversions = metric_counts(entry)
        if spend == 0 and impressions == 0:
            continue  # no delivery that day: no row, as on every platform
        out.append(
            DailyMetric(
                ad_external_id=ad_id,
                date=report_date(entry),
                spend_cents=spend,
                impressions=impressions,
                clicks=clicks,
                conversions=conversions,
                frequency=None,
            )
        )
    return out


def campaign_state(c: Mapping[str, Any]) -> EntityState:
    return EntityState(
        entity_type="campaign",
        external_id=str(c["id"]),
        status=status_of(c),
        daily_budget_cents=daily_budget_cents(c),
    )


def adset_state(
    g: Mapping[str, Any], live_ads: list[Mapping[str, Any]], iso_by_id: Mapping[str, str]
) -> EntityState:
    creatives = sorted({str(a["creativeId"]) for a in live_ads if a.get("creativeId") is not None})
    return EntityState(
        entity_type="adset",
        external_id=str(g["id"]),
        status=status_of(g),
        daily_budget_cents=None,
        active_ads=len(live_ads),
        active_creative_external_ids=tuple(creatives),
        targeting={"geo": geo_of(g, iso_by_id)},
        schedule={"dayparts": dayparts_of(g)},
    )


def ad_state(a: Mapping[str, Any]) -> EntityState:
    creative = a.get("creativeId")
    return EntityState(
        entity_type="ad",
        external_id=str(a["id"]),
        status=status_of(a),
        creative_external_id=str(creative) if creative is not None else None,
    )
