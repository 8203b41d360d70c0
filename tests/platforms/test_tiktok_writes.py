"""The eight writes through the TikTok adapter and the fake: what is sent is what
`build_request` showed, the market changes, and refusals and partial failures come back typed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from adpilot.fakes.server import RunningFake
from adpilot.platforms.base import (
    ActionType,
    EntityType,
    PlatformRejected,
    PlatformTransientError,
    WriteRequest,
)
from adpilot.platforms.tiktok.adapter import TikTokPlatform
from adpilot.platforms.tiktok.client import DuplicateRequest
from adpilot.sim.market import Market
from adpilot.sim.tables import ACTIVE, DELETED, PAUSED
from tests.platforms.tiktok_support import (
    adapter,
    answers_since,
    mark,
    market,
    new_advertiser,
    shared_fake,
)
from tests.platforms.virtual_clock import VirtualClock

API = "/open_api/v1.3"


@pytest.fixture()
def fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


class Account:
    def __init__(self, fake: RunningFake) -> None:
        self.fake = fake
        self.id = new_advertiser()
        self.platform: TikTokPlatform = adapter(fake, self.id, clock=VirtualClock())

    @property
    def m(self) -> Market:
        return market(self.fake, self.id)

    def busy_adset(self) -> int:
        """An active ad set holding its own budget with at least two active ads."""
        m = self.m
        for s in range(len(m.adsets.id)):
            live = np.sum((m.ads.adset == s) & (m.ads.status == ACTIVE))
            if (
                m.adsets.status[s] == ACTIVE
                and not m.campaigns.cbo[m.adsets.campaign[s]]
                and live >= 2
            ):
                return s
        raise AssertionError("no busy ad set")

    def active_ad(self, adset: int) -> int:
        m = self.m
        return int(np.flatnonzero((m.ads.adset == adset) & (m.ads.status == ACTIVE))[0])

    def unused_creative(self, adset: int) -> str:
        m = self.m
        running = set(m.ads.creative[(m.ads.adset == adset) & (m.ads.status != DELETED)])
        return next(m.creatives.id[k] for k in range(len(m.creatives.id)) if k not in running)


def write(
    action: ActionType,
    entity_type: EntityType,
    external_id: str,
    new: dict[str, Any],
    context: dict[str, Any] | None = None,
) -> WriteRequest:
    return WriteRequest(action, entity_type, external_id, {}, new, "pa_test", context or {})


def sent(fake: RunningFake, since: int) -> list[tuple[str, dict[str, Any]]]:
    return [(a.path, a.params) for a in answers_since(fake, since) if a.method == "POST"]


def apply_and_check_sent(acct: Account, w: WriteRequest) -> Any:
    """Apply, and check the platform got exactly the request build_request shows."""
    detail = acct.platform.build_request(w)
    before = mark(acct.fake)
    result = acct.platform.apply(w)
    assert sent(acct.fake, before) == [(detail["path"], detail["body"])]
    assert detail["path"].startswith(f"{API}/") and detail["path"].endswith("/")
    assert detail["body"]["advertiser_id"] == acct.id
    return result


def test_status_writes_pause_and_remove(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    ad = acct.active_ad(s)
    ad_id, adset_id = acct.m.ads.id[ad], acct.m.adsets.id[s]
    apply_and_check_sent(acct, write("pause_ad", "ad", ad_id, {"status": "paused"}))
    assert acct.m.ads.status[ad] == PAUSED
    assert acct.platform.read_state("ad", ad_id).status == "paused"
    apply_and_check_sent(acct, write("prune_creative", "ad", ad_id, {"status": "removed"}))
    assert acct.m.ads.status[ad] == DELETED
    assert acct.platform.read_state("ad", ad_id).status == "deleted"
    apply_and_check_sent(acct, write("pause_adset", "adset", adset_id, {"status": "paused"}))
    assert acct.m.adsets.status[s] == PAUSED
    assert acct.platform.read_state("adset", adset_id).status == "paused"


def test_budgets_go_out_as_major_unit_numbers(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    adset_id = acct.m.adsets.id[s]
    apply_and_check_sent(
        acct, write("update_budget", "adset", adset_id, {"dailyBudgetCents": 7550})
    )
    assert int(acct.m.adsets.budget[s]) == 7550
    assert acct.platform.read_state("adset", adset_id).daily_budget_cents == 7550
    c = int(np.flatnonzero(acct.m.campaigns.cbo)[0])
    campaign_id = acct.m.campaigns.id[c]
    detail = acct.platform.build_request(
        write("update_budget", "campaign", campaign_id, {"dailyBudgetCents": 123456})
    )
    assert detail["body"]["budget"] == 1234.56
    apply_and_check_sent(
        acct, write("update_budget", "campaign", campaign_id, {"dailyBudgetCents": 123456})
    )
    assert int(acct.m.campaigns.budget[c]) == 123456
    assert acct.platform.read_state("campaign", campaign_id).daily_budget_cents == 123456


def test_targeting_and_schedule_change_the_ad_group(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    adset_id = acct.m.adsets.id[s]
    apply_and_check_sent(acct, write("update_targeting", "adset", adset_id, {"geo": ["US", "CA"]}))
    geo = [g for g, on in zip(acct.m.countries, acct.m.adsets.geo[s], strict=True) if on]
    assert sorted(geo) == ["CA", "US"]
    hours = [h for h in range(24) if h not in (0, 1, 2, 3, 4)]
    apply_and_check_sent(acct, write("update_schedule", "adset", adset_id, {"dayparts": hours}))
    assert [int(h) for h in np.flatnonzero(acct.m.adsets.hours[s])] == hours
    state = acct.platform.read_state("adset", adset_id)
    assert state.schedule == {"dayparts": hours}
    assert sorted((state.targeting or {})["geo"]) == ["CA", "US"]


def test_push_creates_an_ad_with_the_ad_groups_identity(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    adset_id = acct.m.adsets.id[s]
    video = acct.unused_creative(s)
    w = write(
        "push_creative",
        "adset",
        adset_id,
        {"adsContentId": "adc_1"},
        {"creativeExternalId": video, "creativeName": "Fresh hook"},
    )
    result = apply_and_check_sent(acct, w)
    created = result.created_external_id
    assert created is not None
    a = acct.m.index_of("ad", created)
    assert acct.m.creatives.id[acct.m.ads.creative[a]] == video
    assert acct.m.ads.name[a] == "Fresh hook" and acct.m.ads.status[a] == ACTIVE
    # The new ad carries the identity, text and call to action of the ad group's ads.
    creative = acct.platform.build_request(w)["body"]["creatives"][0]
    assert {"identity_type", "identity_id", "ad_text", "call_to_action"} <= set(creative)
    assert video in acct.platform.read_state("adset", adset_id).active_creative_external_ids


def test_a_creative_without_identity_is_refused_as_tiktok_does(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    w = write(
        "push_creative",
        "adset",
        acct.m.adsets.id[s],
        {},
        {"creativeExternalId": acct.unused_creative(s), "creativeSpec": {}},
    )
    ads_before = len(acct.m.ads.id)
    with pytest.raises(PlatformRejected) as refused:
        acct.platform.apply(w)
    assert refused.value.platform_code == "40002" and "identity_type" in refused.value.message
    assert len(acct.m.ads.id) == ads_before


def test_replace_swaps_the_video_in_place(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    ad = acct.active_ad(s)
    video = acct.unused_creative(s)
    w = write(
        "replace_creative",
        "ad",
        acct.m.ads.id[ad],
        {"adsContentId": "adc_2"},
        {"creativeExternalId": video, "adsetExternalId": acct.m.adsets.id[s]},
    )
    apply_and_check_sent(acct, w)
    assert acct.m.creatives.id[acct.m.ads.creative[ad]] == video
    assert acct.platform.read_state("ad", acct.m.ads.id[ad]).creative_external_id == video
    # Without the ad group in the context the adapter looks it up.
    again = write("replace_creative", "ad", acct.m.ads.id[ad], {}, {"creativeExternalId": video})
    assert acct.platform.build_request(again)["body"]["adgroup_id"] == acct.m.adsets.id[s]


def test_a_partial_failure_names_our_ad_group(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    adset_id = acct.m.adsets.id[s]
    fake.world.inject("partial", path="/adgroup/status/update/", message="Ad group is in review")
    with pytest.raises(PlatformRejected) as refused:
        acct.platform.apply(write("pause_adset", "adset", adset_id, {"status": "paused"}))
    assert (refused.value.platform_code, refused.value.message) == (
        "20001",
        "Ad group is in review",
    )
    assert acct.m.adsets.status[s] == ACTIVE


def test_partial_success_on_a_deleted_ad_group_is_a_refusal(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    adset_id = acct.m.adsets.id[s]
    acct.platform.client.post(
        "/adgroup/status/update/",
        {"advertiser_id": acct.id, "adgroup_ids": [adset_id], "operation_status": "DELETE"},
    )
    before = mark(fake)
    with pytest.raises(PlatformRejected) as refused:
        acct.platform.apply(write("pause_adset", "adset", adset_id, {"status": "paused"}))
    assert refused.value.platform_code == "20001" and "deleted" in refused.value.message
    (answer,) = [a for a in answers_since(fake, before) if a.method == "POST"]
    assert answer.code == 20001


def test_a_budget_below_the_minimum_is_refused_once(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    before = mark(fake)
    with pytest.raises(PlatformRejected) as refused:
        acct.platform.apply(
            write("update_budget", "adset", acct.m.adsets.id[s], {"dailyBudgetCents": 500})
        )
    assert refused.value.platform_code == "40002"
    assert "at least 20.00 USD" in refused.value.message
    assert len(sent(fake, before)) == 1


def test_an_ad_group_under_a_campaign_budget_has_no_budget_to_change(fake: RunningFake) -> None:
    acct = Account(fake)
    m = acct.m
    s = int(np.flatnonzero(m.campaigns.cbo[m.adsets.campaign])[0])
    assert acct.platform.read_state("adset", m.adsets.id[s]).daily_budget_cents is None
    with pytest.raises(PlatformRejected) as refused:
        acct.platform.apply(
            write("update_budget", "adset", m.adsets.id[s], {"dailyBudgetCents": 9000})
        )
    assert "budget optimization" in refused.value.message


def test_a_lost_answer_to_a_create_is_not_sent_again(fake: RunningFake) -> None:
    """The ad was created; the answer was lost. Sending again would make a second ad: the
    error goes up, and the durable dispatch reads the ad group before any retry."""
    acct = Account(fake)
    s = acct.busy_adset()
    adset_id = acct.m.adsets.id[s]
    video = acct.unused_creative(s)
    w = write("push_creative", "adset", adset_id, {}, {"creativeExternalId": video})
    fake.world.inject("50000", path="/ad/create/", after_apply=True)
    before = mark(fake)
    with pytest.raises(PlatformTransientError):
        acct.platform.apply(w)
    assert [p for p, _ in sent(fake, before)] == [f"{API}/ad/create/"]
    assert video in acct.platform.read_state("adset", adset_id).active_creative_external_ids


def test_a_lost_answer_to_a_status_write_is_sent_again(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    ad = acct.active_ad(s)
    fake.world.inject("50000", path="/ad/status/update/", after_apply=True)
    before = mark(fake)
    acct.platform.apply(write("pause_ad", "ad", acct.m.ads.id[ad], {"status": "paused"}))
    assert [a.code for a in answers_since(fake, before) if a.method == "POST"] == [50000, 0]
    assert acct.m.ads.status[ad] == PAUSED


def test_a_duplicate_request_is_left_to_a_read_back(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    fake.world.inject("40050", path="/adgroup/budget/update/")
    before = mark(fake)
    with pytest.raises(DuplicateRequest) as duplicate:
        acct.platform.apply(
            write("update_budget", "adset", acct.m.adsets.id[s], {"dailyBudgetCents": 8000})
        )
    assert isinstance(duplicate.value, PlatformTransientError)
    assert len(sent(fake, before)) == 1


def test_a_write_conflict_is_retried(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    fake.world.inject("40202", path="/adgroup/update/")
    hours = list(range(6, 24))
    before = mark(fake)
    acct.platform.apply(write("update_schedule", "adset", acct.m.adsets.id[s], {"dayparts": hours}))
    assert [a.code for a in answers_since(fake, before) if a.method == "POST"] == [40202, 0]
    assert [int(h) for h in np.flatnonzero(acct.m.adsets.hours[s])] == hours


def test_the_fake_enforces_id_counts_and_number_types(fake: RunningFake) -> None:
    acct = Account(fake)
    s = acct.busy_adset()
    client = acct.platform.client
    with pytest.raises(PlatformRejected) as too_many:
        client.post(
            "/ad/status/update/",
            {
                "advertiser_id": acct.id,
                "ad_ids": [str(i) for i in range(21)],
                "operation_status": "DISABLE",
            },
        )
    assert too_many.value.platform_code == "40011"
    with pytest.raises(PlatformRejected) as as_text:
        client.post(
            "/adgroup/budget/update/",
            {
                "advertiser_id": acct.id,
                "budget": [{"adgroup_id": acct.m.adsets.id[s], "budget": "75.00"}],
            },
        )
    assert as_text.value.platform_code == "40002" and "number" in as_text.value.message
