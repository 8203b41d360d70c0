"""The eight writes through the Apple adapter and the fake, and what makes them safe to repeat."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from adpilot.fakes.server import RunningFake
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.base import PlatformRejected, PlatformTransientError
from adpilot.sim.market import Market
from adpilot.sim.tables import ACTIVE, DELETED, PAUSED
from tests.platforms.apple_support import adapter, mark, new_account_id, sent, shared_fake, write


@pytest.fixture()
def fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


@pytest.fixture()
def world(fake: RunningFake) -> FakeWorld:
    return fake.world


def ads_of(m: Market, group: str) -> list[int]:
    return [int(a) for a in np.flatnonzero(m.ads.adset == m.index_of("adset", group))]


def keep_enabled(world: FakeWorld, account: str, group: str, how_many: int) -> list[str]:
    """Pause all but the first `how_many` ads of the ad group (Apple runs one enabled ad)."""
    with world.lock:
        m = world.market(account)
        now = world.clock()
        rows = ads_of(m, group)
        for a in rows[how_many:]:
            m.set_status("ad", m.ads.id[a], "paused", now)
        return [m.ads.id[a] for a in rows[:how_many]]


def spare_creative(m: Market) -> str:
    """A product page no ad uses yet."""
    used = set(m.ads.creative.tolist())
    return next(m.creatives.id[k] for k in range(len(m.creatives.id)) if k not in used)


def as_sent(request: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The (method, path, status) log lines a built request makes when sent successfully."""
    steps = request.get("steps", [request])
    return [(s["method"], s["path"], 201 if s["method"] == "POST" else 200) for s in steps]


