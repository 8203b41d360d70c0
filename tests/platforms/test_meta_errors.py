"""How the Meta adapter meets Graph failures over real HTTP: retried codes with their waits,
token expiry, refused credentials, usage-header pacing and the budget-change limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adpilot.fakes.meta import configure
from adpilot.fakes.server import RunningFake, running_fake
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.base import (
    PlatformAuthError,
    PlatformRejected,
    PlatformTransientError,
    WriteRequest,
)
from adpilot.platforms.meta.client import GraphClient
from adpilot.sim import reports
from tests.platforms.meta_support import adapter, calls, new_account, shared_fake
from tests.platforms.virtual_clock import VirtualClock


@pytest.fixture()
def meta(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


RETRIED = [
    ("1", 500, None, "(#1) An unknown error occurred"),
    ("2", 500, 1504043, "(#2) Service temporarily unavailable"),
    ("4", 400, 1504022, "(#4) Application request limit reached"),
    ("17", 400, 2446079, "(#17) User request limit reached"),
    ("613", 400, 1487742, "(#613) Calls to this api have exceeded the rate limit."),
    ("80000", 400, 2446079, "(#80000) There have been too many calls from this ad-account."),
    ("80004", 400, 2446079, "(#80004) There have been too many calls to this ad-account."),
    ("http_503", 503, None, "Service Unavailable"),
]


@pytest.mark.parametrize(("kind", "status", "subcode", "message"), RETRIED)
def test_each_retryable_code_is_retried_until_it_succeeds(
    meta: RunningFake, kind: str, status: int, subcode: int | None, message: str
) -> None:
    account = new_account()
    clock = VirtualClock()
    meta.world.inject(
        kind, path=f"{account}?", method="GET", count=2, subcode=subcode, message=message
    )
    info = adapter(meta, account, clock=clock).validate()
    assert info.external_id == account
    got = [c.status for c in calls(meta.world, account)]
    assert got == [status, status, 200]
    # The retry ladder's first two steps were waited.
    assert clock.slept == [0.01, 0.02]


@pytest.mark.parametrize("code", ["80000", "80004"])
def test_a_blocked_account_waits_the_time_meta_gives(meta: RunningFake, code: str) -> None:
    account = new_account()
    clock = VirtualClock()
    meta.world.inject(code, path=f"{account}?", method="GET", regain_minutes=1, subcode=2446079)
    adapter(meta, account, clock=clock).validate()
    # estimated_time_to_regain_access is in minutes: one minute before the retry.
    assert clock.slept == [60.0]
    assert [c.status for c in calls(meta.world, account)] == [400, 200]


def test_a_block_longer_than_a_call_may_wait_goes_up_to_the_job(meta: RunningFake) -> None:
    account = new_account()
    clock = VirtualClock()
    meta.world.inject("80004", path=f"{account}?", method="GET", regain_minutes=5)
    with pytest.raises(PlatformTransientError) as caught:
        adapter(meta, account, clock=clock).validate()
    assert caught.value.retry_after == 300 and caught.value.platform_code == "80004"
    assert len(calls(meta.world, account)) == 1  # never retried


def test_errors_past_the_ladder_go_up_as_transient(meta: RunningFake) -> None:
    account = new_account()
    meta.world.inject("2", path=f"{account}?", method="GET", count=10)
    with pytest.raises(PlatformTransientError) as caught:
        adapter(meta, account).validate()
    assert caught.value.platform_code == "2"
    assert len(calls(meta.world, account)) == 4  # the first try and three retries


@pytest.mark.parametrize(
    ("token", "token_status", "platform_code"),
    [
        ("expired", "expired", "190/463"),
        ("revoked", "invalid", "190/467"),
        ("unknown", "invalid", "190"),
    ],
)
def test_a_bad_token_is_reported_with_its_status_and_never_retried(
    meta: RunningFake, token: str, token_status: str, platform_code: str
) -> None:
    account = new_account()
    credentials = meta.credentials_for(account)
    if token == "expired":
        meta.world.expire_token(credentials["accessToken"])
    elif token == "revoked":
        meta.world.revoke_token(credentials["accessToken"])
    else:
        credentials = {"accessToken": "EAAnotatoken"}
    with pytest.raises(PlatformAuthError) as caught:
        adapter(meta, account, credentials=credentials).validate()
    assert (caught.value.token_status, caught.value.platform_code) == (token_status, platform_code)
    assert len(calls(meta.world, account)) == 1  # never retried


def test_a_token_for_another_account_is_refused(meta: RunningFake) -> None:
    account, other = new_account(), new_account()
    with pytest.raises(PlatformRejected) as caught:
        adapter(meta, account, credentials=meta.credentials_for(other)).validate()
    assert caught.value.platform_code == "100/33"


def test_the_app_secret_proof_is_sent_and_checked(meta: RunningFake) -> None:
    account = new_account()
    credentials = meta.credentials_for(account)
    adapter(meta, account, credentials=credentials).validate()
    assert all(c.query.get("appsecret_proof") for c in calls(meta.world, account))
    wrong = {**credentials, "appSecret": "not-the-secret"}
    with pytest.raises(PlatformRejected) as caught:
        adapter(meta, account, credentials=wrong).validate()
    assert "appsecret_proof" in caught.value.message and caught.value.platform_code == "100"
    missing = {"accessToken": credentials["accessToken"]}
    with pytest.raises(PlatformRejected):
        adapter(meta, account, credentials=missing).validate()


def test_a_next_link_to_another_host_never_receives_the_token() -> None:
    client = GraphClient("https://graph.example", "v26.0", "secret-token")
    same = client._follow("https://graph.example/v26.0/act_1/ads?access_token=t&after=abc&limit=5")
    assert same == ("https://graph.example/v26.0/act_1/ads", {"after": "abc", "limit": "5"})
    other = client._follow("https://evil.example/v26.0/act_1/ads?after=abc")
    assert other == ("/v26.0/act_1/ads", {"after": "abc"})


def test_usage_headers_slow_the_client_before_meta_blocks_it() -> None:
    """With a budget of 20 calls per 5 minutes, 40 reads in a row would be blocked at the
    21st; pacing on the usage headers spreads them so that none is refused."""
    clock = VirtualClock()
    world = FakeWorld("meta", clock=clock.wall)
    configure(world, buc_budget=20, buc_window_sec=300, buc_block_sec=300)
    account = new_account()
    with running_fake(world) as fake:
        client = adapter(fake, account, clock=clock)
        with world.lock:
            ad = world.market(account).ads.id[0]
        for _ in range(40):
            client.read_state("ad", ad)
        statuses = [c.status for c in world.calls]
    assert statuses == [200] * 40
    assert client.client.last_usage.percent >= 75
    # No pause below 75% usage; pauses once past it; the calls spread over the window.
    assert clock.slept and clock.slept[0] > 0
    assert world.calls[14].at == world.calls[0].at  # the first 15 calls were not held back
    assert (world.calls[-1].at - world.calls[0].at).total_seconds() >= 300


def test_the_usage_headers_alone_would_have_been_blocked() -> None:
    """The same 40 reads without pacing hit Meta's block: the pacing above is what saves them."""
    clock = VirtualClock()
    world = FakeWorld("meta", clock=clock.wall)
    configure(world, buc_budget=20, buc_window_sec=300, buc_block_sec=300)
    account = new_account()
    with running_fake(world) as fake:
        client = adapter(fake, account, clock=clock)
        client.client.http.slow_down = lambda seconds: None  # type: ignore[method-assign]
        with world.lock:
            ad = world.market(account).ads.id[0]
        with pytest.raises(PlatformTransientError) as caught:
            for _ in range(40):
                client.read_state("ad", ad)
    assert caught.value.platform_code == "80004/2446079"
    assert caught.value.retry_after == 300


