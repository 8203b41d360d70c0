"""TikTok's entity and report fields in adpilot's normalised terms (money in integer cents).

TikTok sends budgets as JSON numbers and report money as decimal strings, both in the
advertiser currency's major units; a cent here is a hundredth of that unit, whatever the currency.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from adpilot.platforms.base import AdData, AdSetData, CampaignData
from adpilot.platforms.tiktok.requests import COUNTRY_LOCATION_IDS

LOCATION_COUNTRIES: dict[str, str] = {v: k for k, v in COUNTRY_LOCATION_IDS.items()}
DAY_BUDGET_MODES = frozenset({"BUDGET_MODE_DAY", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"})
ALL_HOURS = list(range(24))


def cents(value: Any) -> int:
    """Major units (a number or a decimal string) to integer cents; `-` (not applicable) is 0."""
    if value is None or value in ("", "-"):
        return 0
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return 0
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def count(value: Any) -> int:
    """A report count ("21", "21.0" or "-")."""
    if value is None or value in ("", "-"):
        return 0
    try:
        return int(Decimal(str(value)).to_integral_value(rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return 0


def ratio(value: Any) -> float | None:
    if value is None or value in ("", "-"):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def timestamp(value: Any) -> dt.datetime:
    """TikTok times are `YYYY-MM-DD HH:MM:SS` in UTC."""
    text = str(value or "").strip()
    try:
        parsed = dt.datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        try:
            parsed = dt.datetime.combine(dt.date.fromisoformat(text[:10]), dt.time())
        except ValueError:
            parsed = dt.datetime(1970, 1, 1)
    return parsed.replace(tzinfo=dt.UTC)


def report_date(value: str) -> dt.date:
    """`stat_time_day` ("2026-10-01 00:00:00") as a date (the advertiser's time zone)."""
    return dt.date.fromisoformat(value[:10])


def status(operation_status: Any, secondary_status: Any = None) -> str:
    """adpilot's status vocabulary from TikTok's operation and secondary statuses."""
    secondary = str(secondary_status or "").upper()
    operation = str(operation_status or "").upper()
    if operation == "DELETE" or secondary.endswith("_DELETE"):
        return "deleted"
    if "AUDIT_DENY" in secondary or "REJECT" in secondary:
        return "rejected"
    if operation == "ENABLE" and ("AUDIT" in secondary or "REVIEW" in secondary):
        return "in_review"
    return "active" if operation == "ENABLE" else "paused"


def learning(secondary_status: Any, entity_status: str) -> str | None:
    """Learning state of a delivering ad group; None when TikTok does not show it."""
    secondary = str(secondary_status or "").upper()
    if "LEARNING" in secondary:
        return "learning"
    if entity_status == "active" and secondary.endswith("DELIVERY_OK"):
        return "learned"
    return None


def hours(dayparting: Any) -> list[int]:
    """The hours a `dayparting` string (7 days × 48 half hours from Monday) runs on.

    Empty, all-0 and all-1 mean always on. adpilot schedules whole hours every day, so an hour
    counts as on when any of its half hours is on any day.
    """
    text = str(dayparting or "")
    if not text or set(text) == {"0"} or set(text) == {"1"}:
        return list(ALL_HOURS)
    on = {(i % 48) // 2 for i, ch in enumerate(text) if ch == "1"}
    return sorted(on)


def countries(location_ids: Any) -> list[str]:
    """ISO country codes of the targeted locations; other places keep their location id."""
    return [LOCATION_COUNTRIES.get(str(x), str(x)) for x in (location_ids or [])]


def holds_budget(item: dict[str, Any]) -> bool:
    return str(item.get("budget_mode") or "") in DAY_BUDGET_MODES


def campaign_data(item: dict[str, Any]) -> CampaignData:
    cbo = bool(item.get("budget_optimize_on"))
    return CampaignData(
        external_id=str(item["campaign_id"]),
        name=str(item.get("campaign_name") or ""),
        status=status(item.get("operation_status"), item.get("secondary_status")),
        budget_mode="campaign" if cbo else "adset",
        daily_budget_cents=cents(item.get("budget")) if cbo and holds_budget(item) else None,
        created_at=timestamp(item.get("create_time")),
    )


def adset_data(item: dict[str, Any], cbo_campaigns: set[str]) -> AdSetData:
    entity_status = status(item.get("operation_status"), item.get("secondary_status"))
    under_cbo = str(item.get("campaign_id")) in cbo_campaigns
    return AdSetData(
        external_id=str(item["adgroup_id"]),
        campaign_external_id=str(item.get("campaign_id") or ""),
        name=str(item.get("adgroup_name") or ""),
        status=entity_status,
        daily_budget_cents=adset_budget_cents(item, under_cbo),
        targeting=targeting(item),
        schedule=schedule(item),
        learning=learning(item.get("secondary_status"), entity_status),
        created_at=timestamp(item.get("create_time")),
    )


def adset_budget_cents(item: dict[str, Any], under_cbo: bool) -> int | None:
    # Under campaign budget optimisation the ad group's own budget is ignored.
    if under_cbo or not holds_budget(item):
        return None
    return cents(item.get("budget"))


def targeting(item: dict[str, Any]) -> dict[str, Any]:
    return {"geo": countries(item.get("location_ids"))}


def schedule(item: dict[str, Any]) -> dict[str, Any]:
    return {"dayparts": hours(item.get("dayparting"))}


def creative_ref(item: dict[str, Any]) -> str | None:
    """The creative an ad runs: its video, else its first image, else its Spark post."""
    if item.get("video_id"):
        return str(item["video_id"])
    images = item.get("image_ids") or []
    if images:
        return str(images[0])
    return str(item["tiktok_item_id"]) if item.get("tiktok_item_id") else None


def ad_data(item: dict[str, Any]) -> AdData:
    return AdData(
        external_id=str(item["ad_id"]),
        adset_external_id=str(item.get("adgroup_id") or ""),
        campaign_external_id=str(item.get("campaign_id") or ""),
        name=str(item.get("ad_name") or ""),
        status=status(item.get("operation_status"), item.get("secondary_status")),
        creative_external_id=creative_ref(item),
        created_at=timestamp(item.get("create_time")),
    )
