"""Graph objects and insight rows → adpilot's normalised types; money in and out of cents.

adpilot keeps money in cents (1/100 of the major unit). Meta budgets are integers in the
currency's minimum unit (cents for USD, whole yen for JPY: the "offset"); insights spend is a
decimal string in major units. Conversion happens here and in `requests.budget_minor_units`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from adpilot.platforms.base import (
    AdData,
    AdSetData,
    BreakdownMetric,
    CampaignData,
    DailyMetric,
    EntityState,
)
from adpilot.platforms.meta.requests import ZERO_DECIMAL_CURRENCIES

# The conversion counted when the layer names none: app installs (adpilot optimises app
# campaigns first). Friendly names map to Meta action types; anything else is taken verbatim.
DEFAULT_CONVERSION_EVENT = "mobile_app_install"
EVENT_ALIASES = {
    "install": "mobile_app_install",
    "installs": "mobile_app_install",
    "app_install": "mobile_app_install",
    "app_installs": "mobile_app_install",
    "purchase": "omni_purchase",
    "purchases": "omni_purchase",
}
HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
_LEARNING = {"LEARNING": "learning", "SUCCESS": "learned", "FAIL": "limited"}
_IN_REVIEW = frozenset({"PENDING_REVIEW", "IN_PROCESS"})


def action_type_for(event: str | None) -> str:
    if not event:
        return DEFAULT_CONVERSION_EVENT
    return EVENT_ALIASES.get(event.strip().lower(), event.strip())


# --- money ----------------------------------------------------------------------------------


def minor_to_cents(value: Any, currency: str) -> int:
    """A budget in Meta's minimum currency unit (string or int) → cents."""
    units = int(str(value))
    return units * 100 if currency.upper() in ZERO_DECIMAL_CURRENCIES else units


