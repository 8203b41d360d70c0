"""TikTok API for Business v1.3 over HTTP: the envelope, typed errors, pacing and paging.

TikTok answers HTTP 200 to almost everything and puts the outcome in the body's `code`; this
module turns a non-zero code into a typed `PlatformError`. It sends no rate-limit headers, so the
client paces itself: at most `ENDPOINT_QPS` requests per endpoint per second from every process
sharing the limits store (TikTok's Basic tier allows 10 per second per endpoint and app, and less
on a few), counted so that network jitter can never push a burst over the platform's count; a
rate-limit code holds back every request the limit covers (the app's, or one advertiser's) for a
second before the retry.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from adpilot.platforms.base import (
    PlatformAuthError,
    PlatformError,
    PlatformRejected,
    PlatformTransientError,
)
from adpilot.platforms.http import (
    HttpOptions,
    PlatformHttp,
    header_seconds,
    in_parallel,
    wait_for_pause,
)
from adpilot.platforms.tiktok.requests import API_PREFIX

T = TypeVar("T")

PAGE_SIZE = 1000  # TikTok's largest page, for listings and reports alike
MAX_PARALLEL = 8  # requests in flight at once from one sync
ENDPOINT_QPS = 10
# Endpoints TikTok limits harder than its tier's default.
ENDPOINT_QPS_OVERRIDES: dict[str, int] = {"/report/task/create/": 2, "/ad/create/": 5}
QPS_WINDOW_SEC = 1.0
GATE_POLL_SEC = 0.01
# How long to hold everything back after a rate-limit code: TikTok's QPS limits reset each
# second; longer (per-minute, per-day) limits outlast the retry ladder and go up to the job.
RATE_LIMIT_PAUSE_SEC = 1.0

# Codes (HTTP 200 bodies) and what they mean for the caller.
OK, PARTIAL_SUCCESS = 0, 20001
RATE_LIMIT_CODES = frozenset({40016, 40100, 40133})
_RATE_LIMIT_CODE_TEXT = frozenset(str(code) for code in RATE_LIMIT_CODES)
ADVERTISER_RATE_LIMIT = 40133
TOKEN_EXPIRED_CODES = frozenset({40102})
# Empty, invalid or revoked token; token not granted this advertiser; no permission or scope;
# a refresh token sent as an access token.
TOKEN_INVALID_CODES = frozenset({40001, 40104, 40105, 40106, 40107, 40125})
# Server errors, maintenance and write conflicts: the request did not take effect.
RETRYABLE_CODES = frozenset({40200, 40202, 50000, 50002, 51305, 60001})
REPORT_TOO_LARGE = 40067
TASK_NOT_READY = 40201
DUPLICATE_REQUEST = 40050


class ReportTooLarge(PlatformRejected):
    """40067: the report must be asked for over a shorter date range."""


class TaskNotReady(PlatformError):
    """40201: an async report task is not finished yet (the poll loop checks again)."""


class DuplicateRequest(PlatformTransientError):
    """40050: TikTok saw this write already; whether it landed is only known by reading back."""


@dataclass(frozen=True)
class Envelope:
    """A successful (or partly successful) answer."""

    code: int
    message: str
    data: dict[str, Any]
    request_id: str | None


def error_for(code: int, message: str, request_id: str | None = None) -> PlatformError:
    """The typed error for a non-zero TikTok code."""
    text = message or f"TikTok answered code {code}"
    platform_code = str(code)
    if code in RATE_LIMIT_CODES:
        return PlatformTransientError(
            text, platform_code=platform_code, retry_after=RATE_LIMIT_PAUSE_SEC
        )
    if code in TOKEN_EXPIRED_CODES:
        return PlatformAuthError(text, platform_code=platform_code, token_status="expired")
    if code in TOKEN_INVALID_CODES:
        return PlatformAuthError(text, platform_code=platform_code, token_status="invalid")
    if code == REPORT_TOO_LARGE:
        return ReportTooLarge(text, platform_code=platform_code)
    if code == TASK_NOT_READY:
        return TaskNotReady(text, platform_code=platform_code)
    if code == DUPLICATE_REQUEST:
        return DuplicateRequest(text, platform_code=platform_code)
    if code in RETRYABLE_CODES or 50000 <= code < 70000:
        return PlatformTransientError(text, platform_code=platform_code)
    return PlatformRejected(text, platform_code=platform_code)


def _query_value(value: Any) -> str:
    # GET endpoints take lists and objects as JSON strings in the query (as TikTok's SDKs send).
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _EndpointGate:
    """At most `limit` requests per endpoint in flight or finished within the last second,
    counted in the limits store every process shares (Redis in distributed mode).

    A request counts from when it is sent until a second after its answer came back. TikTok
    counts a request when it arrives, which is after we send it and before its answer, so
    however late requests arrive (network jitter, a busy server), the platform never sees more
    than `limit` of ours within one of its seconds. A request whose process died before its
    answer stops counting once its timeout has passed.
    """

    def __init__(self, options: HttpOptions, name: str, window: float = QPS_WINDOW_SEC) -> None:
        self._options = options
        self._limits = options.platform_limits()
        self._name = name
        self._window = window

    def pause(self, seconds: float) -> None:
        """Hold every endpoint back (a rate-limit code came in), never longer than a call may
        wait (`max_wait_sec`, as `PlatformHttp.slow_down`): a longer wait is the job's."""
        seconds = min(max(seconds, 0.0), self._options.max_wait_sec)
        now = self._limits.clock()
        self._limits.store.pause(f"{self._name} pause", now, now + seconds)

    def wait_pause(self) -> None:
        wait_for_pause(self._limits, f"{self._name} pause", self._options)

    def acquire(self, path: str) -> str:
        """Wait for a place for one request to `path`; returns its token for `release`."""
        limit = ENDPOINT_QPS_OVERRIDES.get(path, ENDPOINT_QPS)
        # Counted until it is answered; a request can be in flight no longer than its timeout.
        hold = self._options.timeout_sec + self._window
        while True:
            self.wait_pause()
            now = self._limits.clock()
            taken = self._limits.store.take(f"{self._name} {path}", limit, now, now + hold)
            if taken.token is not None:
                return taken.token
            gap = taken.free_at - now
            # Beyond a window, the earliest place is held by a request still in flight: its
            # answer will free it sooner, so look again shortly.
            self._options.sleep(gap if gap <= self._window else GATE_POLL_SEC)

    def release(self, path: str, token: str) -> None:
        now = self._limits.clock()
        self._limits.store.settle(f"{self._name} {path}", token, now, now + self._window)