def _budget_write(adset: str, cents: int) -> WriteRequest:
    return WriteRequest("update_budget", "adset", adset, {}, {"dailyBudgetCents": cents}, "k")


def test_a_fifth_budget_change_in_an_hour_is_refused_before_it_is_sent(meta: RunningFake) -> None:
    account = new_account()
    with meta.world.lock:
        m = meta.world.market(account)
        adset = next(s.external_id for s in reports.adsets_data(m) if s.daily_budget_cents)
    # A fresh adapter per change, as each dispatch opens one: the count is shared.
    for step in range(4):
        adapter(meta, account).apply(_budget_write(adset, 10_000 + step * 100))
    with pytest.raises(PlatformTransientError) as caught:
        adapter(meta, account).apply(_budget_write(adset, 20_000))
    assert caught.value.platform_code == "17"
    assert 3500 < (caught.value.retry_after or 0) <= 3600
    assert len(calls(meta.world, f"/{adset}", "POST")) == 4
    with meta.world.lock:
        assert int(m.adsets.budget[m.index_of("adset", adset)]) == 10_300


def test_meta_locking_a_budget_is_not_retried_and_waits_an_hour(meta: RunningFake) -> None:
    account = new_account()
    with meta.world.lock:
        adset = next(
            s.external_id
            for s in reports.adsets_data(meta.world.market(account))
            if s.daily_budget_cents
        )
    meta.world.inject("17", path=f"/{adset}?", method="POST", subcode=2446079)
    client = adapter(meta, account)
    with pytest.raises(PlatformTransientError) as caught:
        client.apply(_budget_write(adset, 15_000))
    assert caught.value.retry_after == 3600
    assert len(calls(meta.world, f"/{adset}", "POST")) == 1
    # And the lock is remembered: the next change waits without a request.
    with pytest.raises(PlatformTransientError):
        adapter(meta, account).apply(_budget_write(adset, 15_000))
    assert len(calls(meta.world, f"/{adset}", "POST")) == 1


def test_a_write_whose_answer_is_lost_is_not_sent_again_by_the_adapter(meta: RunningFake) -> None:
    account = new_account()
    with meta.world.lock:
        m = meta.world.market(account)
        ad = m.ads.id[0]
    meta.world.inject("2", path=f"/{ad}?", method="POST", after_apply=True)
    write = WriteRequest("pause_ad", "ad", ad, {"status": "active"}, {"status": "paused"}, "k")
    with pytest.raises(PlatformTransientError):
        adapter(meta, account).apply(write)
    # Applied once; the adapter left the retry to the dispatch, which reads first.
    assert len(calls(meta.world, f"/{ad}", "POST")) == 1
    assert adapter(meta, account).read_state("ad", ad).status == "paused"


def test_throttled_writes_are_retried_because_they_never_ran(meta: RunningFake) -> None:
    account = new_account()
    with meta.world.lock:
        ad = meta.world.market(account).ads.id[0]
    meta.world.inject("613", path=f"/{ad}?", method="POST", subcode=1487742)
    write = WriteRequest("pause_ad", "ad", ad, {"status": "active"}, {"status": "paused"}, "k")
    adapter(meta, account).apply(write)
    assert [c.status for c in calls(meta.world, f"/{ad}", "POST")] == [400, 200]


def test_unknown_objects_are_refusals(meta: RunningFake) -> None:
    account = new_account()
    with pytest.raises(PlatformRejected) as caught:
        adapter(meta, account).read_state("ad", "120299999999999999")
    assert caught.value.platform_code == "100/33"
