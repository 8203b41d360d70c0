"""Helpers for the Apple adapter tests: fresh account ids, adapters on the session's fake, a
virtual clock."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

from adpilot.config import Settings
from adpilot.fakes.server import RunningFake
from adpilot.fakes.world import Call, FakeWorld
from adpilot.platforms.apple.adapter import ApplePlatform, open_live
from adpilot.platforms.base import WriteRequest
from adpilot.platforms.http import HttpOptions
from adpilot.platforms.registry import LiveAccount

_numbers = itertools.count(1)


def new_account_id() -> str:
    """An ad account id no other test of this process uses (the fake world lives all session)."""
    return f"4{os.getpid() % 10000:04d}{next(_numbers):04d}"


def window(days: int = 30) -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=days), today - dt.timedelta(days=1)


def shared_fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    """The session's fake Apple Ads; faults a test queued and left unused are dropped after it."""
    fake = fake_platforms["apple"]
    yield fake
    with fake.world.lock:
        fake.world.faults.clear()


def options(**overrides: Any) -> HttpOptions:
    values: dict[str, Any] = {"retry_delays": (0.01, 0.02, 0.04), "timeout_sec": 10.0}
    values.update(overrides)
    return HttpOptions(**values)


def adapter(
    fake: RunningFake,
    account_id: str,
    *,
    creds: dict[str, Any] | None = None,
    http: HttpOptions | None = None,
) -> ApplePlatform:
    settings = Settings(**fake.settings_overrides())  # type: ignore[arg-type]
    live = LiveAccount("apple", account_id, creds or fake.credentials_for(account_id))
    return open_live(settings, live, http or options())


def calls(world: FakeWorld, since: int, keep: Callable[[Call], bool] | None = None) -> list[Call]:
    """The calls logged after the first `since`, optionally filtered."""
    with world.lock:
        logged = list(world.calls[since:])
    return [c for c in logged if keep is None or keep(c)]


def sent(world: FakeWorld, since: int) -> list[tuple[str, str, int]]:
    """(method, path, status) of the writes logged after the first `since` calls."""
    return [
        (c.method, c.path, c.status)
        for c in calls(world, since)
        if c.method in ("PUT", "DELETE") or (c.method == "POST" and c.path == "/v1/ads")
    ]


def mark(world: FakeWorld) -> int:
    with world.lock:
        return len(world.calls)


def write(
    action: str,
    entity_type: str,
    entity_id: str,
    new: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    current: dict[str, Any] | None = None,
) -> WriteRequest:
    return WriteRequest(
        action,  # type: ignore[arg-type]
        entity_type,  # type: ignore[arg-type]
        entity_id,
        current or {},
        new or {},
        idempotency_key="pa_test",
        context=context or {},
    )
