"""TikTok's error envelope through the real client and the fake: every retried code is retried,
refusals are not, tokens fail with the right status, and rate limits slow the client down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from adpilot.config import Settings
from adpilot.fakes.server import RunningFake
from adpilot.fakes.tiktok import fake_state, issue_auth_code
from adpilot.platforms.base import (
    PlatformAuthError,
    PlatformRejected,
    PlatformTransientError,
)
from adpilot.platforms.http import MAX_WAIT_SEC
from adpilot.platforms.registry import LiveAccount, open_live
from adpilot.platforms.tiktok import client as tiktok_client
from adpilot.platforms.tiktok.client import TikTokClient, parallel
from tests.platforms.tiktok_support import (
    adapter,
    answers_since,
    mark,
    new_advertiser,
    options,
    shared_fake,
    truth,
    window,
)
from tests.platforms.virtual_clock import VirtualClock

INFO = "/open_api/v1.3/advertiser/info/"
RATE_LIMITS = ("40100", "40016", "40133")
SERVER_SIDE = ("40202", "50000", "50002", "51305", "60001", "http_500", "http_503", "http_429")


@pytest.fixture()
def fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


def info_answers(fake: RunningFake, since: int) -> list[int | str | None]:
    return [
        a.code if a.code is not None else f"http_{a.http_status}"
        for a in answers_since(fake, since)
        if a.path == INFO
    ]


@pytest.mark.parametrize("kind", RATE_LIMITS + SERVER_SIDE)
def test_each_retryable_answer_is_retried_until_it_succeeds(fake: RunningFake, kind: str) -> None:
    advertiser = new_advertiser()
    clock = VirtualClock()
    platform = adapter(fake, advertiser, clock=clock)
    fake.world.inject(kind, path=INFO, count=2)
    before = mark(fake)
    assert platform.validate().external_id == advertiser
    first = int(kind) if kind.isdigit() else kind
    assert info_answers(fake, before) == [first, first, 0]
    if kind in RATE_LIMITS:
        # TikTok's QPS limits reset each second: the client waits a second, not the short ladder.
        assert clock.slept.count(1.0) >= 2
    else:
        assert clock.slept[:2] == [0.01, 0.02]


def test_a_retry_after_header_is_honoured(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    clock = VirtualClock()
    platform = adapter(fake, advertiser, clock=clock)
    fake.world.inject("http_429", path=INFO, retry_after=3)
    platform.validate()
    assert 3.0 in clock.slept


def test_a_retry_after_beyond_the_longest_wait_goes_up_and_holds_no_call_longer(
    fake: RunningFake,
) -> None:
    """A platform asking for an hour gets its error raised at once (the job retries later), and
    the pause it sets holds the other accounts' calls back no longer than one call may wait."""
    clock = VirtualClock()
    limited = adapter(fake, new_advertiser(), clock=clock)
    fake.world.inject("http_429", path=INFO, retry_after=3600)
    before = mark(fake)
    with pytest.raises(PlatformTransientError) as failed:
        limited.validate()
    assert failed.value.retry_after == 3600.0
    assert info_answers(fake, before) == ["http_429"]
    other = new_advertiser()
    assert adapter(fake, other, clock=clock).validate().external_id == other
    assert clock.slept and max(clock.slept) <= MAX_WAIT_SEC


