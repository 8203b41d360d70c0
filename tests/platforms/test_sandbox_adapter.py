"""SandboxPlatform: reads advance lazily, writes land once, failures can be injected."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from adpilot.platforms.base import (
    AdPlatform,
    PlatformAuthError,
    PlatformName,
    PlatformRejected,
    PlatformTransientError,
    WriteRequest,
)
from adpilot.platforms.sandbox import (
    InMemorySandboxStore,
    SandboxPlatform,
    applied_count,
    inject_fault,
    write_count,
)
from adpilot.sim import Market, bootstrap_market

START = dt.datetime(2026, 11, 22, 15, 0, tzinfo=dt.UTC)
TODAY = START.date()


class Clock:
    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, days: int) -> None:
        self.now += dt.timedelta(days=days)


def make(
    platform: PlatformName = "meta", store: InMemorySandboxStore | None = None
) -> tuple[SandboxPlatform, InMemorySandboxStore, Clock]:
    store = store or InMemorySandboxStore()
    clock = Clock()
    return SandboxPlatform(platform, store, f"aac_{platform}", clock), store, clock


def write(
    action: str,
    entity_type: str,
    entity: str,
    new: dict[str, Any],
    key: str,
    current: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> WriteRequest:
    return WriteRequest(
        action_type=action,  # type: ignore[arg-type]
        entity_type=entity_type,  # type: ignore[arg-type]
        entity_external_id=entity,
        current_value=current or {},
        new_value=new,
        idempotency_key=key,
        context=context or {},
    )


def test_it_satisfies_the_platform_protocol() -> None:
    platform, _, _ = make()
    typed: AdPlatform = platform
    info = typed.validate()
    assert info.currency == "USD" and info.timezone
    assert platform.platform == "meta"


def test_an_empty_store_gets_the_bootstrap_account_and_state_is_plain_json() -> None:
    platform, store, _ = make("tiktok")
    snap = platform.fetch_snapshot(TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=1))
    assert len(snap.campaigns) == 3 and snap.metrics and snap.breakdowns
    state = store.get("aac_tiktok")
    assert json.loads(json.dumps(state, allow_nan=False)) == state
    assert Market.from_state(state).through == TODAY - dt.timedelta(days=1)


def test_a_stored_bootstrap_state_is_used_as_is() -> None:
    market = bootstrap_market("apple", 42, TODAY)
    store = InMemorySandboxStore({"acct": market.to_state()})
    platform = SandboxPlatform("apple", store, "acct", Clock())
    ids = {c.external_id for c in platform.fetch_snapshot(TODAY, TODAY).campaigns}
    assert ids == set(market.campaigns.id)


def test_reads_advance_to_yesterday_by_the_clock() -> None:
    platform, store, clock = make()
    platform.validate()
    assert Market.from_state(store.get("aac_meta")).through == TODAY - dt.timedelta(days=1)
    clock.advance(3)
    snap = platform.fetch_snapshot(TODAY, TODAY + dt.timedelta(days=10))
    assert {m.date for m in snap.metrics} == {TODAY + dt.timedelta(days=d) for d in range(3)}
    assert Market.from_state(store.get("aac_meta")).through == TODAY + dt.timedelta(days=2)


def test_recent_conversions_grow_on_later_reads() -> None:
    platform, _, clock = make()
    window = (TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1))
    first = sum(m.conversions for m in platform.fetch_snapshot(*window).metrics)
    truth = platform.market()
    true_total = int(
        sum(
            truth.history.conversions[d - truth.history.day0].sum()
            for d in range(window[0].toordinal(), window[1].toordinal() + 1)
        )
    )
    clock.advance(30)
    settled = sum(m.conversions for m in platform.fetch_snapshot(*window).metrics)
    assert first < settled == true_total


def test_read_state_reports_live_values() -> None:
    platform, _, _ = make()
    snap = platform.fetch_snapshot(TODAY, TODAY)
    adset = next(s for s in snap.adsets if s.daily_budget_cents)
    state = platform.read_state("adset", adset.external_id)
    ads = [a for a in snap.ads if a.adset_external_id == adset.external_id and a.status == "active"]
    assert state.status == "active"
    assert state.daily_budget_cents == adset.daily_budget_cents
    assert state.active_ads == len(ads)
    assert set(state.active_creative_external_ids) == {a.creative_external_id for a in ads}
    assert state.targeting == adset.targeting and state.schedule == adset.schedule
    with pytest.raises(PlatformRejected) as e:
        platform.read_state("ad", "nope")
    assert e.value.platform_code == "100/33"


def test_apply_is_idempotent_by_key_and_the_log_shows_each_send() -> None:
    platform, store, _ = make()
    snap = platform.fetch_snapshot(TODAY, TODAY)
    ad = next(a for a in snap.ads if a.status == "active")
    w = write("pause_ad", "ad", ad.external_id, {"status": "paused"}, "pa_1", {"status": "active"})
    first = platform.apply(w)
    assert platform.read_state("ad", ad.external_id).status == "paused"
    # Another process (a new adapter on the same store) repeats the send.
    other = SandboxPlatform("meta", store, "aac_meta", Clock())
    assert other.apply(w) == first
    assert write_count(platform, "pa_1") == 2
    assert applied_count(store.get("aac_meta"), "pa_1") == 1
    entry = store.get("aac_meta")["writes"][0]
    assert entry["key"] == "pa_1" and entry["action_type"] == "pause_ad"
    assert entry["entity"] == {"type": "ad", "external_id": ad.external_id} and entry["at"]


def test_a_paused_ad_stops_spending() -> None:
    platform, _, clock = make()
    snap = platform.fetch_snapshot(TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1))
    spend: dict[str, int] = {}
    for m in snap.metrics:
        spend[m.ad_external_id] = spend.get(m.ad_external_id, 0) + m.spend_cents
    ad = max(spend, key=lambda k: spend[k])
    platform.apply(write("pause_ad", "ad", ad, {"status": "paused"}, "k"))
    clock.advance(4)
    later = platform.fetch_snapshot(TODAY, TODAY + dt.timedelta(days=3))
    assert later.metrics
    assert not [m for m in later.metrics if m.ad_external_id == ad]


def test_a_budget_write_changes_spend() -> None:
    platform, _, clock = make()
    snap = platform.fetch_snapshot(TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1))
    adset = max(
        (s for s in snap.adsets if s.daily_budget_cents), key=lambda s: s.daily_budget_cents or 0
    )
    ads = {a.external_id for a in snap.ads if a.adset_external_id == adset.external_id}
    before = sum(m.spend_cents for m in snap.metrics if m.ad_external_id in ads) / 7
    new_budget = (adset.daily_budget_cents or 0) // 2
    platform.apply(
        write("update_budget", "adset", adset.external_id, {"dailyBudgetCents": new_budget}, "b")
    )
    assert platform.read_state("adset", adset.external_id).daily_budget_cents == new_budget
    clock.advance(7)
    later = platform.fetch_snapshot(TODAY, TODAY + dt.timedelta(days=6))
    after = sum(m.spend_cents for m in later.metrics if m.ad_external_id in ads) / 7
    assert 0.4 < after / before < 0.6


def test_push_creative_creates_an_ad_running_the_creative() -> None:
    platform, _, _ = make()
    snap = platform.fetch_snapshot(TODAY, TODAY)
    adset = snap.adsets[0]
    creative = next(c for c in platform.list_creatives() if not c.running_in_adsets)
    before = platform.read_state("adset", adset.external_id).active_ads or 0
    result = platform.apply(
        write(
            "push_creative",
            "adset",
            adset.external_id,
            {"adsContentId": "adc_1", "activeAds": before + 1},
            "push",
            {"activeAds": before},
            {"creativeExternalId": creative.external_id},
        )
    )
    assert result.created_external_id
    state = platform.read_state("adset", adset.external_id)
    assert state.active_ads == before + 1
    assert creative.external_id in state.active_creative_external_ids
    ad = platform.read_state("ad", result.created_external_id)
    assert ad.status == "active" and ad.creative_external_id == creative.external_id


def test_replace_and_prune_creative() -> None:
    platform, _, _ = make("tiktok")
    snap = platform.fetch_snapshot(TODAY, TODAY)
    ad, other = [a for a in snap.ads if a.status == "active"][:2]
    fresh = next(c for c in platform.list_creatives() if not c.running_in_adsets)
    ctx = {"creativeExternalId": fresh.external_id}
    platform.apply(write("replace_creative", "ad", ad.external_id, {}, "r", context=ctx))
    assert platform.read_state("ad", ad.external_id).creative_external_id == fresh.external_id
    platform.apply(write("prune_creative", "ad", other.external_id, {"status": "removed"}, "p"))
    assert platform.read_state("ad", other.external_id).status == "deleted"


def test_apple_replace_creates_a_new_ad_and_deletes_the_old() -> None:
    platform, _, _ = make("apple")
    snap = platform.fetch_snapshot(TODAY, TODAY)
    ad = snap.ads[0]
    fresh = next(c for c in platform.list_creatives() if not c.running_in_adsets)
    ctx = {"creativeExternalId": fresh.external_id}
    result = platform.apply(write("replace_creative", "ad", ad.external_id, {}, "r", context=ctx))
    assert result.created_external_id and result.created_external_id != ad.external_id
    assert platform.read_state("ad", ad.external_id).status == "deleted"
    assert (
        platform.read_state("ad", result.created_external_id).creative_external_id
        == fresh.external_id
    )


def test_targeting_and_schedule_writes_show_in_breakdowns() -> None:
    platform, _, clock = make()
    snap = platform.fetch_snapshot(TODAY, TODAY)
    adset = next(s for s in snap.adsets if len(s.targeting["geo"]) >= 2 and s.status == "active")
    keep = adset.targeting["geo"][:1]
    platform.apply(write("update_targeting", "adset", adset.external_id, {"geo": keep}, "t"))
    hours = list(range(8, 20))
    platform.apply(write("update_schedule", "adset", adset.external_id, {"dayparts": hours}, "s"))
    state = platform.read_state("adset", adset.external_id)
    assert state.targeting == {"geo": keep} and state.schedule == {"dayparts": hours}
    clock.advance(3)
    rows = [
        b
        for b in platform.fetch_snapshot(TODAY, TODAY + dt.timedelta(days=2)).breakdowns
        if b.adset_external_id == adset.external_id
    ]
    assert {b.key for b in rows if b.dimension == "country"} == set(keep)
    assert {int(b.key) for b in rows if b.dimension == "hour"} <= set(hours)


@pytest.mark.parametrize(
    ("platform_name", "code"), [("meta", "100"), ("tiktok", "40002"), ("apple", "VALIDATION_ERROR")]
)
def test_impossible_writes_are_rejected_with_platform_codes(
    platform_name: PlatformName, code: str
) -> None:
    platform, store, _ = make(platform_name)
    snap = platform.fetch_snapshot(TODAY, TODAY)
    holder = next(c for c in snap.campaigns if c.budget_mode == "campaign")
    with pytest.raises(PlatformRejected) as e:
        platform.apply(
            write("update_budget", "campaign", holder.external_id, {"dailyBudgetCents": 1}, "low")
        )
    assert e.value.platform_code == code
    with pytest.raises(PlatformRejected):
        platform.apply(write("pause_ad", "ad", "123", {"status": "paused"}, "missing"))
    ad = snap.ads[0].external_id
    platform.apply(write("prune_creative", "ad", ad, {"status": "removed"}, "prune"))
    with pytest.raises(PlatformRejected) as e:
        platform.apply(write("pause_ad", "ad", ad, {"status": "paused"}, "pause-deleted"))
    assert e.value.platform_code == code
    adset = snap.adsets[0].external_id
    with pytest.raises(PlatformRejected):
        platform.apply(write("update_schedule", "adset", adset, {"dayparts": ["noon"]}, "bad"))
    with pytest.raises(PlatformRejected):
        platform.apply(write("pause_adset", "ad", ad, {"status": "paused"}, "wrong-entity"))
    assert write_count(store.get(f"aac_{platform_name}"), "low") == 0


def test_meta_limits_budget_changes_to_four_an_hour_per_ad_set() -> None:
    platform, _, clock = make()
    snap = platform.fetch_snapshot(TODAY, TODAY)
    adset = next(s for s in snap.adsets if s.daily_budget_cents)
    budget = adset.daily_budget_cents or 0
    for n in range(4):
        new = {"dailyBudgetCents": budget + 100 * (n + 1)}
        platform.apply(write("update_budget", "adset", adset.external_id, new, f"b{n}"))
    fifth = write("update_budget", "adset", adset.external_id, {"dailyBudgetCents": budget}, "b4")
    with pytest.raises(PlatformTransientError) as e:
        platform.apply(fifth)
    assert e.value.platform_code == "17" and e.value.retry_after == 3600.0
    clock.now += dt.timedelta(minutes=61)
    platform.apply(fifth)
    assert platform.read_state("adset", adset.external_id).daily_budget_cents == budget


def test_a_budget_on_an_ad_set_under_a_campaign_budget_is_rejected() -> None:
    platform, _, _ = make()
    snap = platform.fetch_snapshot(TODAY, TODAY)
    cbo = {c.external_id for c in snap.campaigns if c.budget_mode == "campaign"}
    adset = next(s for s in snap.adsets if s.campaign_external_id in cbo)
    with pytest.raises(PlatformRejected):
        platform.apply(
            write("update_budget", "adset", adset.external_id, {"dailyBudgetCents": 9000}, "x")
        )


def test_injected_transient_faults_fail_the_next_applies_then_clear() -> None:
    platform, store, _ = make()
    ad = platform.fetch_snapshot(TODAY, TODAY).ads[0].external_id
    w = write("pause_ad", "ad", ad, {"status": "paused"}, "retry-me")
    inject_fault(store, "aac_meta", "transient", 2)
    for _ in range(2):
        with pytest.raises(PlatformTransientError) as e:
            platform.apply(w)
        assert e.value.platform_code == "2"
    assert platform.read_state("ad", ad).status == "active"  # nothing changed
    platform.apply(w)
    assert platform.read_state("ad", ad).status == "paused"
    assert write_count(platform, "retry-me") == 1
    outcomes = [e["outcome"] for e in store.get("aac_meta")["writes"]]
    assert outcomes == ["transient", "transient", "applied"]


def test_injected_rejections_and_rate_limits_carry_codes() -> None:
    platform, _, _ = make("tiktok")
    ad = platform.fetch_snapshot(TODAY, TODAY).ads[0].external_id
    platform.inject_fault("rejected", code="40050", message="duplicated request")
    with pytest.raises(PlatformRejected) as e:
        platform.apply(write("pause_ad", "ad", ad, {"status": "paused"}, "a"))
    assert e.value.platform_code == "40050" and "duplicated" in e.value.message
    platform.inject_fault("rate_limited")
    with pytest.raises(PlatformTransientError) as t:
        platform.apply(write("pause_ad", "ad", ad, {"status": "paused"}, "a"))
    assert t.value.platform_code == "40100" and t.value.retry_after == 60.0
    platform.apply(write("pause_ad", "ad", ad, {"status": "paused"}, "a"))


def test_a_lost_response_applies_the_write_once() -> None:
    platform, store, _ = make()
    ad = platform.fetch_snapshot(TODAY, TODAY).ads[0].external_id
    w = write("pause_ad", "ad", ad, {"status": "paused"}, "lost")
    inject_fault(store, "aac_meta", "lost_response")
    with pytest.raises(PlatformTransientError):
        platform.apply(w)
    # The caller saw a failure, but the platform did it: reading first avoids a second send.
    assert platform.read_state("ad", ad).status == "paused"
    assert write_count(platform, "lost") == 1
    platform.apply(w)  # a careless resend is answered from the log, not applied again
    assert applied_count(platform, "lost") == 1 and write_count(platform, "lost") == 2


def test_read_and_auth_faults() -> None:
    platform, store, _ = make("apple")
    platform.validate()
    inject_fault(store, "aac_apple", "auth_expired", op="read")
    with pytest.raises(PlatformAuthError) as e:
        platform.validate()
    assert e.value.token_status == "expired"
    platform.validate()  # consumed
    inject_fault(store, "aac_apple", "auth_invalid", op="any")
    with pytest.raises(PlatformAuthError) as e:
        platform.fetch_snapshot(TODAY, TODAY)
    assert e.value.token_status == "invalid"
    inject_fault(store, "aac_apple", "transient", op="read")
    with pytest.raises(PlatformTransientError):
        platform.read_state(
            "campaign", platform.fetch_snapshot(TODAY, TODAY).campaigns[0].external_id
        )


@pytest.mark.parametrize("platform_name", ["meta", "tiktok", "apple"])
def test_build_request_is_the_platform_payload(platform_name: PlatformName) -> None:
    platform, _, _ = make(platform_name)
    snap = platform.fetch_snapshot(TODAY, TODAY)
    holder = next(c for c in snap.campaigns if c.budget_mode == "campaign")
    w = write(
        "update_budget",
        "campaign",
        holder.external_id,
        {"dailyBudgetCents": 7500},
        "q",
        {"dailyBudgetCents": holder.daily_budget_cents},
    )
    request = platform.build_request(w)
    account = platform.validate().external_id
    expected: dict[str, object] = {
        "meta": {
            "method": "POST",
            "path": f"/v26.0/{holder.external_id}",
            "params": {"daily_budget": "7500"},
        },
        "tiktok": {
            "method": "POST",
            "path": "/open_api/v1.3/campaign/update/",
            "body": {"advertiser_id": account, "campaign_id": holder.external_id, "budget": 75.0},
        },
        "apple": {
            "method": "PUT",
            "path": f"/v1/campaigns/{holder.external_id}",
            "headers": {"X-AP-Context": f"adAccountId={account}"},
            "body": {"dailyBudget": {"value": {"amount": "75.00", "currency": "USD"}}},
        },
    }
    assert request == expected[platform_name]
    # Building a request sends nothing.
    assert platform.read_state("campaign", holder.external_id).daily_budget_cents != 7500


def test_build_request_fills_in_what_the_platform_needs() -> None:
    platform, _, _ = make("tiktok")
    snap = platform.fetch_snapshot(TODAY, TODAY)
    ad = snap.ads[0]
    fresh = next(c for c in platform.list_creatives() if not c.running_in_adsets)
    request = platform.build_request(
        write(
            "replace_creative",
            "ad",
            ad.external_id,
            {"adsContentId": "adc_9"},
            "r",
            context={"creativeExternalId": fresh.external_id},
        )
    )
    assert request["body"]["adgroup_id"] == ad.adset_external_id
    assert request["body"]["creatives"] == [
        {"ad_id": ad.external_id, "video_id": fresh.external_id}
    ]


class ShallowCopyStore:
    """Like the database store: yields a shallow copy, keeps the old value for comparison."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.committed = state

    @contextmanager
    def transaction(self, account_key: str) -> Iterator[dict[str, Any]]:
        working = dict(self.committed)
        yield working
        self.committed = working