def test_status_budget_targeting_and_schedule_writes_reach_the_account(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    m = world.market(account)
    campaign, group, other_group = m.campaigns.id[0], m.adsets.id[0], m.adsets.id[1]
    ad = m.ads.id[ads_of(m, group)[0]]
    writes = [
        write("pause_ad", "ad", ad, {"status": "paused"}),
        write("pause_adset", "adset", other_group, {"status": "paused"}),
        write("update_budget", "campaign", campaign, {"dailyBudgetCents": 12345}),
        write("update_targeting", "adset", group, {"geo": ["US", "GB"]}),
        write("update_schedule", "adset", group, {"dayparts": [8, 9, 10]}),
    ]
    for w in writes:
        request = platform.build_request(w)
        start = mark(world)
        assert platform.apply(w).created_external_id is None
        assert sent(world, start) == as_sent(request)
    assert request["body"] == {  # the schedule write: every day at 8, 9 and 10
        "targeting": {
            "daypart": {"include": [str(d * 24 + h) for d in range(7) for h in (8, 9, 10)]}
        }
    }
    with world.lock:
        assert int(m.ads.status[m.index_of("ad", ad)]) == PAUSED
        assert int(m.adsets.status[m.index_of("adset", other_group)]) == PAUSED
        assert int(m.campaigns.budget[m.index_of("campaign", campaign)]) == 12345
        j = m.index_of("adset", group)
        assert sorted(g for g, on in zip(m.countries, m.adsets.geo[j], strict=True) if on) == [
            "GB",
            "US",
        ]
        assert np.flatnonzero(m.adsets.hours[j]).tolist() == [8, 9, 10]
    # Read back in adpilot's terms (what staleness and replay checks compare).
    state = platform.read_state("adset", group)
    assert state.targeting == {"geo": ["GB", "US"]} and state.schedule == {"dayparts": [8, 9, 10]}
    assert platform.read_state("campaign", campaign).daily_budget_cents == 12345
    assert platform.read_state("ad", ad).status == "paused"


def test_targeting_is_sent_as_apple_geo_ids(fake: RunningFake, world: FakeWorld) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    group = world.market(account).adsets.id[0]
    request = platform.build_request(write("update_targeting", "adset", group, {"geo": ["US"]}))
    assert request == {
        "method": "PUT",
        "path": f"/v1/adgroups/{group}",
        "headers": {"X-AP-Context": f"adAccountId={account}"},
        "body": {"targeting": {"country": {"include": ["1125"]}}},
    }


def test_a_budget_on_an_ad_group_is_refused_before_anything_is_sent(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    group = world.market(account).adsets.id[0]
    budget = write("update_budget", "adset", group, {"dailyBudgetCents": 5000})
    with pytest.raises(PlatformRejected) as refused:
        platform.build_request(budget)
    assert refused.value.platform_code == "VALIDATION_ERROR"
    assert "update_budget applies to campaigns, not adsets" in refused.value.message
    start = mark(world)
    with pytest.raises(PlatformRejected):
        platform.apply(budget)
    assert sent(world, start) == []


def test_push_creative_creates_an_ad_where_none_is_enabled(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    m = world.market(account)
    group = m.adsets.id[0]
    keep_enabled(world, account, group, 0)
    creative = spare_creative(m)
    push = write(
        "push_creative",
        "adset",
        group,
        {"activeAds": 1},
        {"creativeExternalId": creative, "creativeName": "CPP — dark mode"},
    )
    assert platform.build_request(push)["body"] == {
        "name": "CPP — dark mode",
        "adGroupId": int(group),
        "creativeId": int(creative),
        "status": "ENABLED",
    }
    created = platform.apply(push).created_external_id
    assert created is not None
    with world.lock:
        a = m.index_of("ad", created)
        assert m.creatives.id[int(m.ads.creative[a])] == creative
        assert int(m.ads.status[a]) == ACTIVE and m.ads.name[a] == "CPP — dark mode"
    state = platform.read_state("adset", group)
    assert state.active_ads == 1 and state.active_creative_external_ids == (creative,)


def test_push_creative_next_to_an_enabled_ad_is_refused_by_apple(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    m = world.market(account)
    group = m.adsets.id[0]
    before = len(m.ads.id)
    push = write("push_creative", "adset", group, {}, {"creativeExternalId": spare_creative(m)})
    with pytest.raises(PlatformRejected) as refused:
        platform.apply(push)
    assert refused.value.platform_code == "VALIDATION_ERROR"
    assert "AD_GROUP_HAS_ENABLED_AD" in refused.value.message
    assert len(m.ads.id) == before


def test_replace_creative_deletes_the_old_ad_and_creates_its_successor(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    m = world.market(account)
    group = m.adsets.id[0]
    (old,) = keep_enabled(world, account, group, 1)
    creative = spare_creative(m)
    swap = write(
        "replace_creative",
        "ad",
        old,
        {"adsContentId": "adc_new"},
        {"creativeExternalId": creative, "adsetExternalId": group, "creativeName": "CPP — widgets"},
    )
    request = platform.build_request(swap)
    assert [(s["method"], s["path"]) for s in request["steps"]] == [
        ("DELETE", f"/v1/ads/{old}"),
        ("POST", "/v1/ads"),
    ]
    start = mark(world)
    created = platform.apply(swap).created_external_id
    assert sent(world, start) == [("DELETE", f"/v1/ads/{old}", 200), ("POST", "/v1/ads", 201)]
    assert created is not None
    with world.lock:
        assert int(m.ads.status[m.index_of("ad", old)]) == DELETED
        new = m.index_of("ad", created)
        assert m.creatives.id[int(m.ads.creative[new])] == creative
        assert int(m.ads.status[new]) == ACTIVE


def test_replace_creative_is_refused_before_any_change_when_it_could_only_half_happen(
    fake: RunningFake, world: FakeWorld
) -> None:
    """Another enabled ad in the ad group would make Apple refuse the new ad after the old one
    is gone: nothing is sent."""
    account = new_account_id()
    platform = adapter(fake, account)
    m = world.market(account)
    group = m.adsets.id[0]
    old, sibling = keep_enabled(world, account, group, 2)
    swap = write(
        "replace_creative",
        "ad",
        old,
        {},
        {"creativeExternalId": spare_creative(m), "adsetExternalId": group},
    )
    start = mark(world)
    with pytest.raises(PlatformRejected) as refused:
        platform.apply(swap)
    assert sibling in refused.value.message and refused.value.platform_code == "VALIDATION_ERROR"
    assert sent(world, start) == []
    assert int(m.ads.status[m.index_of("ad", old)]) == ACTIVE


def test_a_replace_that_failed_half_way_is_finished_by_the_next_attempt(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    m = world.market(account)
    group = m.adsets.id[0]
    (old,) = keep_enabled(world, account, group, 1)
    creative = spare_creative(m)
    swap = write(
        "replace_creative",
        "ad",
        old,
        {},
        {"creativeExternalId": creative, "adsetExternalId": group},
    )
    world.inject("http_503", path="/v1/ads", method="POST", count=4, exact=True)
    start = mark(world)
    with pytest.raises(PlatformTransientError):
        platform.apply(swap)
    assert int(m.ads.status[m.index_of("ad", old)]) == DELETED  # the first call went through
    # The durable dispatch tries again later: the delete is not sent twice.
    again = mark(world)
    created = platform.apply(swap).created_external_id
    assert sent(world, again) == [("POST", "/v1/ads", 201)]
    assert [s for s in sent(world, start) if s[0] == "DELETE"] == [
        ("DELETE", f"/v1/ads/{old}", 200)
    ]
    assert (
        created is not None
        and m.creatives.id[int(m.ads.creative[m.index_of("ad", created)])] == creative
    )
    # And a third attempt finds everything done.
    third = mark(world)
    assert platform.apply(swap).created_external_id == created
    assert sent(world, third) == []


def test_a_lost_answer_to_a_create_does_not_create_twice(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    m = world.market(account)
    group = m.adsets.id[0]
    keep_enabled(world, account, group, 0)
    creative = spare_creative(m)
    world.inject("http_500", path="/v1/ads", method="POST", after_apply=True, exact=True)
    start = mark(world)
    created = platform.apply(
        write("push_creative", "adset", group, {}, {"creativeExternalId": creative})
    ).created_external_id
    # The create went through, its answer was lost; the retry found the ad instead of resending.
    assert sent(world, start) == [("POST", "/v1/ads", 500)]
    with world.lock:
        mine = [a for a in ads_of(m, group) if m.creatives.id[int(m.ads.creative[a])] == creative]
        assert [m.ads.id[a] for a in mine] == [created]


def test_a_lost_answer_to_a_delete_is_not_an_error(fake: RunningFake, world: FakeWorld) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    m = world.market(account)
    ad = m.ads.id[0]
    world.inject("http_502", path=f"/v1/ads/{ad}", method="DELETE", after_apply=True)
    start = mark(world)
    platform.apply(write("prune_creative", "ad", ad, {"status": "removed"}))
    assert sent(world, start) == [("DELETE", f"/v1/ads/{ad}", 502)]
    assert platform.read_state("ad", ad).status == "deleted"


def test_a_deleted_entity_refuses_changes(fake: RunningFake, world: FakeWorld) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    ad = world.market(account).ads.id[0]
    platform.apply(write("prune_creative", "ad", ad))
    with pytest.raises(PlatformRejected) as refused:
        platform.apply(write("pause_ad", "ad", ad, {"status": "paused"}))
    assert refused.value.platform_code == "VALIDATION_ERROR"
    assert "deleted" in refused.value.message


def test_writes_land_on_the_day_after_the_last_simulated_one(
    fake: RunningFake, world: FakeWorld
) -> None:
    """A budget raised today shapes tomorrow's delivery, not the history already reported."""
    account = new_account_id()
    platform = adapter(fake, account)
    m = world.market(account)
    campaign = m.campaigns.id[0]
    before = m.history.spend[-1].copy()
    platform.apply(write("update_budget", "campaign", campaign, {"dailyBudgetCents": 90000}))
    assert np.array_equal(m.history.spend[-1], before)
    assert m.through == world.clock().date() - dt.timedelta(days=1)
