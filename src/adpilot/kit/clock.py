"""The one place adpilot reads the time, so tests can move it (time-machine patches this too)."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def isoformat(value: dt.datetime | None) -> str | None:
    """ISO 8601 UTC with a `Z`, second precision, as every response uses."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Dates a query may name: wide enough for any real account, narrow enough that date arithmetic
# (a window's start, the day after an end) can never leave Python's calendar.
EARLIEST_DAY = dt.date(1970, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)


def within_calendar(day: dt.date) -> bool:
    return EARLIEST_DAY <= day <= LATEST_DAY
