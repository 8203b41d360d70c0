"""Platform limits counted in one store every process shares: Redis when configured, else memory.

Three shapes cover every limit adpilot keeps on the platforms' behalf:

- a **window**: at most `limit` entries counting at once under a key (Meta's 4 budget changes
  per ad set per hour; TikTok's requests per endpoint per second). An entry counts until its own
  `until` time, which its taker may move once the request is answered (`settle`) or remove when
  the platform provably never counted it (`drop`);
- a **pause**: nothing under a key is sent before a time (a usage header said slow down, a
  rate-limit code came back, Meta locked a budget);
- a **quota**: what a platform's own headers said is left of its window, spent one request at a
  time by every process (Apple's `RateLimit-Remaining` until `RateLimit-Reset`).

Taking is atomic in the store (a Lua script in Redis), so two processes can never both take the
last slot. Times are seconds on the caller's clock; every process sharing a Redis uses the wall
clock (`time.time`), which hosts keep in step.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from adpilot.config import Settings
from adpilot.platforms.base import PlatformDeferred

# A Redis that stops answering must not hold a platform call for the client's default timeout.
_REDIS_TIMEOUT_SEC = 1.0


@dataclass(frozen=True)
class Taken:
    """The outcome of one `take`: a token when admitted, else the earliest time a slot frees."""

    token: str | None
    free_at: float = 0.0

    @property
    def admitted(self) -> bool:
        return self.token is not None


class LimitStore(Protocol):
    """Where the counts live; every method is atomic for the key it names."""

    def take(self, key: str, limit: int, now: float, until: float) -> Taken:
        """Add an entry counting until `until` when fewer than `limit` count at `now`."""
        ...

    def settle(self, key: str, token: str, now: float, until: float) -> None:
        """Move an entry's end (a request was answered: it counts a window from now)."""
        ...

    def drop(self, key: str, token: str) -> None:
        """Remove an entry the platform never counted (a send refused before it ran)."""
        ...

    def pause(self, key: str, now: float, until: float) -> None:
        """Hold `key` back until `until` (never shortens an existing pause)."""
        ...

    def paused_until(self, key: str) -> float:
        """When the pause on `key` ends (0 when there is none)."""
        ...

    def learn_quota(self, key: str, remaining: int, now: float, until: float) -> None:
        """The platform says `remaining` requests are left until `until`."""
        ...

    def spend_quota(self, key: str, now: float) -> float:
        """Spend one request of the quota: 0 when allowed (or nothing is known yet), else the
        time the quota's window ends."""
        ...


def _new_token() -> str:
    return uuid.uuid4().hex


@dataclass
class _Quota:
    remaining: int
    until: float


@dataclass
class MemoryLimitStore:
    """The embedded default: counts shared by the threads of this process only."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _windows: dict[str, dict[str, float]] = field(default_factory=dict)
    _pauses: dict[str, float] = field(default_factory=dict)
    _quotas: dict[str, _Quota] = field(default_factory=dict)

    def take(self, key: str, limit: int, now: float, until: float) -> Taken:
        with self._lock:
            entries = self._windows.setdefault(key, {})
            for token, end in list(entries.items()):
                if end <= now:
                    del entries[token]
            if len(entries) < limit:
                token = _new_token()
                entries[token] = until
                return Taken(token)
            return Taken(None, min(entries.values()))

    def settle(self, key: str, token: str, now: float, until: float) -> None:
        with self._lock:
            entries = self._windows.get(key, {})
            if token in entries:
                entries[token] = until

    def drop(self, key: str, token: str) -> None:
        with self._lock:
            self._windows.get(key, {}).pop(token, None)

    def pause(self, key: str, now: float, until: float) -> None:
        with self._lock:
            self._pauses[key] = max(self._pauses.get(key, 0.0), until)

    def paused_until(self, key: str) -> float:
        with self._lock:
            return self._pauses.get(key, 0.0)

    def learn_quota(self, key: str, remaining: int, now: float, until: float) -> None:
        with self._lock:
            known = self._quotas.get(key)
            # The same window: answers of requests still in flight elsewhere may say more is
            # left than our own count, never less. A later end is a new window.
            if known is not None and until <= known.until + 1.0:
                known.remaining = min(known.remaining, remaining)
                known.until = max(known.until, until)
            else:
                self._quotas[key] = _Quota(remaining, until)

    def spend_quota(self, key: str, now: float) -> float:
        with self._lock:
            known = self._quotas.get(key)
            if known is None or known.until <= now:
                self._quotas.pop(key, None)
                return 0.0
            if known.remaining <= 0:
                return known.until
            known.remaining -= 1
            return 0.0


# KEYS[1] the window's sorted set (member: token, score: until).
# ARGV: now, limit, until, token. Returns {1} when admitted, else {0, earliest until}.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(last[2]) - tonumber(ARGV[1])) + 1)
  return {1}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, first[2]}
"""
# KEYS[1] the window; ARGV: token, until, now.
_SETTLE = """
if redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[2], ARGV[1]) == 1 then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(last[2]) - tonumber(ARGV[3])) + 1)
end
return 0
"""
# KEYS[1] the pause; ARGV: until, ttl seconds.
_PAUSE = """
local known = redis.call('GET', KEYS[1])
if (not known) or tonumber(known) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 0
"""
# KEYS[1] the quota hash {remaining, until}; ARGV: remaining, until, ttl seconds.
_LEARN = """
local known = redis.call('HMGET', KEYS[1], 'remaining', 'until')
if known[1] and tonumber(ARGV[2]) <= tonumber(known[2]) + 1 then
  if tonumber(ARGV[1]) < tonumber(known[1]) then
    redis.call('HSET', KEYS[1], 'remaining', ARGV[1])
  end
  if tonumber(ARGV[2]) > tonumber(known[2]) then
    redis.call('HSET', KEYS[1], 'until', ARGV[2])
  end
else
  redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'until', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 0
"""
# KEYS[1] the quota; ARGV: now. Returns '0' when allowed, else the window's end.
_SPEND = """
local known = redis.call('HMGET', KEYS[1], 'remaining', 'until')
if (not known[1]) or tonumber(known[2]) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return '0'
end
if tonumber(known[1]) <= 0 then
  return known[2]
end
redis.call('HINCRBY', KEYS[1], 'remaining', -1)
return '0'
"""


