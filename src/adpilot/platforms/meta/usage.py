"""Meta's usage headers and the pause they call for before the next request.

Graph reports how close an app and an ad account are to their limits on every answer; reading
them lets the client slow down before Meta blocks it (codes 4/17/613/80000/80004).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Usage (percent of a limit) from which requests are paced, and the pause at a full limit
# when the platform does not say when the window resets.
SLOW_DOWN_AT = 75.0
DEFAULT_RESET_SEC = 60.0


@dataclass(frozen=True)
class Usage:
    """What the usage headers of one answer say: the highest percentage of any limit, when
    the account regains access if it is blocked, and how long the limit's window is."""

    percent: float = 0.0
    regain_sec: float = 0.0
    reset_sec: float | None = None


def _json_header(headers: Mapping[str, str], name: str) -> Any:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _pcts(entry: Any, keys: tuple[str, ...]) -> list[float]:
    if not isinstance(entry, dict):
        return []
    found = []
    for key in keys:
        try:
            found.append(float(entry[key]))
        except (KeyError, TypeError, ValueError):
            continue
    return found


def read_usage(headers: Mapping[str, str]) -> Usage:
    """Parse `X-Business-Use-Case-Usage`, `X-Ad-Account-Usage`, `X-App-Usage` (and the legacy
    insights throttle header). Percentages are 0–100; `estimated_time_to_regain_access` is in
    minutes."""
    percents: list[float] = []
    regain_min = 0.0
    buc = _json_header(headers, "x-business-use-case-usage")
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else []:
                percents += _pcts(entry, ("call_count", "total_cputime", "total_time"))
                regain_min = max(
                    regain_min, *_pcts(entry, ("estimated_time_to_regain_access",)), 0.0
                )
    account = _json_header(headers, "x-ad-account-usage")
    reset = None
    if isinstance(account, dict):
        percents += _pcts(account, ("acc_id_util_pct",))
        found = _pcts(account, ("reset_time_duration",))
        reset = found[0] if found else None
    percents += _pcts(
        _json_header(headers, "x-app-usage"), ("call_count", "total_cputime", "total_time")
    )
    percents += _pcts(
        _json_header(headers, "x-fb-ads-insights-throttle"), ("app_id_util_pct", "acc_id_util_pct")
    )
    return Usage(max(percents, default=0.0), regain_min * 60.0, reset)


def pause_for(usage: Usage) -> float:
    """Seconds to hold the next request back: the platform's own regain time when blocked,
    else a pause growing from 0 at 75% usage to the limit's whole window at 100%."""
    if usage.regain_sec > 0:
        return usage.regain_sec
    if usage.percent < SLOW_DOWN_AT:
        return 0.0
    window = usage.reset_sec if usage.reset_sec and usage.reset_sec > 0 else DEFAULT_RESET_SEC
    share = min((usage.percent - SLOW_DOWN_AT) / (100.0 - SLOW_DOWN_AT), 1.0)
    return math.ceil(window * share * 100) / 100
