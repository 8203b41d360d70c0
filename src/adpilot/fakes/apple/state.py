"""What the fake Apple Ads server keeps beside the markets: API clients, rate windows, geo ids.

Lives in `world.extra["apple"]`, so `world.reset()` forgets it with everything else.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adpilot.fakes.world import FakeWorld

TOKEN_LIFETIME_SEC = 3600
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 20

# Apple's App Store geo ids for the countries the simulator knows (ids as Apple writes them:
# numeric strings). Countries not listed get a stable made-up id.
_GEO = {
    "US": ("1125", "United States"),
    "CA": ("1040", "Canada"),
    "GB": ("1104", "United Kingdom"),
    "AU": ("1013", "Australia"),
    "DE": ("1083", "Germany"),
    "JP": ("1094", "Japan"),
    "FR": ("1081", "France"),
    "BR": ("1031", "Brazil"),
    "MX": ("1140", "Mexico"),
    "IT": ("1092", "Italy"),
    "ES": ("1186", "Spain"),
    "NL": ("1150", "Netherlands"),
}


def geo_id(iso: str) -> str:
    known = _GEO.get(iso.upper())
    if known:
        return known[0]
    return "2" + "".join(f"{ord(ch) - 64:02d}" for ch in iso.upper()[:2])


def geo_name(iso: str) -> str:
    known = _GEO.get(iso.upper())
    return known[1] if known else iso.upper()


def iso_for_geo_id(geo: str, candidates: list[str]) -> str | None:
    for iso in candidates:
        if geo_id(iso) == str(geo):
            return iso
    return None


@dataclass
class ApiClient:
    """A key pair registered in Apple Ads: who may ask for tokens, and for which accounts."""

    client_id: str
    team_id: str
    key_id: str
    public_key: ec.EllipticCurvePublicKey
    accounts: set[str]
    revoked: bool = False
    tokens: list[str] = field(default_factory=list)


@dataclass
class _Window:
    started: float
    used: int = 0


@dataclass
class AppleState:
    clients: dict[str, ApiClient] = field(default_factory=dict)
    # Requests per window per ad account (Apple's numbers are not published).
    rate_limit: int = 1000
    rate_window_sec: float = 60.0
    # Per-account overrides of (limit, window seconds).
    account_limits: dict[str, tuple[int, float]] = field(default_factory=dict)
    windows: dict[str, _Window] = field(default_factory=dict)
    # Last change of an entity through the API: (kind, id) -> when.
    modified: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    # Ad group bids (the simulator has no bids; kept so a PUT reads back).
    bids: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Report arrays per market state (see fakes.apple.reports).
    report_cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    monotonic: Callable[[], float] = time.monotonic
    # An entity query answers at most this many items a page, whatever pageSize asked (an
    # independently written server may cap lower than adpilot's page size); None: no cap.
    page_cap: int | None = None
    # Leave `totalCount` out of entity query answers even when asked for it.
    omit_total_count: bool = False
    # Breakdown reports this account refuses: "country" (groupBy), "hour" (HOURLY).
    refused_breakdowns: tuple[str, ...] = ()

    def consume(self, key: str) -> tuple[bool, int, int, int]:
        """Count one request: (allowed, limit, remaining, seconds until the window resets)."""
        limit, span = self.account_limits.get(key, (self.rate_limit, self.rate_window_sec))
        now = self.monotonic()
        window = self.windows.get(key)
        if window is None or now >= window.started + span:
            window = self.windows[key] = _Window(now)
        reset = max(1, math.ceil(window.started + span - now))
        if window.used >= limit:
            return False, limit, 0, reset
        window.used += 1
        return True, limit, limit - window.used, reset


def state_of(world: FakeWorld) -> AppleState:
    """The fake's own state in `world.extra` (recreated after `world.reset()`)."""
    return world.extra_state("apple", AppleState)


def new_credentials(world: FakeWorld, account_id: str) -> dict[str, str]:
    """A fresh EC P-256 key pair registered for `account_id`; the connect credentials."""
    key = ec.generate_private_key(ec.SECP256R1())
    client = ApiClient(
        client_id=f"SEARCHADS.{uuid.uuid4()}",
        team_id=f"SEARCHADS.{uuid.uuid4()}",
        key_id=uuid.uuid4().hex[:10].upper(),
        public_key=key.public_key(),
        accounts={str(account_id)},
    )
    state = state_of(world)
    with world.lock:
        state.clients[client.client_id] = client
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return {
        "clientId": client.client_id,
        "teamId": client.team_id,
        "keyId": client.key_id,
        "privateKeyPem": pem,
    }


def revoke_client(world: FakeWorld, client_id: str) -> None:
    """The key was revoked in Apple Ads: no new tokens, and the issued ones stop working."""
    state = state_of(world)
    with world.lock:
        client = state.clients[client_id]
        client.revoked = True
        for token in client.tokens:
            if token in world.tokens:
                world.revoke_token(token)


def expire_tokens(world: FakeWorld, client_id: str) -> None:
    """Every access token issued to the client expires now (new ones can still be had)."""
    state = state_of(world)
    with world.lock:
        for token in state.clients[client_id].tokens:
            if token in world.tokens:
                world.expire_token(token)


def set_rate_limit(
    world: FakeWorld, limit: int, window_sec: float, *, account_id: str | None = None
) -> None:
    """Requests allowed per window, for one ad account or (without one) for all."""
    state = state_of(world)
    with world.lock:
        if account_id is None:
            state.rate_limit, state.rate_window_sec = int(limit), float(window_sec)
            state.windows.clear()
        else:
            state.account_limits[str(account_id)] = (int(limit), float(window_sec))
            state.windows.pop(str(account_id), None)
