"""The Apple Ads Platform API v1 wire protocol: auth, the error envelope, paging, rate limits.

Every call carries `Authorization: Bearer …` and `X-AP-Context: adAccountId=…`. Answers are
`{"result", "pagination"}` or `{"error": {"code", "message", "details"}}` (the docs' older
`{"error": {"errors": [...]}}` shape is read too). Reads are `POST …/query` with offset paging;
the first page asks for `totalCount`, the rest are fetched side by side. Every response's
`RateLimit-Remaining`/`RateLimit-Reset` pace the next requests before the limit is hit; a 429
is retried after `Retry-After`. A 401 buys one fresh token and one resend; a second 401 is an
auth failure.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx

from adpilot.platforms.apple.auth import AppleAuth, AppleCredentials
from adpilot.platforms.base import (
    PlatformAuthError,
    PlatformDeferred,
    PlatformRejected,
    PlatformTransientError,
)
from adpilot.platforms.http import HttpOptions, PlatformHttp, header_seconds, in_parallel

T = TypeVar("T")
U = TypeVar("U")

# Apple documents no maximum for v1 `pageSize`; v5 capped `limit` at 1000 and so do we.
PAGE_SIZE = 1000
# Requests in flight at once during a sync (reports are one call per campaign).
WORKERS = 8


class AppleClient:
    """One ad account of the Apple Ads Platform API v1."""

    def __init__(
        self,
        base_url: str,
        token_url: str,
        creds: AppleCredentials,
        ad_account_id: str,
        options: HttpOptions | None = None,
        *,
        workers: int = WORKERS,
    ) -> None:
        self.ad_account_id = ad_account_id
        self.workers = max(1, workers)
        # Per request rather than a client default: the token endpoint is another host and
        # has no business knowing the account.
        self.context = {"X-AP-Context": f"adAccountId={ad_account_id}"}
        # Apple's limits are per ad account: every client of the account, in every process
        # sharing the limits store, paces and spends the same quota.
        self.limit_key = f"apple {base_url.rstrip('/')} {ad_account_id}"
        self.http = PlatformHttp(
            base_url, options, headers={"Accept": "application/json"}, pace_key=self.limit_key
        )
        self.auth = AppleAuth(creds, token_url, self.http)

    def close(self) -> None:
        self.http.close()

    # ---------------------------------------------------------------- one request

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> Any:
        """Send one request, retrying transient failures; returns the decoded JSON body."""
        return self.http.call(lambda: self.send_once(method, path, body, headers=headers, **params))

    def send_once(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> Any:
        """One attempt (plus one resend with a fresh token after a 401); no retry ladder."""
        token = self.auth.token()
        response = self._send(method, path, body, token, params, headers)
        if response.status_code == 401:
            token = self.auth.refresh(token)
            response = self._send(method, path, body, token, params, headers)
            if response.status_code == 401:
                code, message = _error_of(response)
                raise PlatformAuthError(
                    f"Apple refused the access token even after a refresh: {message}",
                    platform_code=code or "unauthorized",
                    token_status="expired",
                )
        return self._parse(method, response)

    def _send(
        self,
        method: str,
        path: str,
        body: Any,
        token: str,
        params: dict[str, Any],
        headers: dict[str, str] | None,
    ) -> httpx.Response:
        kwargs: dict[str, Any] = {
            "headers": {**self.context, **(headers or {}), "Authorization": f"Bearer {token}"}
        }
        if body is not None:
            kwargs["json"] = body
        if params:
            kwargs["params"] = params
        self._spend_quota()
        response = self.http.send(method, path, **kwargs)
        self._pace(response)
        return response

    def _spend_quota(self) -> None:
        """Spend one request of what Apple last said is left of its window (shared by every
        process); when none is left, wait for the window to reset, or leave a longer wait to
        the durable job without sending."""
        limits, options = self.http.limits, self.http.options
        while True:
            until = limits.store.spend_quota(self.limit_key, limits.clock())
            gap = until - limits.clock()
            if until <= 0 or gap <= 0:
                return
            if gap > options.max_wait_sec:
                raise PlatformDeferred(
                    f"not sent: Apple's rate limit for ad account {self.ad_account_id} is used "
                    f"up for the next {gap:.0f} s",
                    platform_code="rate_limit",
                    retry_after=gap,
                )
            options.sleep(gap)

    def _pace(self, response: httpx.Response) -> None:
        """Slow down before the window runs out instead of running into 429s."""
        limit = header_seconds(response, "RateLimit-Limit")
        remaining = header_seconds(response, "RateLimit-Remaining")
        reset = header_seconds(response, "RateLimit-Reset")
        if remaining is None or reset is None:
            return
        # Keep a reserve for the requests other threads may already have in flight.
        reserve = max(float(self.workers), math.ceil(0.1 * (limit or 0.0)))
        limits = self.http.limits
        # Requests sent before any answer of this window was known were not spent from the
        # quota; the reserve covers them.
        now = limits.clock()
        limits.store.learn_quota(self.limit_key, max(0, int(remaining - reserve)), now, now + reset)
        if remaining <= 0:
            self.http.slow_down(reset)
        elif remaining <= reserve:
            # Spread what is left of the window over the time left in it.
            self.http.slow_down(reset / (remaining + 1.0))

    def _parse(self, method: str, response: httpx.Response) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return {}
            try:
                return response.json()
            except ValueError:
                raise PlatformTransientError(
                    f"Apple answered HTTP {status} with a body that is not JSON"
                ) from None
        code, message = _error_of(response)
        if status == 429 or status >= 500:
            retry_after = header_seconds(response, "Retry-After")
            if status == 429 and retry_after is None:
                retry_after = header_seconds(response, "RateLimit-Reset") or 2.0
            raise PlatformTransientError(
                message, platform_code=code or f"http_{status}", retry_after=retry_after
            )
        if status == 403 and _is_read(method, response.request):
            # The credentials no longer reach this account; a refused write is only a refusal
            # (a read-only API role, say).
            raise PlatformAuthError(message, platform_code=code or "forbidden")
        raise PlatformRejected(message, platform_code=code or f"http_{status}")

    # ---------------------------------------------------------------- paging

    def query_all(self, path: str, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a `POST …/query` (entities) across pages."""
        return self._all_pages(path, dict(body or {}), lambda page: list(page.get("result") or []))

    def report_rows(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Every row of a `POST /v1/reports/…/query` across pages."""

        def rows(page: dict[str, Any]) -> list[dict[str, Any]]:
            result = page.get("result") or {}
            return list(result.get("rows") or []) if isinstance(result, dict) else []

        return self._all_pages(path, dict(body), rows)

    def _all_pages(
        self,
        path: str,
        body: dict[str, Any],
        items_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
    ) -> list[dict[str, Any]]:
        def page(offset: int, count_total: bool = False) -> dict[str, Any]:
            paging: dict[str, Any] = {"offset": offset, "pageSize": PAGE_SIZE}
            if count_total:
                paging["fetchTotalCount"] = True
            answer = self.request("POST", path, {**body, "pagination": paging})
            return answer if isinstance(answer, dict) else {}

        def span(start: int, length: int) -> list[dict[str, Any]]:
            """Items [start, start + length), over as many pages as the server needs to give
            them: it may answer fewer than asked (a lower page size cap) without being done."""
            got: list[dict[str, Any]] = []
            while len(got) < length:
                more = items_of(page(start + len(got)))
                if not more:
                    break
                got.extend(more[: length - len(got)])
            return got

        first = page(0, count_total=True)
        items = items_of(first)
        total = _number((first.get("pagination") or {}).get("totalCount"))
        step = len(items)
        if step == 0:
            return items
        if total is not None:
            # The listing ends at its total, never at a short page: pages the size the server
            # actually gives, fetched in parallel, each completed if it came back short.
            offsets = range(step, int(total), step)
            spans = self.map(lambda offset: span(offset, min(step, int(total) - offset)), offsets)
            for more in spans:
                items.extend(more)
            return items
        # No total: walk on until a page comes back empty.
        while True:
            more = items_of(page(len(items)))
            if not more:
                return items
            items.extend(more)

    # ---------------------------------------------------------------- concurrency

    def map(self, fn: Callable[[T], U], items: Iterable[T]) -> list[U]:
        """`fn` over `items` with up to `workers` requests in flight; results in order."""
        return in_parallel([functools.partial(fn, item) for item in items], self.workers)


def _is_read(method: str, request: httpx.Request) -> bool:
    path = request.url.path
    return method.upper() == "GET" or path.endswith(("/query", "/search/geo"))


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _error_of(response: httpx.Response) -> tuple[str | None, str]:
    """(code, message) from either of Apple's error shapes, or from the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    fallback = f"Apple answered HTTP {response.status_code}"
    if not isinstance(error, dict):
        return None, fallback
    code = error.get("code")
    message = str(error.get("message") or "")
    details = error.get("details") or error.get("errors") or []
    parts = []
    for item in details if isinstance(details, list) else []:
        if not isinstance(item, dict):
            continue
        text = str(item.get("message") or "")
        item_code = item.get("code") or item.get("messageCode")
        if code is None and item_code:
            code = item_code  # the older shape only has per-item codes
        if text:
            parts.append(f"{text} [{item_code}]" if item_code else text)
    if parts:
        message = f"{message}: {'; '.join(parts)}" if message else "; ".join(parts)
    return (str(code) if code else None), (message or fallback)
