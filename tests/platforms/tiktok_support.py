"""Shared pieces of the TikTok tests: fresh advertisers on the session's fake, adapters, a clock.

The fake server runs for the whole session (one per xdist worker); each test works on its own
advertiser ids, and `shared_fake` (every file's `fake` fixture) drops queued faults and restores
the fake's settings before and after it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator
from typing import Any

from adpilot.config import Settings
from adpilot.fakes.server import RunningFake
from adpilot.fakes.tiktok import FakeConfig, fake_state
from adpilot.fakes.tiktok.state import Answer, Limiter
from adpilot.platforms.base import AccountSnapshot
from adpilot.platforms.http import HttpOptions
from adpilot.platforms.registry import LiveAccount, open_live
from adpilot.platforms.tiktok.adapter import TikTokPlatform
from adpilot.sim import reports
from adpilot.sim.market import Market
from tests.platforms.virtual_clock import VirtualClock

_serial = itertools.count(1)


def new_advertiser() -> str:
    """An advertiser id no other test (or xdist worker) uses."""
    return f"71{os.getpid() % 10**7:07d}{next(_serial):09d}"


def clean_fake(fake: RunningFake) -> None:
    with fake.world.lock:
        fake.world.faults.clear()
        state = fake_state(fake.world)
        state.config = FakeConfig()
        state.limiter = Limiter()


def shared_fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    """The session's TikTok fake, clean before and after a test (its `fake` fixture)."""
    fake = fake_platforms["tiktok"]
    clean_fake(fake)
    yield fake
    clean_fake(fake)


def options(clock: VirtualClock | None = None, **overrides: Any) -> HttpOptions:
    values: dict[str, Any] = {"retry_delays": (0.01, 0.02, 0.04), "timeout_sec": 10.0}
    if clock is not None:
        values.update(sleep=clock.sleep, monotonic=clock.monotonic)
    values.update(overrides)
    return HttpOptions(**values)


def adapter(
    fake: RunningFake,
    advertiser: str,
    *,
    clock: VirtualClock | None = None,
    token: str | None = None,
    hourly_days: int | None = None,
    **overrides: Any,
) -> TikTokPlatform:
    settings = Settings(**fake.settings_overrides())  # type: ignore[arg-type]
    credentials = {"accessToken": token} if token is not None else fake.credentials_for(advertiser)
    live = LiveAccount("tiktok", advertiser, credentials)
    platform = open_live(settings, live, options(clock, **overrides))
    assert isinstance(platform, TikTokPlatform)
    if hourly_days is not None:
        platform.hourly_days = hourly_days
    return platform


def window(fake: RunningFake, advertiser: str) -> tuple[dt.date, dt.date]:
    """The 30 complete days a run would sync (the account's zone, ending yesterday)."""
    until = market(fake, advertiser).through
    return until - dt.timedelta(days=29), until


def market(fake: RunningFake, advertiser: str) -> Market:
    return fake.world.market(advertiser)


def truth(fake: RunningFake, advertiser: str, since: dt.date, until: dt.date) -> AccountSnapshot:
    """What the simulator says a faithful read of the account returns."""
    with fake.world.lock:
        return reports.snapshot(market(fake, advertiser), since, until)


def answers_since(fake: RunningFake, mark: int) -> list[Answer]:
    return list(fake_state(fake.world).answers[mark:])


def mark(fake: RunningFake) -> int:
    return len(fake_state(fake.world).answers)
