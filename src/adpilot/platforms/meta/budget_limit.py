"""Meta's limit of 4 budget changes per ad set per hour, counted where every process sees it.

A 5th change in an hour is refused by Meta with code 17 and locks that ad set's budget for an
hour, so adpilot counts its own changes in the shared limits store (Redis in distributed mode)
and defers the 5th instead of sending it. A change takes its place in the count before it is
sent, atomically, so two workers can never both send the 4th. Campaign budgets are counted the
same way (Meta documents the limit for ad sets; a campaign budget edit re-plans all its ad sets,
so the same care is cheap).
"""

from __future__ import annotations

from adpilot.platforms.limits import LimitStore, MemoryLimitStore, Taken

CHANGES_PER_HOUR = 4
WINDOW_SEC = 3600.0

# Adapters built without a shared store (no settings) still share one count per process.
PROCESS_STORE: LimitStore = MemoryLimitStore()


class BudgetChanges:
    """Budget changes per budget holder over the last hour, and holders Meta has locked.

    `key` names one holder on one API host (`<host> <account> <object id>`); times are unix
    seconds, as every process sharing the store reads them.
    """

    def __init__(
        self, store: LimitStore, limit: int = CHANGES_PER_HOUR, window: float = WINDOW_SEC
    ) -> None:
        self.store = store
        self.limit = limit
        self.window = window

    def take(self, key: str, now: float) -> Taken:
        """A place for one change now, or when the next one frees (a lock counts as full)."""
        locked = self.store.paused_until(f"meta-budget-lock:{key}")
        if locked > now:
            return Taken(None, locked)
        return self.store.take(f"meta-budget:{key}", self.limit, now, now + self.window)

    def forget(self, key: str, token: str) -> None:
        """Meta refused the change without applying it: it does not count."""
        self.store.drop(f"meta-budget:{key}", token)

    def lock(self, key: str, now: float, seconds: float) -> None:
        """Meta refused a change with code 17: the holder's budget is locked for a while."""
        self.store.pause(f"meta-budget-lock:{key}", now, now + seconds)
