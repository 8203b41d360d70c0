"""The Meta adapter's reads against the fake Graph API over loopback HTTP: a full sync, cursor
paging, the async report flow, breakdowns, money units and live entity reads."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator

import pytest

from adpilot.fakes.meta import configure, set_currency
from adpilot.fakes.server import RunningFake
from adpilot.platforms.base import WriteRequest
from adpilot.platforms.meta.insights import ReportPolicy
from tests.platforms.meta_support import adapter, calls, new_account, shared_fake, truth, window


@pytest.fixture()
def meta(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


def by_key(rows: list) -> list:
    return sorted(rows, key=repr)


def test_a_sync_shows_exactly_what_the_account_holds(meta: RunningFake) -> None:
    account = new_account()
    since, until = window(meta.world)
    snapshot = adapter(meta, account).fetch_snapshot(since, until)
    expected = truth(meta.world, account, since, until)
    assert snapshot.account == expected.account
    assert snapshot.campaigns == expected.campaigns
    assert snapshot.adsets == expected.adsets
    assert snapshot.ads == expected.ads
    # Spend went over the wire as major-unit decimal strings, budgets as minor-unit strings.
    assert by_key(snapshot.metrics) == by_key(expected.metrics)
    assert {b.dimension for b in snapshot.breakdowns} == {"country", "hour"}
    assert by_key(snapshot.breakdowns) == by_key(expected.breakdowns)
    assert any(c.budget_mode == "campaign" for c in snapshot.campaigns)
    assert all(m.frequency is not None for m in snapshot.metrics)
    # One request per listing and report: the account, three listings, three insights queries.
    assert len([c for c in meta.world.calls_to(account)]) == 7


def test_listings_page_through_every_cursor(meta: RunningFake) -> None:
    account = new_account()
    since, until = window(meta.world)
    configure(meta.world, max_limit=5)
    snapshot = adapter(meta, account).fetch_snapshot(since, until)
    expected = truth(meta.world, account, since, until)
    assert snapshot.ads == expected.ads and len(expected.ads) == 23
    ads_calls = calls(meta.world, f"{account}/ads")
    assert len(ads_calls) == 5  # 23 ads, 5 per page
    cursors = [c.query.get("after") for c in ads_calls]
    assert cursors[0] is None and len(set(cursors[1:])) == 4
    # Insight rows page the same way, and every row arrived.
    assert by_key(snapshot.metrics) == by_key(expected.metrics)
    assert len(calls(meta.world, f"{account}/insights")) > len(expected.metrics) // 5


def test_an_empty_page_that_links_on_is_followed(meta: RunningFake) -> None:
    account = new_account()
    since, until = window(meta.world)
    configure(meta.world, max_limit=10)
    meta.world.inject("empty_page", path=f"{account}/ads?", method="GET")
    snapshot = adapter(meta, account).fetch_snapshot(since, until)
    assert snapshot.ads == truth(meta.world, account, since, until).ads
    # The empty first page, then the three real ones.
    assert len(calls(meta.world, f"{account}/ads")) == 4


def test_a_page_that_fails_once_is_fetched_again_without_starting_over(
    meta: RunningFake,
) -> None:
    account = new_account()
    since, until = window(meta.world)
    configure(meta.world, max_limit=10)
    client = adapter(meta, account)
    client.validate()
    # The first /ads request is page 1; the fault answers page 2 with a temporary error.
    first = client.client.get(f"{account}/ads", {"fields": "id", "limit": 10})
    meta.world.inject(
        "2", path=f"{account}/ads?", method="GET", message="(#2) Service temporarily unavailable"
    )
    rows = client.client.rows_after(first)
    assert [r["id"] for r in rows] == [
        a.external_id for a in truth(meta.world, account, since, until).ads if a.status != "deleted"
    ]
    pages = [(c.query.get("after"), c.status) for c in calls(meta.world, f"{account}/ads")]
    assert pages[0] == (None, 200)
    assert pages[1][1] == 500 and pages[2] == (pages[1][0], 200)  # the same cursor, retried
    assert len(pages) == 4


def test_a_sync_refused_for_size_falls_back_to_an_async_report(meta: RunningFake) -> None:
    account = new_account()
    since, until = window(meta.world)
    # The client waits on a virtual clock while the shared fake's reports run on the wall
    # clock: a report that took any real time would be polled into the client's timeout.
    configure(meta.world, sync_row_limit=100, report_seconds=0.0)
    snapshot = adapter(meta, account).fetch_snapshot(since, until)
    expected = truth(meta.world, account, since, until)
    assert by_key(snapshot.metrics) == by_key(expected.metrics) and len(expected.metrics) > 100
    log = calls(meta.world, "")
    refused = [c for c in log if c.path.endswith("/insights") and c.status == 400]
    # The daily rows and the hour breakdown (7 ad sets × 24 hours) were both too large.
    assert sorted(c.query.get("breakdowns", "-") for c in refused) == [
        "-",
        "hourly_stats_aggregated_by_advertiser_time_zone",
    ]
    started = [c for c in log if c.method == "POST" and c.path.endswith(f"{account}/insights")]
    assert len(started) == 2
    polls = [
        c for c in log if c.method == "GET" and c.path.count("/") == 2 and "act_" not in c.path
    ]
    assert polls, "the report was polled before its rows were read"


def test_a_large_account_goes_async_up_front_in_parallel_reports(meta: RunningFake) -> None:
    account = new_account()
    since, until = window(meta.world)
    # Each report completes on its third status poll: the client's waits are virtual, so the
    # test spends no real time and cannot race a slow machine.
    configure(meta.world, report_polls=3)
    client = adapter(meta, account)
    # 23 ads × 30 days is "large" for this reader: async at once, split in three reports.
    client.insights.policy = ReportPolicy(async_rows=100, rows_per_report=250)
    snapshot = client.fetch_snapshot(since, until)
    expected = truth(meta.world, account, since, until)
    assert by_key(snapshot.metrics) == by_key(expected.metrics)
    log = calls(meta.world, "")
    assert not [
        c
        for c in log
        if c.method == "GET"
        and c.path.endswith(f"{account}/insights")
        and c.query.get("level") == "ad"
    ]
    started = [c for c in log if c.method == "POST" and c.path.endswith(f"{account}/insights")]
    assert len(started) == 3
    ranges = sorted(tuple(json.loads(c.query["time_range"]).values()) for c in started)
    assert ranges[0][0] == since.isoformat() and ranges[-1][1] == until.isoformat()
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert dt.date.fromisoformat(start) - dt.date.fromisoformat(end) == dt.timedelta(days=1)
    # Each report was polled until complete: twice running, then done.
    run_ids = {
        c.path.split("/")[2] for c in log if c.path.endswith("/insights") and "act_" not in c.path
    }
    assert len(run_ids) == 3
    for run_id in run_ids:
        assert len([c for c in log if c.path.rstrip("/").endswith(run_id)]) >= 3


def test_a_failed_report_is_started_again(meta: RunningFake) -> None:
    account = new_account()
    since, until = window(meta.world)
    configure(meta.world, sync_row_limit=10, report_seconds=0.0)
    meta.world.inject("job_failed", path=f"{account}/insights", method="POST")
    snapshot = adapter(meta, account).fetch_snapshot(since, until)
    assert by_key(snapshot.metrics) == by_key(truth(meta.world, account, since, until).metrics)
    assert len(calls(meta.world, f"{account}/insights", "POST")) >= 2


def test_an_unavailable_breakdown_leaves_the_rest_of_the_sync_intact(meta: RunningFake) -> None:
    account = new_account()
    since, until = window(meta.world)
    configure(meta.world, breakdowns=("country",))
    snapshot = adapter(meta, account).fetch_snapshot(since, until)
    expected = truth(meta.world, account, since, until)
    assert by_key(snapshot.metrics) == by_key(expected.metrics)
    assert {b.dimension for b in snapshot.breakdowns} == {"country"}
    assert by_key(snapshot.breakdowns) == by_key(
        [b for b in expected.breakdowns if b.dimension == "country"]
    )


def test_a_zero_decimal_currency_is_converted_both_ways(meta: RunningFake) -> None:
    account = new_account()
    since, until = window(meta.world)
    set_currency(meta.world, account, "JPY")
    client = adapter(meta, account)
    assert client.validate().currency == "JPY"
    expected = truth(meta.world, account, since, until)
    snapshot = client.fetch_snapshot(since, until)
    # Budgets come as whole yen and spend as yen: adpilot holds 1/100 yen ("cents").
    holder = next(s for s in expected.adsets if s.daily_budget_cents)
    got = next(s for s in snapshot.adsets if s.external_id == holder.external_id)
    assert got.daily_budget_cents == holder.daily_budget_cents // 100 * 100
    spend = {(m.ad_external_id, m.date): m.spend_cents for m in snapshot.metrics}
    for m in expected.metrics:
        assert abs(spend[(m.ad_external_id, m.date)] - m.spend_cents) <= 50
        assert spend[(m.ad_external_id, m.date)] % 100 == 0
    write = WriteRequest(
        "update_budget", "adset", holder.external_id, {}, {"dailyBudgetCents": 1_234_500}, "k"
    )
    assert client.build_request(write)["params"] == {"daily_budget": "12345"}
    client.apply(write)
    assert client.read_state("adset", holder.external_id).daily_budget_cents == 1_234_500


def test_live_reads_match_the_simulated_entities(meta: RunningFake) -> None:
    account = new_account()
    since, until = window(meta.world)
    client = adapter(meta, account)
    expected = truth(meta.world, account, since, until)
    adset = expected.adsets[0]
    state = client.read_state("adset", adset.external_id)
    running = [
        a for a in expected.ads if a.adset_external_id == adset.external_id and a.status == "active"
    ]
    assert state.status == adset.status and state.daily_budget_cents == adset.daily_budget_cents
    assert state.active_ads == len(running)
    assert set(state.active_creative_external_ids) == {a.creative_external_id for a in running}
    assert state.targeting == adset.targeting and state.schedule == adset.schedule
    ad = expected.ads[0]
    assert client.read_state("ad", ad.external_id).creative_external_id == ad.creative_external_id
    cbo = next(c for c in expected.campaigns if c.budget_mode == "campaign")
    assert (
        client.read_state("campaign", cbo.external_id).daily_budget_cents == cbo.daily_budget_cents
    )