class TikTokClient:
    """One advertiser's access to the API: `Access-Token` on every call, typed errors."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        options: HttpOptions,
        *,
        advertiser_id: str | None = None,
    ) -> None:
        self.http = PlatformHttp(base_url, options, headers={"Access-Token": access_token})
        host = base_url.rstrip("/")
        # TikTok counts requests per developer app, not per advertiser: every client (one per
        # account being synced or written to, in any process) shares one gate per API host.
        self._gate = _EndpointGate(options, f"tiktok {host} app")
        # The advertiser-level limit (40133) holds back this advertiser's requests only. Its pause
        # is waited before a request takes its place in the shared gate (as the app-level one
        # is); PlatformHttp.slow_down would wait after, holding a place other accounts could use.
        own = advertiser_id or uuid.uuid4().hex
        self._own = _EndpointGate(options, f"tiktok {host} advertiser {own}")

    def close(self) -> None:
        self.http.close()

    # ---------------------------------------------------------------- one request

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self._own.wait_pause()
        token = self._gate.acquire(path)
        try:
            return self.http.send(method, f"{API_PREFIX}{path}", **kwargs)
        finally:
            self._gate.release(path, token)

    def _parse(self, response: httpx.Response) -> Envelope:
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = header_seconds(response, "Retry-After")
            if retry_after:
                self._gate.pause(retry_after)
            raise PlatformTransientError(
                f"TikTok answered HTTP {status}",
                platform_code=f"HTTP_{status}",
                retry_after=retry_after,
            )
        if status != 200:
            # The request never reached the API (a wrong path, a path without its slash).
            raise PlatformRejected(
                f"TikTok answered HTTP {status}: {response.text[:200]}",
                platform_code=f"HTTP_{status}",
            )
        try:
            body = response.json()
            code = int(body["code"])
        except (ValueError, KeyError, TypeError):
            raise PlatformTransientError(
                "TikTok sent a response that is not its JSON envelope"
            ) from None
        message = str(body.get("message") or "")
        request_id = body.get("request_id")
        if code in (OK, PARTIAL_SUCCESS):
            data = body.get("data")
            return Envelope(code, message, data if isinstance(data, dict) else {}, request_id)
        if code in RATE_LIMIT_CODES:
            # Every request waits, not just the one that was refused: of the whole app for an
            # app-level limit, of this advertiser for the advertiser-level one.
            gate = self._own if code == ADVERTISER_RATE_LIMIT else self._gate
            gate.pause(RATE_LIMIT_PAUSE_SEC)
        raise error_for(code, message, request_id)

    # ---------------------------------------------------------------- calls

    def get(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """GET with retries; returns `data`."""
        query = {k: _query_value(v) for k, v in params.items() if v is not None}
        return self.http.call(lambda: self._parse(self._send("GET", path, params=query))).data

    def post(self, path: str, body: Mapping[str, Any], *, repeatable: bool = True) -> Envelope:
        """POST a JSON body. A write that is not `repeatable` (it creates something) is retried
        only after answers proving it did not run (rate limits); anything else goes up, and the
        durable dispatch reads the live value before it tries again."""

        def attempt() -> Envelope | DuplicateRequest:
            try:
                return self._parse(self._send("POST", path, json=dict(body)))
            except DuplicateRequest as exc:
                return exc  # not retried blindly: the caller must read back first

        def proven_not_run(exc: PlatformTransientError) -> bool:
            return repeatable or exc.platform_code in _RATE_LIMIT_CODE_TEXT

        result = self.http.call(attempt, retry_if=proven_not_run)
        if isinstance(result, DuplicateRequest):
            raise result
        return result

    def get_text(self, path: str, params: Mapping[str, Any]) -> str:
        """GET a non-JSON body (a CSV download); an error still arrives as the JSON envelope."""
        query = {k: _query_value(v) for k, v in params.items() if v is not None}

        def attempt() -> str:
            response = self._send("GET", path, params=query)
            if response.status_code == 200 and "json" not in response.headers.get(
                "content-type", ""
            ):
                return response.text
            envelope = self._parse(response)
            url = envelope.data.get("download_url")
            if not url:
                raise PlatformTransientError("TikTok sent no report file")
            return self._download(str(url))

        return self.http.call(attempt)

    def _download(self, url: str) -> str:
        # A CSV_DOWNLOAD link is absolute and signed; it takes no token.
        response = self.http.send("GET", url, headers={"Access-Token": ""})
        if response.status_code != 200:
            raise PlatformTransientError(f"report file download answered {response.status_code}")
        return response.text

    # ---------------------------------------------------------------- paging

    def get_all(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every item of a paged GET: page 1, then the remaining pages in parallel."""
        first = self.get(path, {**params, "page": 1, "page_size": PAGE_SIZE})
        items = list(first.get("list") or [])
        total_pages = int((first.get("page_info") or {}).get("total_page") or 1)
        # The page count decides, not the first page's length (a page may come back short).
        if total_pages <= 1:
            return items
        pages = parallel(
            [
                functools.partial(self.get, path, {**params, "page": page, "page_size": PAGE_SIZE})
                for page in range(2, total_pages + 1)
            ]
        )
        for data in pages:
            items.extend(data.get("list") or [])
        return items


def parallel(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run TikTok calls concurrently, at most `MAX_PARALLEL` at a time."""
    return in_parallel(calls, MAX_PARALLEL)
