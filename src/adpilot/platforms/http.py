"""The HTTP plumbing every live platform client shares: one httpx client, retries, pacing.

A platform client turns each response into data or a typed `PlatformError`; this module only
decides *when* to send: it retries `PlatformTransientError`s on a short ladder (waiting at least
what the platform asked for), and lets a client pause before a call when the platform's usage
signals say it is close to a limit.
Longer outages are the durable job's business: a run or dispatch retries the whole step later.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from adpilot.config import Settings
from adpilot.platforms.base import PlatformTransientError
from adpilot.platforms.limits import PlatformLimits, local_limits, shared_limits

T = TypeVar("T")

# Never wait longer than this inside one call, whatever a platform asks: past it the error goes
# up to the durable job, which retries the whole step without holding a worker thread.
MAX_WAIT_SEC = 60.0


@dataclass(frozen=True)
class HttpOptions:
    """How a platform client talks HTTP; tests and benchmarks shorten the waits."""

    timeout_sec: float = 30.0
    retry_delays: Sequence[float] = (1.0, 2.0, 4.0, 8.0)
    max_wait_sec: float = MAX_WAIT_SEC
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    transport: httpx.BaseTransport | None = None
    user_agent: str = "adpilot"
    # Where platform limits are counted; None: in this process, on `monotonic`.
    limits: PlatformLimits | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> HttpOptions:
        values: dict[str, Any] = {
            "timeout_sec": settings.platform_timeout_sec,
            "retry_delays": tuple(settings.platform_retry_delays),
        }
        # Shared limits count on the wall clock; a caller bringing its own clock keeps its own.
        if "monotonic" not in overrides and "sleep" not in overrides:
            values["limits"] = shared_limits(settings)
        values.update(overrides)
        return cls(**values)

    def platform_limits(self) -> PlatformLimits:
        return self.limits or local_limits(self.monotonic, self.sleep)


class PlatformHttp:
    """One platform's HTTP client: a base URL, default headers, retries and pacing.

    `pace_key` names what a slow-down covers (an ad account on one API host): every client with
    the same key, in any process sharing the limits store, holds back together.
    """

    def __init__(
        self,
        base_url: str,
        options: HttpOptions | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        pace_key: str | None = None,
    ) -> None:
        self.options = options or HttpOptions()
        self.limits = self.options.platform_limits()
        self.pace_key = pace_key or f"client:{uuid.uuid4().hex}"
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=self.options.timeout_sec,
            headers={"User-Agent": self.options.user_agent, **(headers or {})},
            transport=self.options.transport,
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        self._client.close()

    # ---------------------------------------------------------------- sending

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, no retries. A network failure is a transient platform error."""
        self._wait_for_pace()
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise PlatformTransientError(f"platform timed out: {exc}") from None
        except httpx.TransportError as exc:
            raise PlatformTransientError(f"platform unreachable: {exc}") from None

    def call(
        self,
        attempt: Callable[[], T],
        *,
        retry_if: Callable[[PlatformTransientError], bool] = lambda exc: True,
    ) -> T:
        """Run `attempt` (one request and its parsing), retrying transient failures.

        The wait before a retry is the ladder's step or what the platform asked for, whichever
        is longer; a platform asking for more than `max_wait_sec` gets the error raised at once.
        A failure `retry_if` turns down goes up at once (a write that may have landed).
        """
        delays = list(self.options.retry_delays)
        for retry in range(len(delays) + 1):
            try:
                return attempt()
            except PlatformTransientError as exc:
                if retry >= len(delays) or not retry_if(exc):
                    raise
                asked = exc.retry_after or 0.0
                if asked > self.options.max_wait_sec:
                    raise
                self.options.sleep(max(float(delays[retry]), asked))
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- pacing

    def slow_down(self, seconds: float) -> None:
        """Hold the next request back by `seconds` (a usage signal says a limit is near)."""
        seconds = min(max(seconds, 0.0), self.options.max_wait_sec)
        if seconds > 0:
            now = self.limits.clock()
            self.limits.store.pause(self.pace_key, now, now + seconds)

    def _wait_for_pace(self) -> None:
        wait_for_pause(self.limits, self.pace_key, self.options)


def wait_for_pause(limits: PlatformLimits, key: str, options: HttpOptions) -> None:
    """Sleep until the pause on `key` is over; a pause longer than a call may wait goes up to
    the durable job as a transient error (nothing was sent)."""
    while True:
        gap = limits.store.paused_until(key) - limits.clock()
        if gap <= 0:
            return
        if gap > options.max_wait_sec:
            raise PlatformTransientError(
                f"not sent: the platform asked adpilot to hold back for {gap:.0f} s",
                retry_after=gap,
            )
        options.sleep(gap)


def header_seconds(response: httpx.Response, name: str) -> float | None:
    """A header holding a number of seconds (`Retry-After`, `RateLimit-Reset`), or None."""
    value = response.headers.get(name)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def in_parallel(calls: Sequence[Callable[[], T]], max_workers: int) -> list[T]:
    """Run `calls` on up to `max_workers` threads; results in order, the first failure raised.

    Platform calls spend their time waiting on the network, so threads overlap them well.
    """
    if len(calls) <= 1 or max_workers <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]
