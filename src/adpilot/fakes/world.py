"""The state behind a fake platform server: simulated accounts, tokens, faults and a call log.

One `FakeWorld` serves one platform. Accounts are simulated markets, created on first use from
the account id (so any id works from the command line) or added explicitly (benchmarks add a
large generated account). Every request is logged; tests queue faults that the next matching
requests answer with instead of the normal response.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from adpilot.kit.clock import utcnow
from adpilot.platforms.base import PlatformName
from adpilot.sim.bootstrap import bootstrap_market
from adpilot.sim.market import Market, account_key_seed

S = TypeVar("S")


@dataclass
class FakeToken:
    """An access token the fake accepts: for some accounts (None = any) until it expires."""

    value: str
    accounts: frozenset[str] | None = None
    expires_at: dt.datetime | None = None
    revoked: bool = False


TokenCheck = str  # "ok" | "expired" | "invalid" | "forbidden"


@dataclass
class Fault:
    """The next `count` requests whose path contains `path` (and method matches) fail.

    `kind` is the platform module's vocabulary (e.g. an error code or "http_500"); `data`
    carries what that kind needs (a message, a Retry-After, …). `after_apply` makes a write
    take effect and then fail (a lost response). `exact` matches the whole path only (`/v1/ads`
    but not `/v1/ads/query`).
    """

    kind: str
    path: str = ""
    method: str | None = None
    count: int = 1
    data: dict[str, Any] = field(default_factory=dict)
    after_apply: bool = False
    exact: bool = False


@dataclass(frozen=True)
class Call:
    at: dt.datetime
    method: str
    path: str
    query: dict[str, str]
    status: int


class FakeWorld:
    """Accounts, tokens, faults and the request log of one fake platform (thread-safe)."""

    def __init__(
        self,
        platform: PlatformName,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        timezone: str = "UTC",
    ) -> None:
        self.platform: PlatformName = platform
        self.clock = clock
        self.timezone = timezone
        self.lock = threading.RLock()
        self.markets: dict[str, Market] = {}
        self.tokens: dict[str, FakeToken] = {}
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        # Free-form per-platform state (async report jobs, issued bearer tokens, …).
        self.extra: dict[str, Any] = {}

    # ---------------------------------------------------------------- accounts

    def add_market(self, account_id: str, market: Market) -> None:
        with self.lock:
            self.markets[account_id] = market

    def market(self, account_id: str) -> Market:
        """The account's market, advanced to yesterday in its time zone (created on first use).

        Call with `lock` held when the market is read across several statements.
        """
        with self.lock:
            market = self.markets.get(account_id)
            if market is None:
                today = self.clock().astimezone(dt.UTC).date()
                market = bootstrap_market(
                    self.platform,
                    account_key_seed(f"{self.platform}:{account_id}"),
                    today,
                    timezone=self.timezone,
                    account_external_id=account_id,
                    account_name=f"Test {self.platform} account {account_id}",
                )
                self.markets[account_id] = market
            yesterday = market.local_date(self.clock()) - dt.timedelta(days=1)
            if yesterday > market.through:
                market.advance_to(yesterday)
            return market

    # ---------------------------------------------------------------- tokens

    def add_token(
        self,
        value: str,
        *,
        accounts: set[str] | frozenset[str] | None = None,
        expires_at: dt.datetime | None = None,
    ) -> FakeToken:
        token = FakeToken(value, frozenset(accounts) if accounts is not None else None, expires_at)
        with self.lock:
            self.tokens[value] = token
        return token

    def expire_token(self, value: str) -> None:
        with self.lock:
            self.tokens[value].expires_at = self.clock() - dt.timedelta(seconds=1)

    def revoke_token(self, value: str) -> None:
        with self.lock:
            self.tokens[value].revoked = True

    def check_token(self, value: str | None, account_id: str | None = None) -> TokenCheck:
        """ok, expired, invalid (unknown or revoked), or forbidden (not for this account)."""
        with self.lock:
            token = self.tokens.get(value or "")
            if token is None:
                return "invalid"
            if token.revoked:
                return "invalid"
            if token.expires_at is not None and token.expires_at <= self.clock():
                return "expired"
            if (
                account_id is not None
                and token.accounts is not None
                and (account_id not in token.accounts)
            ):
                return "forbidden"
            return "ok"

    # ---------------------------------------------------------------- faults

    def inject(
        self,
        kind: str,
        *,
        path: str = "",
        method: str | None = None,
        count: int = 1,
        after_apply: bool = False,
        exact: bool = False,
        **data: Any,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(kind, path, method, count, dict(data), after_apply, exact))

    def take_fault(self, method: str, path: str, *, after_apply: bool = False) -> Fault | None:
        """The first queued fault matching this request, consumed once."""
        with self.lock:
            for fault in self.faults:
                matches = fault.path == path if fault.exact else fault.path in path
                if fault.after_apply != after_apply or not matches:
                    continue
                if fault.method is not None and fault.method.upper() != method.upper():
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
            return None

    def extra_state(self, key: str, kind: type[S]) -> S:
        """A platform's own state in `extra` (made on first use, forgotten by `reset()`).

        Read without the lock first: request handlers call this on every request.
        """
        found = self.extra.get(key)
        if isinstance(found, kind):
            return found
        with self.lock:
            found = self.extra.get(key)
            if not isinstance(found, kind):
                found = kind()
                self.extra[key] = found
            return found

    def reset(self) -> None:
        """Forget every account, token, fault and call (between tests)."""
        with self.lock:
            self.markets.clear()
            self.tokens.clear()
            self.faults.clear()
            self.calls.clear()
            self.extra.clear()

    # ---------------------------------------------------------------- call log

    def log_call(self, method: str, path: str, query: dict[str, str], status: int) -> None:
        with self.lock:
            self.calls.append(Call(self.clock(), method, path, query, status))

    def calls_to(self, fragment: str = "", method: str | None = None) -> list[Call]:
        with self.lock:
            return [
                c
                for c in self.calls
                if fragment in c.path and (method is None or c.method == method.upper())
            ]

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
