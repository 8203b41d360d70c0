"""The shared platform HTTP plumbing: retry ladder, platform-requested waits, pacing."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from adpilot.platforms.base import PlatformTransientError
from adpilot.platforms.http import HttpOptions, PlatformHttp
from tests.platforms.virtual_clock import VirtualClock


def http_with(recorder: Recorder, clock: VirtualClock, delays: tuple[float, ...]) -> PlatformHttp:
    options = HttpOptions(
        retry_delays=delays,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        transport=recorder.transport,
    )
    return PlatformHttp("http://platform.test", options)


class Recorder:
    """A transport that answers from a function and keeps the paths it was asked for."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.paths: list[str] = []
        self.transport = httpx.MockTransport(self._handle)
        self._answer = answer

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return self._answer(request)


def parse(response: httpx.Response) -> dict[str, str]:
    if response.status_code == 429:
        raise PlatformTransientError(
            "rate limited", retry_after=float(response.headers.get("Retry-After", 0))
        )
    if response.status_code >= 500:
        raise PlatformTransientError("server error")
    return dict(response.json())


def test_transient_failures_are_retried_waiting_what_the_platform_asks() -> None:
    answers = [
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(200, json={"ok": "yes"}),
    ]
    transport = Recorder(lambda request: answers.pop(0))
    clock = VirtualClock()
    http = http_with(transport, clock, (1.0, 2.0, 4.0))
    assert http.call(lambda: parse(http.send("GET", "/v1/thing"))) == {"ok": "yes"}
    # The ladder's first step, then the platform's longer Retry-After.
    assert clock.slept == [1.0, 7.0]
    assert len(transport.paths) == 3


def test_the_error_goes_up_once_the_ladder_is_used_up() -> None:
    transport = Recorder(lambda request: httpx.Response(500))
    clock = VirtualClock()
    http = http_with(transport, clock, (0.5, 0.5))
    with pytest.raises(PlatformTransientError):
        http.call(lambda: parse(http.send("GET", "/v1/thing")))
    assert len(transport.paths) == 3


def test_a_wait_longer_than_the_cap_is_left_to_the_durable_job() -> None:
    transport = Recorder(lambda request: httpx.Response(429, headers={"Retry-After": "3600"}))
    clock = VirtualClock()
    http = http_with(transport, clock, (1.0,))
    with pytest.raises(PlatformTransientError) as caught:
        http.call(lambda: parse(http.send("GET", "/v1/thing")))
    assert caught.value.retry_after == 3600
    assert clock.slept == [] and len(transport.paths) == 1


def test_slow_down_holds_the_next_request_back() -> None:
    transport = Recorder(lambda request: httpx.Response(200, json={}))
    clock = VirtualClock()
    http = http_with(transport, clock, ())
    http.send("GET", "/a")
    http.slow_down(2.5)
    http.send("GET", "/b")
    assert clock.slept == [2.5]
    assert transport.paths == ["/a", "/b"]


def test_an_unreachable_platform_is_a_transient_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = http_with(Recorder(refuse), VirtualClock(), ())
    with pytest.raises(PlatformTransientError, match="unreachable"):
        http.send("GET", "/v1/thing")


def test_a_failure_the_caller_turns_down_is_not_retried() -> None:
    answers = [httpx.Response(429), httpx.Response(500), httpx.Response(200, json={})]
    transport = Recorder(lambda request: answers.pop(0))
    clock = VirtualClock()
    http = http_with(transport, clock, (0.5, 0.5, 0.5))

    def attempt() -> dict[str, str]:
        return parse(http.send("GET", "/v1/thing"))

    # Rate limited (the call never ran): retried; a server error (it may have run): raised.
    with pytest.raises(PlatformTransientError, match="server error"):
        http.call(attempt, retry_if=lambda exc: exc.message == "rate limited")
    assert len(transport.paths) == 2 and clock.slept == [0.5]
