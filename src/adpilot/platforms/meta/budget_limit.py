"""Meta's limit of 4 budget changes per ad set per hour, respected on our side too.

A 5th change in an hour is refused by Meta with code 17 and locks that ad set's budget for an
hour, so we count our own changes and refuse the 5th locally (a transient error carrying the
wait) instead of sending it. The ledger lives in the process: every adapter opened in it shares
the count. Campaign budgets are counted the same way (Meta documents the limit for ad sets; a
campaign budget edit re-plans all its ad sets, so the same care is cheap).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Hashable

CHANGES_PER_HOUR = 4
WINDOW = dt.timedelta(hours=1)


class BudgetEditLedger:
    """Budget changes per budget holder over the last hour, and holders Meta has locked."""

    def __init__(self, limit: int = CHANGES_PER_HOUR, window: dt.timedelta = WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._edits: dict[Hashable, list[dt.datetime]] = {}
        self._locked_until: dict[Hashable, dt.datetime] = {}

    def wait_before_edit(self, key: Hashable, now: dt.datetime) -> float:
        """Seconds until another budget change of `key` is allowed (0: allowed now)."""
        with self._lock:
            recent = [t for t in self._edits.get(key, []) if t > now - self.window]
            self._edits[key] = recent
            waits = [0.0]
            locked = self._locked_until.get(key)
            if locked is not None and locked > now:
                waits.append((locked - now).total_seconds())
            if len(recent) >= self.limit:
                # The oldest of the last `limit` changes must leave the window first.
                oldest = sorted(recent)[-self.limit]
                waits.append((oldest + self.window - now).total_seconds())
            return max(waits)

    def record_edit(self, key: Hashable, now: dt.datetime) -> None:
        with self._lock:
            self._edits.setdefault(key, []).append(now)

    def lock(self, key: Hashable, now: dt.datetime, seconds: float) -> None:
        """Meta refused a change with code 17: the holder's budget is locked for a while."""
        with self._lock:
            self._locked_until[key] = now + dt.timedelta(seconds=seconds)


# Shared by every Meta adapter in the process.
LEDGER = BudgetEditLedger()
