"""Run a fake platform on loopback: in a background thread (tests, benchmarks) or in the
foreground (`adpilot fake-platform serve`)."""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import uvicorn

from adpilot.fakes.world import FakeWorld
from adpilot.platforms.base import PlatformName

FAKE_PLATFORMS: tuple[PlatformName, ...] = ("meta", "tiktok", "apple")


def fake_module(platform: PlatformName) -> ModuleType:
    return importlib.import_module(f"adpilot.fakes.{platform}")


class _Latency:
    """ASGI middleware: every HTTP request waits `seconds` first, like a far-away server."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.seconds > 0:
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


def build_app(world: FakeWorld, *, latency_sec: float = 0.0) -> Any:
    app = fake_module(world.platform).create_app(world)
    return _Latency(app, latency_sec) if latency_sec > 0 else app


@dataclass
class RunningFake:
    world: FakeWorld
    base_url: str

    def settings_overrides(self) -> dict[str, str]:
        overrides: dict[str, str] = fake_module(self.world.platform).settings_overrides(
            self.base_url
        )
        return overrides

    def credentials_for(self, account_id: str) -> dict[str, Any]:
        credentials: dict[str, Any] = fake_module(self.world.platform).credentials_for(
            self.world, account_id
        )
        return credentials


@contextmanager
def running_fake(
    world: FakeWorld, *, host: str = "127.0.0.1", port: int = 0, latency_sec: float = 0.0
) -> Iterator[RunningFake]:
    """Serve `world` on a loopback port in a daemon thread until the block ends."""
    config = uvicorn.Config(
        build_app(world, latency_sec=latency_sec),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"fake-{world.platform}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the fake {world.platform} server did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningFake(world, f"http://{host}:{bound}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve_forever(world: FakeWorld, *, host: str, port: int, latency_sec: float = 0.0) -> None:
    uvicorn.run(build_app(world, latency_sec=latency_sec), host=host, port=port, log_level="info")
