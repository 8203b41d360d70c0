"""Shared pieces of the Meta adapter tests: fresh accounts on the session's fake Meta, adapters
over real HTTP with a recording clock, and the simulated truth to compare with."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from typing import Any

from adpilot.config import Settings
from adpilot.fakes.meta.state import FakeConfig, meta_state
from adpilot.fakes.server import RunningFake
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.base import AccountSnapshot
from adpilot.platforms.http import HttpOptions
from adpilot.platforms.meta.adapter import MetaPlatform, open_live
from adpilot.platforms.registry import LiveAccount
from adpilot.sim import reports
from tests.platforms.virtual_clock import VirtualClock


def new_account() -> str:
    """An ad account id no other test uses (each is simulated on first use)."""
    return f"act_{secrets.randbelow(10**14) + 10**14}"


def window(world: FakeWorld) -> tuple[dt.date, dt.date]:
    today = world.clock().astimezone(dt.UTC).date()
    return today - dt.timedelta(days=30), today - dt.timedelta(days=1)


def adapter(
    fake: RunningFake,
    account: str,
    *,
    clock: VirtualClock | None = None,
    credentials: dict[str, Any] | None = None,
    retry_delays: tuple[float, ...] = (0.01, 0.02, 0.04),
) -> MetaPlatform:
    """The real adapter, over loopback HTTP, as `open_platform` would build it."""
    clock = clock or VirtualClock()
    options = HttpOptions(
        timeout_sec=10.0, retry_delays=retry_delays, sleep=clock.sleep, monotonic=clock.monotonic
    )
    settings = Settings(**fake.settings_overrides())  # type: ignore[arg-type]
    live = LiveAccount("meta", account, credentials or fake.credentials_for(account))
    return open_live(settings, live, options)


def truth(world: FakeWorld, account: str, since: dt.date, until: dt.date) -> AccountSnapshot:
    """What the simulated account really holds (the fake must show exactly this)."""
    with world.lock:
        return reports.snapshot(world.market(account), since, until)


def calls(world: FakeWorld, suffix: str, method: str | None = None) -> list[Any]:
    """Logged requests whose path ends with `suffix` (all of them for "")."""
    return [c for c in world.calls_to("", method) if c.path.endswith(suffix)]


def _restore(fake: RunningFake) -> None:
    """Undo a test's changes to the shared fake: its knobs, any fault it left queued, its calls."""
    with fake.world.lock:
        meta_state(fake.world).config = FakeConfig()
        fake.world.faults.clear()
    fake.world.reset_calls()


def shared_fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    fake = fake_platforms["meta"]
    _restore(fake)
    yield fake
    _restore(fake)
