"""Per-key request buckets (read, write, job) over a moving one-minute window (SPEC §2.5)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import structlog
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from adpilot import errors
from adpilot.config import Settings

log = structlog.get_logger(__name__)

EndpointClass = Literal["read", "write", "job"]
ENDPOINT_CLASSES: tuple[EndpointClass, ...] = get_args(EndpointClass)

# Requests per minute for each tier and bucket.
TIERS: dict[str, dict[EndpointClass, int]] = {
    "standard": {"read": 120, "write": 60, "job": 20},
    "pilot": {"read": 1200, "write": 600, "job": 60},
    "partner": {"read": 6000, "write": 3000, "job": 300},
}
# Keys are validated against TIERS when issued; a row edited by hand gets the strictest tier
# rather than an unlimited one or a 500.
FALLBACK_TIER = "standard"

# Where a route declares its bucket. Living in the OpenAPI operation, the declaration is also
# what partners read to learn which bucket an endpoint spends.
ROUTE_MARKER = "x-rate-limit-class"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# A Redis that stops answering must not hold every request for the client's default timeout.
_REDIS_TIMEOUT_SEC = 1.0


def rate_limit_class(endpoint_class: EndpointClass) -> dict[str, Any]:
    """`openapi_extra` declaring the bucket of a route whose method alone does not decide it."""
    return {ROUTE_MARKER: endpoint_class}


def class_of(method: str, route: Any) -> EndpointClass:
    """The bucket a request spends: the route's declaration, else GET reads and the rest write."""
    declared = (getattr(route, "openapi_extra", None) or {}).get(ROUTE_MARKER)
    if declared is not None:
        if declared not in ENDPOINT_CLASSES:
            raise ValueError(f"unknown rate-limit class {declared!r}")
        return cast(EndpointClass, declared)
    return "read" if method.upper() in _READ_METHODS else "write"


@dataclass(frozen=True)
class Quota:
    """One bucket's state right after a request was counted against it."""

    endpoint_class: EndpointClass
    limit: int
    remaining: int
    reset_at: float  # unix time at which the moving window next frees a slot
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Endpoint-Class": self.endpoint_class,
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            # Rounded up: a client that waits until this second is sure to find a free slot.
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.reset_at - now))

    def exceeded(self) -> errors.ApiError:
        # time.time() is the clock the limits library counts with.
        wait = self.retry_after(time.time())
        return errors.ApiError(
            429,
            "RATE_LIMITED",
            f"Rate limit exceeded: this API key may make {self.limit} {self.endpoint_class} "
            f"requests per minute; retry in {wait} s.",
            {"endpointClass": self.endpoint_class, "limit": self.limit},
            headers={"Retry-After": str(wait)},
        )


class RateLimiter:
    """Counts requests per (API key, bucket); the storage decides who shares the counts."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        """In-process buckets embedded; Redis when configured, so every API process shares them."""
        if not settings.redis_url:
            return cls(MemoryStorage())
        storage = storage_from_string(
            settings.redis_url,
            key_prefix=settings.rate_limit_key_prefix,
            wrap_exceptions=True,
            socket_connect_timeout=_REDIS_TIMEOUT_SEC,
            socket_timeout=_REDIS_TIMEOUT_SEC,
        )
        # The URL's scheme picks the client (redis, rediss, sentinel, cluster); an asyncio one
        # cannot serve sync routes.
        if not isinstance(storage, Storage):
            raise ValueError(f"ADPILOT_REDIS_URL needs a synchronous storage: {settings.redis_url}")
        return cls(storage)

    def hit(self, api_key_id: str, tier: str, endpoint_class: EndpointClass) -> Quota | None:
        """Count one request. None when the storage is unreachable: the API stays up unlimited
        rather than failing every request because the limiter's Redis is down."""
        limit = TIERS.get(tier, TIERS[FALLBACK_TIER])[endpoint_class]
        item: RateLimitItem = RateLimitItemPerMinute(limit, namespace="adpilot")
        try:
            allowed = self._strategy.hit(item, api_key_id, endpoint_class)
            stats = self._strategy.get_window_stats(item, api_key_id, endpoint_class)
        except StorageError as exc:
            log.warning("rate limiter storage unavailable; request not limited", error=str(exc))
            return None
        return Quota(
            endpoint_class=endpoint_class,
            limit=limit,
            remaining=max(0, stats.remaining),
            reset_at=max(stats.reset_time, time.time()),
            allowed=allowed,
        )
