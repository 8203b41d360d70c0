"""What the fake TikTok keeps beside the markets: settings, async tasks, ad creative fields,
rate-limit counters and a log of the codes it answered (all in `world.extra`)."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from adpilot.fakes.world import FakeWorld

_TASK_IDS = itertools.count(7_234_000_000_000_000_001)


@dataclass
class FakeConfig:
    """Knobs of the fake; tests change them on `fake_state(world).config`."""

    # Per-endpoint limits (TikTok's Basic tier), with the endpoints it limits harder.
    qps: int = 10
    qpm: int = 600
    qpd: int = 864_000
    endpoint_qps: dict[str, int] = field(
        default_factory=lambda: {"/report/task/create/": 2, "/ad/create/": 5}
    )
    endpoint_qpm: dict[str, int] = field(default_factory=lambda: {"/report/task/create/": 60})
    endpoint_qpd: dict[str, int] = field(default_factory=lambda: {"/report/task/create/": 4500})
    # Advertiser-level QPS per path (code 40133); None: not enforced.
    advertiser_qps: int | None = None
    # Checks an async task needs before it says SUCCESS (QUEUING, PROCESSING, …, SUCCESS).
    task_checks: int = 2
    # Synchronous reports with more rows than this answer 40067; None: never.
    report_row_limit: int | None = None
    # Currency of every simulated advertiser.
    currency: str = "USD"
    # Report dimensions this advertiser refuses (e.g. "country_code", "stat_time_hour").
    refused_dimensions: tuple[str, ...] = ()


@dataclass
class ReportTask:
    task_id: str
    advertiser_id: str
    output_format: str
    csv: str
    file_name: str
    checks: int = 0
    status: str = "QUEUING"
    message: str = ""


@dataclass(frozen=True)
class Answer:
    """One answered request: when it arrived and was answered (monotonic seconds), what, and
    the body code."""

    arrived: float
    at: float
    method: str
    path: str
    code: int | None  # None for a non-envelope answer (HTTP error, CSV file)
    http_status: int
    params: dict[str, Any] = field(default_factory=dict)  # the query, or a POST's JSON body


class Limiter:
    """Per-endpoint (and optionally per-advertiser) request counters over rolling windows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, ...], deque[float]] = {}
        self._days: dict[tuple[str, str], int] = {}

    def _full(self, key: tuple[str, ...], limit: int, span: float, now: float) -> bool:
        sent = self._windows.setdefault(key, deque())
        while sent and now - sent[0] >= span:
            sent.popleft()
        return len(sent) >= limit

    def admit(self, path: str, advertiser_id: str | None, config: FakeConfig) -> int | None:
        """None when the request may run (and it is counted), else the refusal code."""
        now = time.monotonic()
        today = dt.datetime.now(dt.UTC).date().isoformat()
        qps = config.endpoint_qps.get(path, config.qps)
        qpm = config.endpoint_qpm.get(path, config.qpm)
        qpd = config.endpoint_qpd.get(path, config.qpd)
        with self._lock:
            if (
                self._full(("s", path), qps, 1.0, now)
                or self._full(("m", path), qpm, 60.0, now)
                or self._days.get((path, today), 0) >= qpd
            ):
                return 40100
            per_advertiser = ("a", path, advertiser_id or "")
            if config.advertiser_qps is not None and self._full(
                per_advertiser, config.advertiser_qps, 1.0, now
            ):
                return 40133
            self._windows[("s", path)].append(now)
            self._windows[("m", path)].append(now)
            self._days[(path, today)] = self._days.get((path, today), 0) + 1
            if config.advertiser_qps is not None:
                self._windows[per_advertiser].append(now)
            return None


@dataclass
class FakeState:
    config: FakeConfig = field(default_factory=FakeConfig)
    limiter: Limiter = field(default_factory=Limiter)
    tasks: dict[str, ReportTask] = field(default_factory=dict)
    # Creative fields TikTok keeps per ad that the market does not (identity, text, CTA).
    ad_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A counter per advertiser bumped by every write (report caches key on it).
    revisions: dict[str, int] = field(default_factory=dict)
    report_cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    tokens_by_account: dict[str, str] = field(default_factory=dict)
    auth_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)

    def new_task_id(self) -> str:
        return str(next(_TASK_IDS))

    def bump(self, advertiser_id: str) -> None:
        self.revisions[advertiser_id] = self.revisions.get(advertiser_id, 0) + 1


def fake_state(world: FakeWorld) -> FakeState:
    """The fake's own state in `world.extra` (recreated after `world.reset()`)."""
    return world.extra_state("tiktok", FakeState)