def test_nested_state_is_replaced_never_mutated_in_place() -> None:
    # A JSON column compares old and new values: mutating shared nested lists would hide changes.
    store = ShallowCopyStore(bootstrap_market("meta", 5, TODAY).to_state())
    platform = SandboxPlatform("meta", store, "k", Clock())
    ad = platform.fetch_snapshot(TODAY, TODAY).ads[0].external_id
    before = store.committed
    frozen = json.dumps(before, sort_keys=True)
    platform.inject_fault("transient")
    with pytest.raises(PlatformTransientError):
        platform.apply(write("pause_ad", "ad", ad, {"status": "paused"}, "a"))
    platform.apply(write("pause_ad", "ad", ad, {"status": "paused"}, "a"))
    assert json.dumps(before, sort_keys=True) == frozen
    assert store.committed["writes"][-1]["outcome"] == "applied"
    assert store.committed["faults"] == []


def test_writes_and_faults_cross_adapters_sharing_a_store() -> None:
    store = InMemorySandboxStore()
    clock = Clock()
    first = SandboxPlatform("meta", store, "shared", clock)
    second = SandboxPlatform("meta", store, "shared", clock)
    ad = first.fetch_snapshot(TODAY, TODAY).ads[0].external_id
    first.apply(write("pause_ad", "ad", ad, {"status": "paused"}, "x"))
    assert second.read_state("ad", ad).status == "paused"
    second.inject_fault("transient")
    with pytest.raises(PlatformTransientError):
        first.apply(write("pause_ad", "ad", ad, {"status": "paused"}, "y"))