def test_a_transient_error_goes_up_once_the_ladder_is_used_up(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    platform = adapter(fake, advertiser, clock=VirtualClock())
    fake.world.inject("50000", path=INFO, count=10)
    before = mark(fake)
    with pytest.raises(PlatformTransientError) as failed:
        platform.validate()
    assert failed.value.platform_code == "50000"
    assert info_answers(fake, before) == [50000] * 4  # the first try and three retries


@pytest.mark.parametrize("code", ["40002", "40007", "40300"])
def test_a_refusal_is_not_retried(fake: RunningFake, code: str) -> None:
    advertiser = new_advertiser()
    platform = adapter(fake, advertiser, clock=VirtualClock())
    fake.world.inject(code, path=INFO, message="advertiser_ids: bad value")
    before = mark(fake)
    with pytest.raises(PlatformRejected) as refused:
        platform.validate()
    assert (refused.value.platform_code, refused.value.message) == (
        code,
        "advertiser_ids: bad value",
    )
    assert info_answers(fake, before) == [int(code)]


def test_an_expired_token_is_an_auth_error_marked_expired(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    token = fake.credentials_for(advertiser)["accessToken"]
    fake.world.expire_token(token)
    with pytest.raises(PlatformAuthError) as failed:
        adapter(fake, advertiser, clock=VirtualClock()).validate()
    assert (failed.value.token_status, failed.value.platform_code) == ("expired", "40102")


def test_a_revoked_token_is_an_auth_error_marked_invalid(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    token = fake.credentials_for(advertiser)["accessToken"]
    fake.world.revoke_token(token)
    before = mark(fake)
    with pytest.raises(PlatformAuthError) as failed:
        adapter(fake, advertiser, clock=VirtualClock()).validate()
    assert (failed.value.token_status, failed.value.platform_code) == ("invalid", "40105")
    assert info_answers(fake, before) == [40105]  # never retried


def test_a_token_of_another_advertiser_is_invalid_here(fake: RunningFake) -> None:
    mine, theirs = new_advertiser(), new_advertiser()
    token = fake.credentials_for(theirs)["accessToken"]
    with pytest.raises(PlatformAuthError) as failed:
        adapter(fake, mine, token=token, clock=VirtualClock()).validate()
    assert (failed.value.token_status, failed.value.platform_code) == ("invalid", "40106")


def test_a_request_without_the_access_token_header_is_refused(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    client = TikTokClient(fake.base_url, "", options(VirtualClock()))
    with pytest.raises(PlatformAuthError) as failed:
        client.get("/advertiser/info/", {"advertiser_ids": [advertiser]})
    assert (failed.value.token_status, failed.value.platform_code) == ("invalid", "40104")
    # An account stored without a token never reaches the platform.
    settings = Settings(**fake.settings_overrides())  # type: ignore[arg-type]
    with pytest.raises(PlatformAuthError):
        open_live(settings, LiveAccount("tiktok", advertiser, {}), options())


def test_a_rate_limited_call_waits_a_second_before_trying_again(fake: RunningFake) -> None:
    """Real time: the fake allows one advertiser read a second; three reads in a row."""
    advertiser = new_advertiser()
    config = fake_state(fake.world).config
    config.endpoint_qps = {**config.endpoint_qps, "/advertiser/info/": 1}
    platform = adapter(fake, advertiser)
    before = mark(fake)
    for _ in range(3):
        platform.validate()
    answered = [a for a in answers_since(fake, before) if a.path == INFO]
    assert [a.code for a in answered] == [0, 40100, 0, 40100, 0]
    for refused, retry in ((answered[1], answered[2]), (answered[3], answered[4])):
        assert retry.arrived - refused.at >= 0.9


@pytest.mark.parametrize("code", ["40100", "40133"])
def test_a_rate_limit_code_holds_back_what_the_limit_covers(
    fake: RunningFake, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real time: one advertiser's client reads campaigns in a loop while another advertiser's
    read is refused. TikTok's app-level limit (40100) covers every advertiser of the app, so
    nothing goes out for the next second; the advertiser-level one (40133) only holds back the
    refused advertiser."""
    monkeypatch.setattr(tiktok_client, "ENDPOINT_QPS", 500)
    fake_state(fake.world).config.qps = 500
    busy, refused_one = new_advertiser(), new_advertiser()
    reader, refused_client = adapter(fake, busy), adapter(fake, refused_one)
    query = {"advertiser_id": busy, "page_size": 1}

    flowing, done = threading.Event(), threading.Event()

    def read_campaigns() -> None:
        # Keep reading until the refused advertiser has been answered again, however slowly
        # the machine runs, so there are reads to hold back (or not) after the refusal.
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            reader.client.get("/campaign/get/", query)
            flowing.set()

    def read_advertiser() -> None:
        assert flowing.wait(10)  # once the campaign reads are flowing
        try:
            refused_client.validate()
        finally:
            done.set()

    fake.world.inject(code, path=INFO)
    before = mark(fake)
    parallel([read_campaigns, read_advertiser])
    answered = answers_since(fake, before)
    (refused,) = [a for a in answered if a.code == int(code)]
    held = [a for a in answered if refused.at + 0.05 < a.arrived < refused.at + 0.9]
    retried = [a for a in answered if a.path == INFO and a.code == 0]
    assert len(retried) == 1 and retried[0].arrived - refused.at >= 0.9
    if code == "40100":
        assert held == []
    else:
        assert held and {a.path for a in held} == {"/open_api/v1.3/campaign/get/"}


def test_a_sync_under_a_tighter_rate_limit_still_reads_everything(fake: RunningFake) -> None:
    """Real time: the platform allows 3 report queries a second, the client assumes 10."""
    advertiser = new_advertiser()
    config = fake_state(fake.world).config
    config.endpoint_qps = {**config.endpoint_qps, "/report/integrated/get/": 3}
    since, until = window(fake, advertiser)
    before = mark(fake)
    snap = adapter(fake, advertiser).fetch_snapshot(since, until)
    expected = truth(fake, advertiser, since, until)
    assert snap.metrics == sorted(expected.metrics, key=lambda m: (m.date, m.ad_external_id))
    answered = answers_since(fake, before)
    refused = [a for a in answered if a.code == 40100]
    assert refused
    # Each refused query went out again and got its rows: as many successes as queries.
    reports_ok = [a for a in answered if a.path.endswith("/integrated/get/") and a.code == 0]
    assert len(reports_ok) == len({str(sorted(a.params.items())) for a in reports_ok})


def test_an_auth_code_is_exchanged_once_for_a_working_token(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    code = issue_auth_code(fake.world, [advertiser])
    client = TikTokClient(fake.base_url, "", options(VirtualClock()))
    body = {"app_id": "7000", "secret": "s3cret", "auth_code": code}
    granted = client.post("/oauth2/access_token/", body).data
    assert granted["advertiser_ids"] == [advertiser]
    token = granted["access_token"]
    assert adapter(fake, advertiser, token=token, clock=VirtualClock()).validate()
    with pytest.raises(PlatformRejected) as reused:
        client.post("/oauth2/access_token/", body)
    assert reused.value.platform_code == "40110"
    mine = TikTokClient(fake.base_url, token, options(VirtualClock()))
    listed = mine.get("/oauth2/advertiser/get/", {"app_id": "7000", "secret": "s3cret"})
    assert [a["advertiser_id"] for a in listed["list"]] == [advertiser]