def _ttl(seconds: float) -> int:
    return max(1, math.ceil(seconds) + 1)


def _unreachable(exc: Exception) -> PlatformDeferred:
    # Unlike the API's rate limits, these fail closed: sending uncounted could break a limit
    # for every worker. The durable job tries again shortly.
    return PlatformDeferred(
        f"not sent: the platform-limits store (Redis) is unreachable: {exc}", retry_after=5.0
    )


class RedisLimitStore:
    """The distributed store: every process pointed at the same Redis shares the counts.
    An unreachable Redis defers sends (`PlatformDeferred`) rather than sending uncounted."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._take = client.register_script(_TAKE)
        self._settle = client.register_script(_SETTLE)
        self._pause = client.register_script(_PAUSE)
        self._learn = client.register_script(_LEARN)
        self._spend = client.register_script(_SPEND)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisLimitStore:
        import redis

        client = redis.Redis.from_url(
            url, socket_connect_timeout=_REDIS_TIMEOUT_SEC, socket_timeout=_REDIS_TIMEOUT_SEC
        )
        return cls(client, prefix)

    def _key(self, kind: str, key: str) -> str:
        return f"{self._prefix}:{kind}:{key}"

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        import redis

        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise _unreachable(exc) from None

    def take(self, key: str, limit: int, now: float, until: float) -> Taken:
        token = _new_token()
        answer = self._call(
            self._take,
            keys=[self._key("window", key)],
            args=[repr(now), limit, repr(until), token],
        )
        if int(answer[0]) == 1:
            return Taken(token)
        return Taken(None, float(answer[1]))

    def settle(self, key: str, token: str, now: float, until: float) -> None:
        self._call(
            self._settle, keys=[self._key("window", key)], args=[token, repr(until), repr(now)]
        )

    def drop(self, key: str, token: str) -> None:
        self._call(self._redis.zrem, self._key("window", key), token)

    def pause(self, key: str, now: float, until: float) -> None:
        ttl = _ttl(until - now)
        self._call(self._pause, keys=[self._key("pause", key)], args=[repr(until), ttl])

    def paused_until(self, key: str) -> float:
        value = self._call(self._redis.get, self._key("pause", key))
        return float(value) if value is not None else 0.0

    def learn_quota(self, key: str, remaining: int, now: float, until: float) -> None:
        ttl = _ttl(until - now)
        self._call(
            self._learn, keys=[self._key("quota", key)], args=[int(remaining), repr(until), ttl]
        )

    def spend_quota(self, key: str, now: float) -> float:
        return float(self._call(self._spend, keys=[self._key("quota", key)], args=[repr(now)]))


@dataclass(frozen=True)
class PlatformLimits:
    """A store and the clock its times are read on."""

    store: LimitStore
    clock: Callable[[], float] = time.time


_SHARED: dict[tuple[str | None, str], PlatformLimits] = {}
_SHARED_LOCK = threading.Lock()


def shared_limits(settings: Settings) -> PlatformLimits:
    """The process's limits for these settings: Redis (`ADPILOT_REDIS_URL`, the store the API
    rate limits use) when configured, else one in-process store. One object per process, so
    every adapter opened in it shares the counts."""
    key = (settings.redis_url, settings.rate_limit_key_prefix)
    with _SHARED_LOCK:
        limits = _SHARED.get(key)
        if limits is None:
            store: LimitStore = (
                RedisLimitStore.from_url(
                    settings.redis_url, f"{settings.rate_limit_key_prefix}:platform"
                )
                if settings.redis_url
                else MemoryLimitStore()
            )
            limits = _SHARED[key] = PlatformLimits(store)
        return limits


_LOCAL: dict[tuple[Any, Any], PlatformLimits] = {}


def local_limits(monotonic: Callable[[], float], sleep: Callable[[float], None]) -> PlatformLimits:
    """In-process limits on a given clock, for clients built without settings (tests and
    benchmarks on a virtual clock get counts of their own, in step with their clock)."""
    with _SHARED_LOCK:
        limits = _LOCAL.get((monotonic, sleep))
        if limits is None:
            limits = _LOCAL[(monotonic, sleep)] = PlatformLimits(MemoryLimitStore(), monotonic)
        return limits
