"""Browser harness: the app served over real HTTP on loopback, driven by Debian's Chromium through
Playwright. No browser is downloaded; under CI a missing Chromium fails the run."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from adpilot.app import create_app
from adpilot.deps import AppContext

CHROMIUM = Path(os.environ.get("ADPILOT_CHROMIUM", "/usr/bin/chromium"))
# The documented screenshots are rewritten only when asked for (`ADPILOT_UPDATE_SCREENSHOTS=1`):
# pages carry times, so every run would otherwise leave the tree modified. Without it the
# screenshots are still taken, into a scratch folder.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREENSHOTS = (
    DOCS_SCREENSHOTS
    if os.environ.get("ADPILOT_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "adpilot-screenshots"
)
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
MAX_SHOT_HEIGHT = 1800
# Quiet and reproducible: no GPU, no QUIC, no first-run or background traffic of its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.browser)


def _chromium_or_skip() -> Path:
    if CHROMIUM.is_file():
        return CHROMIUM
    message = (
        f"Chromium is not installed at {CHROMIUM}: install Debian's package "
        "(`apt-get install -y chromium`, as root; `make test` and .ci/run do this when they can)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture()
def live_server(ctx: AppContext) -> Iterator[str]:
    """The real app on a loopback port, in this process so it shares the test's database."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(ctx), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@dataclass
class Browser:
    """One Chromium page with a fresh profile; console errors and page errors are collected."""

    page: Any
    base: str
    errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        return self.page.goto(f"{self.base}{path}", wait_until="load")

    def width(self, size: dict[str, int]) -> None:
        self.page.set_viewport_size(size)

    def page_overflow(self) -> int:
        """How far the page itself scrolls sideways (0 when nothing sticks out)."""
        overflow: int = self.page.evaluate(
            "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
        return overflow

    def screenshot(self, name: str) -> None:
        """The page from the top, at most about two screens tall (long queues are cut)."""
        size = self.page.viewport_size
        height: int = self.page.evaluate("() => document.documentElement.scrollHeight")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(
            path=str(SCREENSHOTS / f"{name}-{size['width']}.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": min(height, MAX_SHOT_HEIGHT)},
        )


@pytest.fixture()
def browser(live_server: str, tmp_path: Path) -> Iterator[Browser]:
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(executable),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=DESKTOP,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(20_000)
            found = Browser(page, live_server)
            page.on(
                "console",
                lambda msg: (
                    found.errors.append(f"console: {msg.text} at {msg.location['url']}")
                    if msg.type == "error"
                    else None
                ),
            )
            page.on("pageerror", lambda exc: found.errors.append(f"page error: {exc}"))
            yield found
            assert found.errors == [], "the browser reported errors"
        finally:
            context.close()
