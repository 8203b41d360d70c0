"""Template filters for the dashboard: money in the account currency, times, labels, values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from adpilot.engine import text
from adpilot.kit.platform_names import to_short

PLATFORM_NAMES = {"meta": "Meta", "tiktok": "TikTok", "apple": "Apple Ads"}
ENTITY_NAMES = {"campaign": "Campaign", "adset": "Ad set", "ad": "Ad"}
VALUE_NAMES = {
    "dailyBudgetCents": "daily budget",
    "activeAds": "active ads",
    "adsContentId": "creative",
    "geo": "countries",
    "dayparts": "hours",
    "status": "status",
}


def money(cents: float | None, currency: str) -> str:
    """The engine's formatting, so the dashboard and the change summaries agree."""
    if cents is None:
        return "—"
    return text.money(cents, currency)


def when(value: str | dt.datetime | None) -> str:
    """`2026-11-22 14:03 UTC`; accepts the API's ISO strings or datetimes."""
    if value is None:
        return "—"
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    assert isinstance(moment, dt.datetime)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def short_date(value: str) -> str:
    """`2026-11-03` → `Nov 3` for chart axes."""
    day = dt.date.fromisoformat(value)
    return f"{day:%b} {day.day}"


def percent(probability: float | None) -> str:
    return "—" if probability is None else text.percent(probability)


WORDS = {"adset": "ad set", "api": "API"}


def label(name: str | None) -> str:
    """`update_budget` → `Update budget`; `pause_adset` → `Pause ad set`; `api` → `API`."""
    if not name:
        return "—"
    words = " ".join(WORDS.get(w, w) for w in name.split("_"))
    return words[:1].upper() + words[1:]


def platform_name(name: str) -> str:
    return PLATFORM_NAMES.get(to_short(name) or name, name)


def entity_name(entity_type: str) -> str:
    return ENTITY_NAMES.get(entity_type, entity_type)


def _one_value(key: str, value: Any, currency: str, names: Mapping[str, str]) -> str:
    if value is None:
        return "none"
    if key == "adsContentId":
        # The creative's name; the raw library id only when the creative is gone.
        return f"“{names[value]}”" if value in names else str(value)
    if key.endswith("Cents") and isinstance(value, int | float):
        return money(value, currency)
    if key == "dayparts" and isinstance(value, list):
        return ", ".join(text.hour_ranges([int(h) for h in value])) or "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def values(block: Mapping[str, Any] | None, currency: str) -> str:
    """One value block as words: `daily budget $50.00`."""
    if not block:
        return "—"
    return "; ".join(
        f"{VALUE_NAMES.get(key, key)} {_one_value(key, value, currency, {})}"
        for key, value in block.items()
    )


def change(
    current: Mapping[str, Any],
    new: Mapping[str, Any],
    currency: str,
    names: Mapping[str, str] | None = None,
) -> str:
    """A change as before → after per value: `Daily budget: $50.00 → $75.00`; creatives by
    name when `names` knows them."""
    names = names or {}
    keys = [*current, *(k for k in new if k not in current)]
    parts = []
    for key in keys:
        before = _one_value(key, current[key], currency, names) if key in current else "—"
        after = _one_value(key, new[key], currency, names) if key in new else "—"
        name = VALUE_NAMES.get(key, key)
        parts.append(f"{name[:1].upper()}{name[1:]}: {before} → {after}")
    return "; ".join(parts) or "—"


def duration(stage: Mapping[str, Any]) -> str:
    """How long a run stage took: `0.4 s`, `2 min 5 s`; empty while it is still going."""
    start, end = stage.get("startedAt"), stage.get("finishedAt")
    if not start or not end:
        return ""
    seconds = (
        dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
        - dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    ).total_seconds()
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else "<1 s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


FILTERS = {
    "money": money,
    "when": when,
    "short_date": short_date,
    "percent": percent,
    "label": label,
    "platform_name": platform_name,
    "entity_name": entity_name,
    "values": values,
    "change": change,
    "duration": duration,
}
