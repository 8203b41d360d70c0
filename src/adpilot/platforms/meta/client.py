"""The Meta Graph API wire protocol: auth, cursor paging, the error envelope, usage headers.

Every Graph failure carries `{"error": {"code", "error_subcode", "message", …}}`; we branch on
the code, never on the HTTP status (Graph answers 400 for most failures, 5xx for codes 1/2).
Throttling codes mean the request was refused before it ran, so they are always safe to retry;
codes 1/2 and network failures may hide a write that landed, so writes leave those to the
durable dispatch (which reads the live value first).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from adpilot.platforms.base import (
    PlatformAuthError,
    PlatformError,
    PlatformRejected,
    PlatformTransientError,
)
from adpilot.platforms.http import HttpOptions, PlatformHttp
from adpilot.platforms.meta.usage import Usage, pause_for, read_usage

# Codes that mean "slow down": the call was throttled and not executed (app, user, ad account
# and business-use-case limits).
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
# Unknown and temporary service errors: retried, but a write may have landed.
TEMPORARY_CODES = frozenset({1, 2})
AUTH_CODES = frozenset({102, 104, 190})
EXPIRED_SUBCODE = 463
# Insights queries refused for their size: "too much data per call" and the two timeouts.
TOO_LARGE = frozenset({(100, 1487534), (100, 1504018), (2, 1504038)})


class GraphThrottled(PlatformTransientError):
    """A throttling code: the request did not run; retrying after `retry_after` is safe."""


class ReportTooLarge(PlatformError):
    """An insights query refused for its size: go asynchronous (or split it), do not retry."""


@dataclass(frozen=True)
class GraphErrorBody:
    code: int
    subcode: int | None
    message: str
    user_message: str | None
    is_transient: bool

    @property
    def platform_code(self) -> str:
        return f"{self.code}/{self.subcode}" if self.subcode else str(self.code)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_error(body: Any) -> GraphErrorBody | None:
    """The error object of a Graph answer, or None when the body is not an error envelope."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    err = body["error"]
    user = err.get("error_user_msg") or err.get("error_user_title")
    return GraphErrorBody(
        code=_int(err.get("code")) or 0,
        subcode=_int(err.get("error_subcode")),
        message=str(err.get("message") or "unknown Graph API error"),
        user_message=str(user) if user else None,
        is_transient=bool(err.get("is_transient")),
    )


def to_platform_error(err: GraphErrorBody, *, regain_sec: float | None = None) -> PlatformError:
    """The typed error for a Graph error object (`regain_sec` from the usage headers)."""
    message = err.message
    if err.user_message and err.user_message not in message:
        message = f"{message} ({err.user_message})"
    code = err.platform_code
    if (err.code, err.subcode) in TOO_LARGE:
        return ReportTooLarge(message, platform_code=code)
    if err.code in AUTH_CODES:
        status: Literal["expired", "invalid"] = (
            "expired" if err.subcode == EXPIRED_SUBCODE else "invalid"
        )
        return PlatformAuthError(message, platform_code=code, token_status=status)
    if err.code in THROTTLE_CODES:
        return GraphThrottled(message, platform_code=code, retry_after=regain_sec or None)
    if err.code in TEMPORARY_CODES or err.is_transient:
        return PlatformTransientError(message, platform_code=code)
    return PlatformRejected(message, platform_code=code)


# --- the client ---------------------------------------------------------------------------


class GraphClient:
    """One access token talking to one Graph API version.

    The token travels in the `Authorization` header (never in URLs we build); with an app
    secret every request also carries `appsecret_proof`.
    """

    def __init__(
        self,
        base_url: str,
        api_version: str,
        access_token: str,
        *,
        app_secret: str | None = None,
        options: HttpOptions | None = None,
        pace_key: str | None = None,
    ) -> None:
        self.version = api_version.strip("/")
        self.base = httpx.URL(base_url.rstrip("/") + "/")
        self.http = PlatformHttp(
            base_url,
            options,
            headers={"Authorization": f"Bearer {access_token}"},
            pace_key=pace_key,
        )
        self._proof = (
            hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()
            if app_secret
            else None
        )
        self.last_usage = Usage()

    def close(self) -> None:
        self.http.close()

    def path(self, node: str) -> str:
        return f"/{self.version}/{node.lstrip('/')}"

    # ---------------------------------------------------------------- one request

    def _params(self, params: Mapping[str, Any] | None) -> dict[str, str]:
        out = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (params or {}).items()}
        if self._proof:
            out["appsecret_proof"] = self._proof
        return out

    def _send(self, method: str, url: str, params: Mapping[str, Any] | None) -> Any:
        """One request and its answer: the decoded body, or a typed error."""
        values = self._params(params)
        if method == "GET" or method == "DELETE":
            response = self.http.send(method, url, params=values)
        else:
            response = self.http.send(method, url, data=values)
        usage = read_usage(response.headers)
        self.last_usage = usage
        pause = pause_for(usage)
        if pause > 0:
            self.http.slow_down(pause)
        try:
            body = response.json()
        except ValueError:
            body = None
        err = parse_error(body)
        if err is not None:
            raise to_platform_error(err, regain_sec=usage.regain_sec)
        if response.status_code >= 500:
            raise PlatformTransientError(f"Graph API answered HTTP {response.status_code}")
        if response.status_code >= 400 or body is None:
            raise PlatformRejected(
                f"Graph API answered HTTP {response.status_code} without an error object",
                platform_code=str(response.status_code),
            )
        return body

    def get(self, node: str, params: Mapping[str, Any] | None = None) -> Any:
        """A read, retried on transient failures."""
        url = node if node.startswith(("http:", "https:", "/")) else self.path(node)
        return self.http.call(lambda: self._send("GET", url, params))

    def post(self, node: str, params: Mapping[str, Any]) -> Any:
        """A request that changes nothing twice (report creation): retried like a read."""
        return self.http.call(lambda: self._send("POST", self.path(node), params))

    def write(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any],
        *,
        retry_throttled: Callable[[GraphThrottled], bool] = lambda exc: True,
    ) -> Any:
        """A write: retried only when the platform throttled it (so it never ran) and
        `retry_throttled` agrees. Any other transient failure goes up at once, because the
        write may have landed: the caller reads the live value before trying again."""
        return self.http.call(
            lambda: self._send(method, path, params),
            retry_if=lambda exc: isinstance(exc, GraphThrottled) and retry_throttled(exc),
        )

    # ---------------------------------------------------------------- paging

    def _follow(self, next_url: str) -> tuple[str, dict[str, str]]:
        """Where `paging.next` points, as (url, params) safe to send with our token.

        A `next` on our own host is followed as given (minus any token in it: ours goes in
        the header); one pointing elsewhere is re-rooted on our base URL, so the token never
        leaves for another host.
        """
        url = httpx.URL(next_url)
        params = {k: v for k, v in url.params.multi_items() if k != "access_token"}
        if (url.scheme, url.host, url.port) == (self.base.scheme, self.base.host, self.base.port):
            return str(url.copy_with(query=None)), params
        return url.path, params

    def pages_after(self, first: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """`first` and the pages after it, following `paging.next` until it is absent (a page
        may be empty and still have a next one)."""
        body = first
        while True:
            yield body
            next_url = (body.get("paging") or {}).get("next") if isinstance(body, dict) else None
            if not next_url:
                return
            url, query = self._follow(str(next_url))
            body = self.get(url, query)

    def all(self, node: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows of every page of an edge."""
        return self.rows_after(self.get(node, params))

    def rows_after(self, first: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in self.pages_after(first):
            rows.extend(page.get("data") or [])
        return rows
