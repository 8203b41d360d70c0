"""The TikTok adapter's reads against the wire-format fake over loopback HTTP: the account,
entities, daily metrics and breakdowns, paging, sync and async reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

import httpx
import pytest

from adpilot.fakes.server import RunningFake
from adpilot.fakes.tiktok import fake_state
from adpilot.platforms.base import BreakdownMetric, PlatformRejected
from adpilot.platforms.tiktok import client as tiktok_client
from adpilot.platforms.tiktok import reports as tiktok_reports
from adpilot.platforms.tiktok.adapter import HOURLY_DAYS
from adpilot.sim import reports
from tests.platforms.tiktok_support import (
    adapter,
    answers_since,
    mark,
    market,
    new_advertiser,
    shared_fake,
    truth,
    window,
)


@pytest.fixture()
def fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


def by_id(items: list) -> list:  # type: ignore[type-arg]
    return sorted(items, key=lambda x: x.external_id)


def ordered(rows: Iterable[BreakdownMetric]) -> list[BreakdownMetric]:
    return sorted(rows, key=lambda b: (b.adset_external_id, b.dimension, b.key))


def test_validate_reads_name_currency_and_time_zone(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    info = adapter(fake, advertiser).validate()
    account = market(fake, advertiser).account
    assert (info.external_id, info.name, info.currency, info.timezone) == (
        advertiser,
        account.name,
        "USD",
        account.timezone,
    )
    (call,) = [c for c in fake.world.calls if c.query.get("advertiser_ids") == f'["{advertiser}"]']
    assert call.path == "/open_api/v1.3/advertiser/info/"


def test_snapshot_is_what_the_market_shows(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    since, until = window(fake, advertiser)
    snap = adapter(fake, advertiser).fetch_snapshot(since, until)
    expected = truth(fake, advertiser, since, until)
    assert snap.account == expected.account
    # Entities, budgets in cents, targeting, dayparts, learning and creatives all survive the trip.
    assert by_id(snap.campaigns) == by_id(expected.campaigns)
    assert by_id(snap.adsets) == by_id(expected.adsets)
    assert by_id(snap.ads) == by_id(expected.ads)
    assert any(c.budget_mode == "campaign" and c.daily_budget_cents for c in snap.campaigns)
    # Daily rows: spend in cents, impressions, clicks, lagged conversions, frequency.
    assert snap.metrics == sorted(expected.metrics, key=lambda m: (m.date, m.ad_external_id))
    assert all(m.frequency is not None for m in snap.metrics)
    countries = [b for b in snap.breakdowns if b.dimension == "country"]
    assert ordered(countries) == ordered(b for b in expected.breakdowns if b.dimension == "country")
    # Hours come from hourly rows of the last HOURLY_DAYS days, summed per hour of day.
    hourly_since = until - dt.timedelta(days=HOURLY_DAYS - 1)
    with fake.world.lock:
        hours = reports.breakdowns(market(fake, advertiser), hourly_since, until)
    assert ordered(b for b in snap.breakdowns if b.dimension == "hour") == ordered(
        b for b in hours if b.dimension == "hour"
    )


def test_listings_and_reports_page_through_every_page(
    fake: RunningFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    advertiser = new_advertiser()
    monkeypatch.setattr(tiktok_client, "PAGE_SIZE", 7)
    monkeypatch.setattr(tiktok_reports, "PAGE_SIZE", 7)
    # Pages only: no span becomes an async task; and many small pages may go quickly.
    monkeypatch.setattr(tiktok_reports, "TASK_MIN_PAGES", 10**6)
    monkeypatch.setattr(tiktok_client, "ENDPOINT_QPS", 200)
    fake_state(fake.world).config.qps = 200
    since, until = window(fake, advertiser)
    start = len(fake.world.calls)
    snap = adapter(fake, advertiser, hourly_days=1).fetch_snapshot(since, until)
    expected = truth(fake, advertiser, since, until)
    assert by_id(snap.ads) == by_id(expected.ads) and len(snap.ads) > 7
    assert len(snap.metrics) == len(expected.metrics) > 7 * 20
    calls = fake.world.calls[start:]
    ad_pages = sorted(int(c.query["page"]) for c in calls if c.path.endswith("/ad/get/"))
    assert ad_pages == list(range(1, -(-len(snap.ads) // 7) + 1))
    daily_pages = [
        int(c.query["page"])
        for c in calls
        if c.path.endswith("/report/integrated/get/") and "stat_time_day" in c.query["dimensions"]
    ]
    assert sorted(daily_pages) == list(range(1, -(-len(snap.metrics) // 7) + 1))
    assert {c.query["page_size"] for c in calls if "page_size" in c.query} == {"7"}


def test_a_page_larger_than_a_thousand_is_refused(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    client = adapter(fake, advertiser).client
    with pytest.raises(PlatformRejected) as refused:
        client.get("/ad/get/", {"advertiser_id": advertiser, "page": 1, "page_size": 1001})
    assert refused.value.platform_code == "40002" and "page_size" in refused.value.message


def test_list_parameters_travel_as_json_strings(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    since, until = window(fake, advertiser)
    start = len(fake.world.calls)
    adapter(fake, advertiser).fetch_snapshot(since, until)
    report = next(c for c in fake.world.calls[start:] if c.path.endswith("/report/integrated/get/"))
    assert report.query["dimensions"].startswith('["')
    assert report.query["metrics"].startswith('["spend"')
    listing = next(c for c in fake.world.calls[start:] if c.path.endswith("/campaign/get/"))
    assert listing.query["filtering"] == '{"primary_status":"STATUS_ALL"}'


def test_big_spans_go_through_async_report_tasks(
    fake: RunningFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    advertiser = new_advertiser()
    fake_state(fake.world).config.task_checks = 3
    # With tiny pages every report looks big: the planner moves the biggest spans to tasks.
    monkeypatch.setattr(tiktok_reports, "PAGE_SIZE", 20)
    since, until = window(fake, advertiser)
    before = mark(fake)
    snap = adapter(fake, advertiser).fetch_snapshot(since, until)
    expected = truth(fake, advertiser, since, until)
    assert snap.metrics == sorted(expected.metrics, key=lambda m: (m.date, m.ad_external_id))
    answered = answers_since(fake, before)
    created = [a for a in answered if a.path.endswith("/report/task/create/")]
    checks = [a for a in answered if a.path.endswith("/report/task/check/")]
    downloads = [a for a in answered if a.path.endswith("/report/task/download/")]
    assert created and len(downloads) == len(created)
    # QUEUING, PROCESSING, SUCCESS: three checks per task before its download.
    assert len(checks) == 3 * len(created)
    # A report file is a CSV body, not the JSON envelope.
    assert all(a.code is None and a.http_status == 200 for a in downloads)


def test_a_failed_report_task_is_created_again(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    client = adapter(fake, advertiser).client
    since, until = window(fake, advertiser)
    spec = tiktok_reports.ReportSpec(
        "BASIC", "AUCTION_AD", ("ad_id", "stat_time_day"), ("spend", "impressions")
    )
    fake.world.inject("FAILED", path="/report/task/check/", message="internal error")
    before = mark(fake)
    rows = tiktok_reports.run_task(client, advertiser, spec, since, until)
    synced = tiktok_reports.fetch_all(
        client, advertiser, [tiktok_reports.ReportJob(spec, since, until)]
    )[0]
    assert rows == synced and rows
    creates = [a for a in answers_since(fake, before) if a.path.endswith("/report/task/create/")]
    assert len(creates) == 2


def test_a_report_download_before_success_is_not_ready(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    client = adapter(fake, advertiser).client
    since, until = window(fake, advertiser)
    created = client.post(
        "/report/task/create/",
        {
            "advertiser_id": advertiser,
            "report_type": "BASIC",
            "data_level": "AUCTION_ADGROUP",
            "dimensions": ["adgroup_id", "stat_time_day"],
            "metrics": ["spend"],
            "start_date": since.isoformat(),
            "end_date": until.isoformat(),
        },
    )
    query = {"advertiser_id": advertiser, "task_id": created.data["task_id"]}
    with pytest.raises(tiktok_client.TaskNotReady) as early:
        client.get_text("/report/task/download/", query)
    assert early.value.platform_code == "40201"


def test_a_report_too_large_is_asked_again_over_shorter_spans(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    since, until = window(fake, advertiser)
    expected = truth(fake, advertiser, since, until)
    per_day = len(expected.metrics) // 30
    # The whole window is refused; about a week passes.
    fake_state(fake.world).config.report_row_limit = per_day * 8
    before = len(fake.world.calls)
    snap = adapter(fake, advertiser, hourly_days=1).fetch_snapshot(since, until)
    assert snap.metrics == sorted(expected.metrics, key=lambda m: (m.date, m.ad_external_id))
    spans = {
        (c.query["start_date"], c.query["end_date"])
        for c in fake.world.calls[before:]
        if c.path.endswith("/report/integrated/get/") and "stat_time_day" in c.query["dimensions"]
    }
    assert (since.isoformat(), until.isoformat()) in spans  # tried first, refused
    days = sorted((dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days + 1 for a, b in spans)
    assert days[0] <= 8 and len(spans) > 3


def test_a_single_day_still_too_large_goes_through_a_task(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    client = adapter(fake, advertiser).client
    _since, until = window(fake, advertiser)
    since = until - dt.timedelta(days=1)
    spec = tiktok_reports.ReportSpec(
        "BASIC", "AUCTION_AD", ("ad_id", "stat_time_day"), ("spend", "clicks")
    )
    job = tiktok_reports.ReportJob(spec, since, until)
    paged = tiktok_reports.fetch_all(client, advertiser, [job])[0]
    fake_state(fake.world).config.report_row_limit = 1
    before = mark(fake)
    rows = tiktok_reports.fetch_all(client, advertiser, [job])[0]
    assert sorted(rows, key=str) == sorted(paged, key=str) and len(rows) > 1
    answered = answers_since(fake, before)
    # Two days refused, then each day refused, then one task per day.
    assert [a.code for a in answered if a.path.endswith("/integrated/get/")] == [40067] * 3
    assert len([a for a in answered if a.path.endswith("/report/task/download/")]) == 2


def test_paths_need_their_trailing_slash(fake: RunningFake) -> None:
    advertiser = new_advertiser()
    token = fake.credentials_for(advertiser)["accessToken"]
    url = f"{fake.base_url}/open_api/v1.3/advertiser/info"
    answer = httpx.get(url, headers={"Access-Token": token}, params={"advertiser_ids": "[]"})
    assert answer.status_code == 404 and answer.text == "404 page not found"
    # The client turns such an answer into a refusal naming the HTTP status.
    client = adapter(fake, advertiser).client
    with pytest.raises(PlatformRejected) as refused:
        client.http.call(lambda: client._parse(client.http.send("GET", url)))
    assert refused.value.platform_code == "HTTP_404"
