"""Platform limits shared by processes: two workers, each with its own limiter over one store
(in-process memory, or Redis as separate processes would reach it), never send together what
the platform allows only once."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from adpilot.config import Settings
from adpilot.fakes import apple as fake_apple
from adpilot.fakes.apple.state import state_of
from adpilot.fakes.server import RunningFake
from adpilot.platforms.base import PlatformDeferred, PlatformError, WriteRequest
from adpilot.platforms.http import HttpOptions, in_parallel
from adpilot.platforms.limits import (
    LimitStore,
    MemoryLimitStore,
    PlatformLimits,
    RedisLimitStore,
)
from adpilot.platforms.registry import LiveAccount, open_live
from adpilot.sim import reports
from tests.platforms import apple_support, meta_support, tiktok_support
from tests.platforms.virtual_clock import VirtualClock

REDIS_URL = os.environ.get("ADPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Two stores as two worker processes hold them: the same object in memory (threads of one
# process), or two clients of one Redis.
StorePair = Callable[[], tuple[LimitStore, LimitStore]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def two_stores(request: pytest.FixtureRequest) -> Iterator[StorePair]:
    if request.param == "memory":
        shared = MemoryLimitStore()
        yield lambda: (shared, shared)
        return
    prefix = f"adpilot-test-limits-{uuid.uuid4().hex}"
    server = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    server.ping()
    yield lambda: (
        RedisLimitStore.from_url(REDIS_URL, prefix),
        RedisLimitStore.from_url(REDIS_URL, prefix),
    )
    for key in server.scan_iter(match=f"{prefix}*"):
        server.delete(key)


def _open(
    fake: RunningFake, platform: str, account: str, limits: PlatformLimits, **http: Any
) -> Any:
    values: dict[str, Any] = {"retry_delays": (0.01, 0.02, 0.04), "timeout_sec": 10.0}
    values.update(http)
    settings = Settings(**fake.settings_overrides())  # type: ignore[arg-type]
    live = LiveAccount(platform, account, fake.credentials_for(account))  # type: ignore[arg-type]
    return open_live(settings, live, HttpOptions(limits=limits, **values))


# ---------------------------------------------------------------- the store itself


def test_a_window_admits_its_limit_and_says_when_the_next_place_frees(
    two_stores: StorePair,
) -> None:
    first, second = two_stores()
    taken = [store.take("k", 2, 100.0, 160.0 + i) for i, store in enumerate((first, second))]
    assert all(t.admitted for t in taken)
    full = first.take("k", 2, 101.0, 161.0)
    assert not full.admitted and full.free_at == 160.0
    # An answered request counts a window from its answer; a dropped one not at all.
    second.settle("k", taken[0].token or "", 102.0, 103.0)
    assert second.take("k", 2, 103.5, 163.5).admitted
    second.drop("k", taken[1].token or "")
    assert first.take("k", 2, 104.0, 164.0).admitted
    assert not first.take("k", 2, 104.0, 164.0).admitted


def test_a_pause_only_grows_and_a_quota_is_spent_by_every_holder(two_stores: StorePair) -> None:
    first, second = two_stores()
    first.pause("p", 100.0, 130.0)
    second.pause("p", 100.0, 110.0)
    assert second.paused_until("p") == 130.0
    assert first.spend_quota("q", 100.0) == 0.0  # nothing known: not held back
    first.learn_quota("q", 3, 100.0, 160.0)
    second.learn_quota("q", 5, 100.5, 160.5)  # an older answer of the same window says more
    spent = [store.spend_quota("q", 101.0) for store in (first, second, first, second)]
    assert spent == [0.0, 0.0, 0.0, 160.5]
    first.learn_quota("q", 9, 161.0, 221.0)  # a new window
    assert second.spend_quota("q", 161.0) == 0.0


# ---------------------------------------------------------------- Meta


def test_two_workers_never_send_more_than_four_budget_changes_to_one_ad_set_an_hour(
    fake_platforms: dict[str, RunningFake], two_stores: StorePair
) -> None:
    meta = fake_platforms["meta"]
    account = meta_support.new_account()
    with meta.world.lock:
        m = meta.world.market(account)
        adset = next(s.external_id for s in reports.adsets_data(m) if s.daily_budget_cents)
    stores = two_stores()
    workers = [_open(meta, "meta", account, PlatformLimits(store)) for store in stores]
    outcomes: list[str] = []
    lock = threading.Lock()

    def change(step: int) -> None:
        cents = 10_000 + step * 100
        write = WriteRequest(
            "update_budget", "adset", adset, {}, {"dailyBudgetCents": cents}, f"k{step}"
        )
        try:
            workers[step % 2].apply(write)
            outcome = "sent"
        except PlatformDeferred as exc:
            assert 3500 < (exc.retry_after or 0) <= 3600
            assert "budget changes in the last hour" in exc.message
            outcome = "deferred"
        with lock:
            outcomes.append(outcome)

    before = len(meta_support.calls(meta.world, f"/{adset}", "POST"))
    in_parallel([lambda step=step: change(step) for step in range(10)], max_workers=10)  # type: ignore[misc]
    assert sorted(outcomes) == ["deferred"] * 6 + ["sent"] * 4
    posts = meta_support.calls(meta.world, f"/{adset}", "POST")[before:]
    assert len(posts) == 4 and all(c.status == 200 for c in posts)


def test_usage_header_slow_down_holds_back_every_worker_of_the_account(
    fake_platforms: dict[str, RunningFake], two_stores: StorePair
) -> None:
    meta = fake_platforms["meta"]
    account = meta_support.new_account()
    clock = VirtualClock()
    first, second = (
        _open(
            meta,
            "meta",
            account,
            PlatformLimits(store, clock.monotonic),
            sleep=clock.sleep,
            monotonic=clock.monotonic,
        )
        for store in two_stores()
    )
    first.client.http.slow_down(7.5)  # as a usage header at 90% would ask
    first.validate()
    second.validate()
    # The first waited the pause; the second found it over (a retry step may add a short wait).
    assert clock.slept[0] == 7.5 and clock.slept.count(7.5) == 1


# ---------------------------------------------------------------- TikTok


@pytest.fixture()
def tiktok(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from tiktok_support.shared_fake(fake_platforms)


def test_two_workers_together_stay_within_tiktoks_requests_per_second(
    tiktok: RunningFake, two_stores: StorePair
) -> None:
    """Real time: 40 reads of one endpoint from two workers, each alone allowed 10 a second;
    TikTok counts them per app, and refuses none."""
    advertisers = [tiktok_support.new_advertiser() for _ in range(2)]
    workers = [
        _open(tiktok, "tiktok", advertiser, PlatformLimits(store))
        for advertiser, store in zip(advertisers, two_stores(), strict=True)
    ]
    before = tiktok_support.mark(tiktok)
    in_parallel(
        [
            lambda n=n: workers[n % 2].client.get(
                "/campaign/get/", {"advertiser_id": advertisers[n % 2], "page_size": 1}
            )
            for n in range(40)
        ],
        max_workers=16,
    )
    answered = tiktok_support.answers_since(tiktok, before)
    # None refused for the rate (a request retried after a timeout may be answered twice).
    assert len([a for a in answered if a.code == 0]) >= 40
    assert not {40100, 40133} & {a.code for a in answered}


def test_two_workers_together_create_at_most_two_report_tasks_a_second(
    tiktok: RunningFake, two_stores: StorePair
) -> None:
    """Real time: task creation is limited to 2 a second per app."""
    advertisers = [tiktok_support.new_advertiser() for _ in range(2)]
    workers = [
        _open(tiktok, "tiktok", advertiser, PlatformLimits(store))
        for advertiser, store in zip(advertisers, two_stores(), strict=True)
    ]
    before = tiktok_support.mark(tiktok)

    def create(n: int) -> None:
        body = {"advertiser_id": advertisers[n % 2], "report_type": "BASIC"}
        try:
            workers[n % 2].client.post("/report/task/create/", body, repeatable=False)
        except PlatformError as exc:
            assert exc.platform_code not in {"40100", "40133"}

    in_parallel([lambda n=n: create(n) for n in range(6)], max_workers=6)  # type: ignore[misc]
    answered = [
        a
        for a in tiktok_support.answers_since(tiktok, before)
        if a.path.endswith("/report/task/create/")
    ]
    assert len(answered) == 6 and 40100 not in {a.code for a in answered}
    arrivals = sorted(a.arrived for a in answered)
    for i in range(len(arrivals) - 2):
        assert arrivals[i + 2] - arrivals[i] >= 1.0, "three task creations within a second"


def test_a_rate_limit_code_seen_by_one_worker_holds_the_other_back(
    tiktok: RunningFake, two_stores: StorePair
) -> None:
    clock = VirtualClock()
    advertisers = [tiktok_support.new_advertiser() for _ in range(2)]
    first, second = (
        _open(
            tiktok,
            "tiktok",
            advertiser,
            PlatformLimits(store, clock.monotonic),
            sleep=clock.sleep,
            monotonic=clock.monotonic,
        )
        for advertiser, store in zip(advertisers, two_stores(), strict=True)
    )
    tiktok.world.inject("40100", path="/advertiser/info/")
    first.validate()  # refused once, paused the app a second, answered on the retry
    assert clock.slept[0] >= 1.0
    waited = len(clock.slept)
    first.client._gate.pause(1.0)  # as the refusal did
    second.validate()
    assert clock.slept[waited:] == [1.0]


# ---------------------------------------------------------------- Apple


def test_two_workers_together_stay_within_apples_rate_limit(
    fake_platforms: dict[str, RunningFake], two_stores: StorePair, monkeypatch: pytest.MonkeyPatch
) -> None:
    apple = fake_platforms["apple"]
    account = apple_support.new_account_id()
    clock = VirtualClock()
    monkeypatch.setattr(state_of(apple.world), "monotonic", clock.monotonic)
    fake_apple.set_rate_limit(apple.world, 6, 10.0, account_id=account)
    workers = [
        _open(
            apple,
            "apple",
            account,
            PlatformLimits(store, clock.monotonic),
            sleep=clock.sleep,
            monotonic=clock.monotonic,
        )
        for store in two_stores()
    ]
    for worker in workers:
        worker.client.workers = 1
    campaign = apple.world.market(account).campaigns.id[0]
    start = apple_support.mark(apple.world)
    for n in range(24):
        workers[n % 2].read_state("campaign", campaign)
    logged = apple_support.calls(
        apple.world, start, lambda c: c.path == f"/v1/campaigns/{campaign}"
    )
    assert [c.status for c in logged] == [200] * 24, "the workers ran into Apple's limit"


def test_an_unreachable_limits_store_defers_sends_instead_of_sending_uncounted() -> None:
    store = RedisLimitStore.from_url("redis://127.0.0.1:1/0", "adpilot-test-unreachable")
    with pytest.raises(PlatformDeferred) as caught:
        store.take("k", 4, 100.0, 160.0)
    assert "unreachable" in caught.value.message and caught.value.retry_after