def major_to_cents(value: Any) -> int:
    """A decimal amount in major units ("42.17") → cents, rounded half up."""
    if value is None or value == "":
        return 0
    try:
        return int((Decimal(str(value)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise ValueError(f"not a money amount: {value!r}") from None


def _budget_set(value: Any) -> bool:
    return value not in (None, "", "0", 0)


def daily_budget_cents(obj: dict[str, Any], currency: str) -> int | None:
    """The object's daily budget in cents; None when it holds none (or a lifetime budget)."""
    daily = obj.get("daily_budget")
    return minor_to_cents(daily, currency) if _budget_set(daily) else None


# --- entities -------------------------------------------------------------------------------


def parse_time(value: Any) -> dt.datetime:
    """Graph times look like 2026-10-01T12:00:00-0700; unix seconds are accepted too."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    text = str(value)
    try:
        parsed = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def entity_status(obj: dict[str, Any]) -> str:
    """Our status vocabulary from the configured status and Meta's effective status.

    The object's own setting decides (an ad under a paused ad set is still `active`); review
    and disapproval show through the effective status.
    """
    configured = str(obj.get("status") or obj.get("configured_status") or "").upper()
    effective = str(obj.get("effective_status") or "").upper()
    if "DELETED" in (configured, effective):
        return "deleted"
    if "ARCHIVED" in (configured, effective):
        return "archived"
    if effective == "DISAPPROVED":
        return "rejected"
    if configured == "PAUSED":
        return "paused"
    if effective in _IN_REVIEW:
        return "in_review"
    return "active"


def countries(targeting: Any) -> list[str]:
    geo = (targeting or {}).get("geo_locations") or {}
    return [str(c).upper() for c in geo.get("countries") or []]


def dayparts(adset: dict[str, Any]) -> list[int]:
    """Hours of the day the ad set may deliver on some day; all 24 without dayparting."""
    pacing = adset.get("pacing_type") or []
    blocks = adset.get("adset_schedule") or []
    if "day_parting" not in pacing or not blocks:
        return list(range(24))
    hours: set[int] = set()
    for block in blocks:
        start = int(block.get("start_minute", 0)) // 60
        end = math.ceil(int(block.get("end_minute", 0)) / 60)
        hours.update(range(max(start, 0), min(end, 24)))
    return sorted(hours)


def campaign_data(obj: dict[str, Any], currency: str) -> CampaignData:
    holds = _budget_set(obj.get("daily_budget")) or _budget_set(obj.get("lifetime_budget"))
    return CampaignData(
        external_id=str(obj["id"]),
        name=str(obj.get("name") or ""),
        status=entity_status(obj),
        budget_mode="campaign" if holds else "adset",
        daily_budget_cents=daily_budget_cents(obj, currency),
        created_at=parse_time(obj.get("created_time") or 0),
    )


def adset_data(obj: dict[str, Any], currency: str) -> AdSetData:
    learning = (obj.get("learning_stage_info") or {}).get("status")
    return AdSetData(
        external_id=str(obj["id"]),
        campaign_external_id=str(obj.get("campaign_id") or ""),
        name=str(obj.get("name") or ""),
        status=entity_status(obj),
        daily_budget_cents=daily_budget_cents(obj, currency),
        targeting={"geo": countries(obj.get("targeting"))},
        schedule={"dayparts": dayparts(obj)},
        learning=_LEARNING.get(str(learning).upper()) if learning else None,
        created_at=parse_time(obj.get("created_time") or 0),
    )


def creative_id(obj: dict[str, Any]) -> str | None:
    creative = obj.get("creative") or {}
    return str(creative["id"]) if creative.get("id") else None


def ad_data(obj: dict[str, Any]) -> AdData:
    return AdData(
        external_id=str(obj["id"]),
        adset_external_id=str(obj.get("adset_id") or ""),
        campaign_external_id=str(obj.get("campaign_id") or ""),
        name=str(obj.get("name") or ""),
        status=entity_status(obj),
        creative_external_id=creative_id(obj),
        created_at=parse_time(obj.get("created_time") or 0),
    )


def campaign_state(obj: dict[str, Any], currency: str) -> EntityState:
    return EntityState(
        entity_type="campaign",
        external_id=str(obj["id"]),
        status=entity_status(obj),
        daily_budget_cents=daily_budget_cents(obj, currency),
    )


def adset_state(obj: dict[str, Any], ads: Iterable[dict[str, Any]], currency: str) -> EntityState:
    running = [a for a in ads if entity_status(a) == "active"]
    return EntityState(
        entity_type="adset",
        external_id=str(obj["id"]),
        status=entity_status(obj),
        daily_budget_cents=daily_budget_cents(obj, currency),
        active_ads=len(running),
        active_creative_external_ids=tuple(
            sorted({c for a in running if (c := creative_id(a)) is not None})
        ),
        targeting={"geo": countries(obj.get("targeting"))},
        schedule={"dayparts": dayparts(obj)},
    )


def ad_state(obj: dict[str, Any]) -> EntityState:
    return EntityState(
        entity_type="ad",
        external_id=str(obj["id"]),
        status=entity_status(obj),
        creative_external_id=creative_id(obj),
    )


# --- insights -------------------------------------------------------------------------------


def _count(value: Any) -> int:
    if value is None or value == "":
        return 0
    return round(float(value))


def conversions(row: dict[str, Any], action_type: str) -> int:
    return sum(
        _count(a.get("value"))
        for a in row.get("actions") or []
        if isinstance(a, dict) and a.get("action_type") == action_type
    )


def daily_metric(row: dict[str, Any], action_type: str) -> DailyMetric:
    frequency = row.get("frequency")
    return DailyMetric(
        ad_external_id=str(row["ad_id"]),
        date=dt.date.fromisoformat(str(row["date_start"])),
        spend_cents=major_to_cents(row.get("spend")),
        impressions=_count(row.get("impressions")),
        clicks=_count(row.get("clicks")),
        conversions=conversions(row, action_type),
        frequency=float(frequency) if frequency not in (None, "") else None,
    )


def breakdown_metric(
    row: dict[str, Any], dimension: Literal["country", "hour"], action_type: str
) -> BreakdownMetric:
    if dimension == "country":
        key = str(row["country"]).upper()
    else:
        # "07:00:00 - 07:59:59" → "7"
        key = str(int(str(row[HOURLY]).split(":", 1)[0]))
    return BreakdownMetric(
        adset_external_id=str(row["adset_id"]),
        dimension=dimension,
        key=key,
        spend_cents=major_to_cents(row.get("spend")),
        impressions=_count(row.get("impressions")),
        clicks=_count(row.get("clicks")),
        conversions=conversions(row, action_type),
    )
