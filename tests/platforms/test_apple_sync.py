"""The Apple adapter's reads against the fake Apple Ads Platform API v1, over real HTTP.

Each test uses its own ad account on the session's fake (the simulator is the ground truth).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from adpilot.fakes import apple as fake_apple
from adpilot.fakes.apple.state import state_of
from adpilot.fakes.server import RunningFake
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.base import PlatformRejected, PlatformTransientError
from adpilot.sim import reports
from adpilot.sim.generate import generate_market
from tests.platforms.apple_support import (
    adapter,
    calls,
    mark,
    new_account_id,
    options,
    shared_fake,
    window,
)
from tests.platforms.virtual_clock import VirtualClock


@pytest.fixture()
def fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


@pytest.fixture()
def world(fake: RunningFake) -> FakeWorld:
    return fake.world


def test_a_sync_reads_what_the_account_holds_in_adpilot_units(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    since, until = window()
    start = mark(world)
    snap = platform.fetch_snapshot(since, until)
    m = world.market(account)
    truth = reports.snapshot(m, since, until)

    assert snap.account.external_id == account and snap.account.currency == "USD"
    assert {c.external_id: c.daily_budget_cents for c in snap.campaigns} == {
        c.external_id: c.daily_budget_cents for c in truth.campaigns
    }
    assert all(c.budget_mode == "campaign" for c in snap.campaigns)
    by_id = {s.external_id: s for s in snap.adsets}
    for s in truth.adsets:
        got = by_id[s.external_id]
        assert got.campaign_external_id == s.campaign_external_id
        assert got.targeting == {"geo": sorted(s.targeting["geo"])}  # geo ids read back as ISO
        assert got.schedule == s.schedule and got.daily_budget_cents is None
    assert {(a.external_id, a.adset_external_id, a.creative_external_id) for a in snap.ads} == {
        (a.external_id, a.adset_external_id, a.creative_external_id) for a in truth.ads
    }
    # Daily rows: cents exactly, taps as clicks, tap-through installs (not total installs) as
    # conversions, the simulator's lagged view.
    assert snap.metrics == sorted(truth.metrics, key=lambda r: (r.date, r.ad_external_id))
    assert all(r.frequency is None for r in snap.metrics)
    countries = {
        (b.adset_external_id, b.key): b for b in snap.breakdowns if b.dimension == "country"
    }
    assert countries == {
        (b.adset_external_id, b.key): b for b in truth.breakdowns if b.dimension == "country"
    }
    # Hours: Apple gives hourly data for the last 7 days only.
    hourly_since = until - dt.timedelta(days=6)
    _, by_hour = reports.breakdown_totals(m, hourly_since, until, m.through + dt.timedelta(days=1))
    hours = {(b.adset_external_id, int(b.key)): b for b in snap.breakdowns if b.dimension == "hour"}
    assert hours, "the hour breakdown is read"
    for (group, hour), b in hours.items():
        j = m.index_of("adset", group)
        assert [b.spend_cents, b.impressions, b.clicks, b.conversions] == by_hour[j, hour].tolist()
    assert len(hours) == int((by_hour[..., 1] > 0).sum())

    # As few round trips as the wire format allows (the first call also bought a token).
    logged = calls(world, start)
    assert [c.status for c in logged] == [200] * len(logged)
    assert Counter(c.path for c in logged)["/auth/oauth2/token"] == 1
    assert len(logged) - 1 == fake_apple.minimum_sync_calls(world, account, since, until)
    reports_sent = [c for c in logged if c.path.startswith("/v1/reports/")]
    assert len(reports_sent) == 3 * len(snap.campaigns)  # one per campaign and report kind


def test_large_accounts_are_read_across_pages(fake: RunningFake, world: FakeWorld) -> None:
    account = new_account_id()
    today = dt.datetime.now(dt.UTC).date()
    world.add_market(
        account,
        generate_market(
            "apple",
            seed=7,
            n_campaigns=1,
            n_adsets=300,
            ads_per_adset=4,
            daily_spend_range=(20_000.0, 30_000.0),
            today=today,
            history_days=31,
            account_external_id=account,
        ),
    )
    since, until = window()
    start = mark(world)
    snap = adapter(fake, account).fetch_snapshot(since, until)
    m = world.market(account)
    assert len(snap.ads) == len(m.ads.id) == 1200
    assert len({a.external_id for a in snap.ads}) == 1200
    assert len(snap.adsets) == 300
    expected = reports.daily_metrics(m, since, until)
    assert len(snap.metrics) == len(expected) and snap.metrics == expected
    logged = Counter(c.path for c in calls(world, start))
    # 1200 ads: two pages of entities and two pages of the (one campaign's) ads report.
    assert logged["/v1/ads/query"] == 2
    assert logged["/v1/reports/apps/ads/query"] == 2
    assert logged["/v1/adgroups/query"] == 1


def test_the_fake_holds_the_client_to_apples_paging_and_report_rules(fake: RunningFake) -> None:
    """What the client relies on: pageSize ≤ 1000, one campaign per report, DAILY windows."""
    account = new_account_id()
    platform = adapter(fake, account)
    client = platform.client
    with pytest.raises(PlatformRejected) as too_big:
        client.request("POST", "/v1/ads/query", {"pagination": {"offset": 0, "pageSize": 1001}})
    assert too_big.value.platform_code == "VALIDATION_ERROR"
    # Without pagination Apple answers 20 items.
    default = client.request("POST", "/v1/ads/query", {})
    assert len(default["result"]) == min(20, len(fake.world.market(account).ads.id))
    since, until = window()
    span = {"start": since.isoformat(), "end": until.isoformat(), "granularity": "DAILY"}
    with pytest.raises(PlatformRejected) as no_campaign:
        client.request("POST", "/v1/reports/apps/ads/query", {"timeRange": span})
    assert "campaignId" in no_campaign.value.message
    campaign = fake.world.market(account).campaigns.id[0]
    only = [{"field": "campaignId", "operator": "EQUALS", "value": campaign}]
    too_old = {**span, "start": (until - dt.timedelta(days=120)).isoformat()}
    with pytest.raises(PlatformRejected):
        client.request(
            "POST", "/v1/reports/apps/ads/query", {"filters": only, "timeRange": too_old}
        )
    hourly_ads = {**span, "granularity": "HOURLY"}
    with pytest.raises(PlatformRejected):
        client.request(
            "POST", "/v1/reports/apps/ads/query", {"filters": only, "timeRange": hourly_ads}
        )


def test_a_one_day_window_reads_totals_since_daily_needs_two_days(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    day = window()[1]
    snap = adapter(fake, account).fetch_snapshot(day, day)
    assert snap.metrics == reports.daily_metrics(world.market(account), day, day)
    assert snap.metrics and {r.date for r in snap.metrics} == {day}


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("http_429", 429),
        ("http_500", 500),
        ("http_502", 502),
        ("http_503", 503),
        ("http_504", 504),
        ("unauthorized", 401),
    ],
)
def test_each_retried_error_is_retried_until_the_read_succeeds(
    fake: RunningFake, world: FakeWorld, kind: str, status: int
) -> None:
    account = new_account_id()
    clock = VirtualClock()
    platform = adapter(fake, account, http=options(sleep=clock.sleep, monotonic=clock.monotonic))
    platform.validate()  # token in hand
    start = mark(world)
    world.inject(kind, path="/v1/campaigns/query", count=2 if status != 401 else 1, retry_after=1)
    since, until = window(3)
    snap = platform.fetch_snapshot(since, until)
    assert len(snap.campaigns) == len(world.market(account).campaigns.id)
    statuses = [c.status for c in calls(world, start, lambda c: c.path == "/v1/campaigns/query")]
    if status == 401:
        # One fresh token, one resend.
        assert statuses == [401, 200]
        assert [c.path for c in calls(world, start)].count("/auth/oauth2/token") == 1
    else:
        assert statuses == [status, status, 200]
    if status == 429:
        assert clock.slept[:2] == [1.0, 1.0]  # Retry-After honoured over the short ladder


def test_a_slow_answer_is_a_timeout_and_is_retried(fake: RunningFake, world: FakeWorld) -> None:
    account = new_account_id()
    platform = adapter(fake, account, http=options(timeout_sec=0.5))
    platform.validate()
    world.inject("delay", path=f"/v1/ad-accounts/{account}", seconds=1.5)
    assert platform.validate().external_id == account


def test_transient_errors_beyond_the_ladder_go_up_as_transient(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    world.inject("http_503", path="/v1/ads/query", count=10)
    with pytest.raises(PlatformTransientError) as failed:
        platform.fetch_snapshot(*window(3))
    assert failed.value.platform_code == "service_unavailable"


def test_a_report_refused_for_one_campaign_fails_the_whole_sync(
    fake: RunningFake, world: FakeWorld
) -> None:
    """No partial snapshot: metrics silently missing for a campaign would read as no delivery."""
    account = new_account_id()
    platform = adapter(fake, account)
    world.inject(
        "validation",
        path="/v1/reports/apps/ads/query",
        code="REPORT_TOO_LARGE",
        message="The report is too large",
    )
    with pytest.raises(PlatformRejected) as refused:
        platform.fetch_snapshot(*window())
    assert refused.value.platform_code == "VALIDATION_ERROR"
    assert "REPORT_TOO_LARGE" in refused.value.message


def test_reads_slow_down_on_the_rate_limit_headers_instead_of_hitting_429(
    fake: RunningFake, world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = new_account_id()
    # The fake's rate windows and the client's waits share one clock that takes no real time.
    clock = VirtualClock()
    monkeypatch.setattr(state_of(world), "monotonic", clock.monotonic)
    fake_apple.set_rate_limit(world, 5, 1.0, account_id=account)
    platform = adapter(fake, account, http=options(sleep=clock.sleep, monotonic=clock.monotonic))
    platform.client.workers = 1  # one request at a time, so the pacing alone is measured
    campaign = world.market(account).campaigns.id[0]
    start, began = mark(world), clock.monotonic()
    for _ in range(12):
        platform.read_state("campaign", campaign)
    logged = calls(world, start, lambda c: c.path == f"/v1/campaigns/{campaign}")
    assert len(logged) == 12
    assert [c.status for c in logged] == [200] * 12, "the client ran into the limit"
    assert sum(clock.slept) >= 1.0  # it waited for windows to reset
    # Requests in any one window never exceeded the limit (the fake would have said 429), so
    # 12 requests at 5 a window spanned three windows.
    assert clock.monotonic() - began >= 2.0


def test_error_envelopes_become_typed_refusals(fake: RunningFake) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    with pytest.raises(PlatformRejected) as missing:
        platform.read_state("campaign", "999999999")
    # The older `{"error": {"errors": [...]}}` shape is read too: its item code is the code.
    assert missing.value.platform_code == "CAMPAIGN_NOT_FOUND"
    assert "Campaign with id '999999999' not found" in missing.value.message
    with pytest.raises(PlatformRejected) as bad:
        platform.client.request("POST", "/v1/ads/query", {"filters": [{"field": "nope"}]})
    assert bad.value.platform_code == "VALIDATION_ERROR" and "INVALID_FILTER" in bad.value.message


def test_every_response_carries_the_rate_limit_headers(fake: RunningFake) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    token = platform.client.auth.token()
    response = httpx.get(
        f"{fake.base_url}/v1/ad-accounts/{account}",
        headers={"Authorization": f"Bearer {token}", "X-AP-Context": f"adAccountId={account}"},
    )
    assert response.status_code == 200
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(response.headers)
    missing_context = httpx.get(
        f"{fake.base_url}/v1/ad-accounts/{account}", headers={"Authorization": f"Bearer {token}"}
    )
    assert missing_context.status_code == 403
