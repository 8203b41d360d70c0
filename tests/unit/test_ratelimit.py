"""The limiter on its own: tiers, the moving window, route declarations and a Redis outage."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
import time_machine
from limits.storage import MemoryStorage, RedisStorage

from adpilot.config import Settings
from adpilot.kit.ratelimit import (
    TIERS,
    EndpointClass,
    Quota,
    RateLimiter,
    class_of,
    rate_limit_class,
)

T0 = dt.datetime(2026, 11, 22, 10, 0, 0, tzinfo=dt.UTC)


def fresh() -> RateLimiter:
    return RateLimiter(MemoryStorage())


@pytest.mark.parametrize(
    ("tier", "endpoint_class", "limit"),
    [
        ("standard", "read", 120),
        ("standard", "write", 60),
        ("standard", "job", 20),
        ("pilot", "read", 1200),
        ("pilot", "write", 600),
        ("pilot", "job", 60),
        ("partner", "read", 6000),
        ("partner", "write", 3000),
        ("partner", "job", 300),
    ],
)
def test_a_fresh_key_may_spend_its_whole_allowance_at_once(
    tier: str, endpoint_class: EndpointClass, limit: int
) -> None:
    limiter = fresh()
    with time_machine.travel(T0, tick=False):
        spent = [limiter.hit("key_a", tier, endpoint_class) for _ in range(limit)]
        refused = limiter.hit("key_a", tier, endpoint_class)
    assert all(q is not None and q.allowed for q in spent)
    assert spent[-1] is not None and spent[-1].remaining == 0
    assert refused is not None and not refused.allowed
    assert (refused.limit, refused.remaining) == (limit, 0)


def test_the_window_moves_rather_than_resetting_on_the_minute() -> None:
    limiter = fresh()
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(10):
            limiter.hit("key_a", "standard", "job")
        clock.shift(30)
        for _ in range(10):
            limiter.hit("key_a", "standard", "job")
        clock.shift(31)  # the first ten have left the window, the last ten have not
        again = [limiter.hit("key_a", "standard", "job") for _ in range(11)]
        assert all(q is not None and q.allowed for q in again[:10])
        refused = again[-1]
        assert refused is not None and not refused.allowed
        # The next slot frees when the requests made at T0+30 s leave the window.
        assert refused.headers()["X-RateLimit-Reset"] == str(int(T0.timestamp()) + 90)
        assert refused.exceeded().headers == {"Retry-After": "29"}


def test_buckets_are_per_key_and_per_class() -> None:
    limiter = fresh()
    for _ in range(20):
        limiter.hit("key_a", "standard", "job")
    other_class = limiter.hit("key_a", "standard", "write")
    other_key = limiter.hit("key_b", "standard", "job")
    assert other_class is not None and (other_class.allowed, other_class.remaining) == (True, 59)
    assert other_key is not None and (other_key.allowed, other_key.remaining) == (True, 19)


def test_an_unknown_tier_gets_the_strictest_limits() -> None:
    quota = fresh().hit("key_a", "legacy", "read")
    assert quota is not None and quota.limit == TIERS["standard"]["read"]


def test_headers_and_retry_after() -> None:
    quota = Quota("write", limit=60, remaining=0, reset_at=1000.2, allowed=False)
    assert quota.headers() == {
        "X-RateLimit-Endpoint-Class": "write",
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1001",
    }
    assert quota.retry_after(now=990.0) == 11
    # Never 0: a client told to retry at once would only be refused again.
    assert quota.retry_after(now=1000.2) == 1


@pytest.mark.parametrize(
    ("method", "route", "expected"),
    [
        ("GET", SimpleNamespace(openapi_extra=None), "read"),
        ("PATCH", SimpleNamespace(openapi_extra=None), "write"),
        ("DELETE", None, "write"),
        ("POST", SimpleNamespace(openapi_extra={"requestBody": {}}), "write"),
        ("POST", SimpleNamespace(openapi_extra=rate_limit_class("job")), "job"),
    ],
)
def test_the_class_comes_from_the_route_declaration_else_the_method(
    method: str, route: object, expected: str
) -> None:
    assert class_of(method, route) == expected


def test_a_misspelt_declaration_is_refused() -> None:
    with pytest.raises(ValueError, match="jobs"):
        class_of("POST", SimpleNamespace(openapi_extra={"x-rate-limit-class": "jobs"}))


def test_settings_choose_the_storage() -> None:
    assert isinstance(RateLimiter.from_settings(Settings()).storage, MemoryStorage)
    distributed = RateLimiter.from_settings(
        Settings(redis_url="redis://127.0.0.1:6379/15", rate_limit_key_prefix="tenant-a")
    )
    assert isinstance(distributed.storage, RedisStorage)
    assert distributed.storage.key_prefix == "tenant-a"


def test_an_unreachable_redis_leaves_requests_unlimited() -> None:
    # Port 1 refuses connections at once; the API must not answer 500 for a limiter outage.
    limiter = RateLimiter.from_settings(Settings(redis_url="redis://127.0.0.1:1/0"))
    assert limiter.hit("key_a", "standard", "job") is None
