"""A clock for platform clients and fakes in tests: waits are recorded and move it at once."""

from __future__ import annotations

import datetime as dt
import threading


class VirtualClock:
    """`sleep`, `monotonic` and `wall` that take no real time.

    Each sleep is recorded (to the millisecond) and moves the clock; adapters read on several
    threads, so both happen under a lock. A fake world may share the clock (`wall`).
    """

    EPOCH = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(round(seconds, 3))
            self.now += seconds

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def wall(self) -> dt.datetime:
        return self.EPOCH + dt.timedelta(seconds=self.monotonic() - self.start)
