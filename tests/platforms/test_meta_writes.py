"""The eight writes through the Meta adapter: the request shown is the request sent, and the
fake's market shows the change (or Meta's refusal comes back as a typed error)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from adpilot.fakes.meta import configure
from adpilot.fakes.meta.state import meta_state
from adpilot.fakes.server import RunningFake
from adpilot.platforms.base import PlatformRejected, WriteRequest
from adpilot.platforms.meta.adapter import MetaPlatform
from adpilot.sim import reports
from adpilot.sim.market import Market
from tests.platforms.meta_support import adapter, calls, new_account, shared_fake


@pytest.fixture()
def meta(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


class Account:
    def __init__(self, meta: RunningFake) -> None:
        self.meta = meta
        self.id = new_account()
        self.client: MetaPlatform = adapter(meta, self.id)
        with meta.world.lock:
            self.market: Market = meta.world.market(self.id)

    def send(self, action: str, entity: str, target: str, new: dict[str, Any], **ctx: Any) -> Any:
        """Build the request, apply the write, and check the request sent is the one built."""
        write = WriteRequest(action, entity, target, {}, new, "pa_test", ctx)  # type: ignore[arg-type]
        request = self.client.build_request(write)
        before = len(self.meta.world.calls)
        result = self.client.apply(write)
        sent = [c for c in self.meta.world.calls[before:] if c.method == "POST"]
        assert len(sent) == 1 and sent[0].path == request["path"]
        assert {k: sent[0].query[k] for k in request["params"]} == request["params"]
        return request, result

    def adset_with_budget(self) -> str:
        return next(s.external_id for s in reports.adsets_data(self.market) if s.daily_budget_cents)

    def unused_creative(self, n: int = 0) -> reports.CreativeRecord:
        return [c for c in reports.creatives_data(self.market) if not c.running_in_adsets][n]

    def row(self, kind: str, external_id: str) -> int:
        return self.market.index_of(kind, external_id)  # type: ignore[arg-type]


@pytest.fixture()
def acct(meta: RunningFake) -> Account:
    return Account(meta)


def test_pause_ad_and_pause_adset(acct: Account) -> None:
    ad = acct.market.ads.id[0]
    request, _ = acct.send("pause_ad", "ad", ad, {"status": "paused"})
    assert request["params"] == {"status": "PAUSED"}
    assert acct.client.read_state("ad", ad).status == "paused"
    adset = acct.market.adsets.id[0]
    acct.send("pause_adset", "adset", adset, {"status": "paused"})
    assert acct.client.read_state("adset", adset).status == "paused"


def test_budgets_go_to_whichever_object_holds_them(acct: Account) -> None:
    adset = acct.adset_with_budget()
    request, _ = acct.send("update_budget", "adset", adset, {"dailyBudgetCents": 13_750})
    assert request == {
        "method": "POST",
        "path": f"/v26.0/{adset}",
        "params": {"daily_budget": "13750"},
    }
    assert int(acct.market.adsets.budget[acct.row("adset", adset)]) == 13_750
    campaign = next(
        c.external_id for c in reports.campaigns_data(acct.market) if c.budget_mode == "campaign"
    )
    acct.send("update_budget", "campaign", campaign, {"dailyBudgetCents": 30_000})
    assert acct.client.read_state("campaign", campaign).daily_budget_cents == 30_000


def test_a_budget_on_the_wrong_object_is_refused(acct: Account) -> None:
    campaign = next(c for c in reports.campaigns_data(acct.market) if c.budget_mode == "campaign")
    under = next(
        s.external_id
        for s in reports.adsets_data(acct.market)
        if s.campaign_external_id == campaign.external_id
    )
    write = WriteRequest("update_budget", "adset", under, {}, {"dailyBudgetCents": 9_000}, "k")
    with pytest.raises(PlatformRejected) as caught:
        acct.client.apply(write)
    assert caught.value.platform_code == "100/1885621" and "campaign level" in caught.value.message


def test_push_creative_creates_an_active_ad_running_it(acct: Account) -> None:
    adset = acct.adset_with_budget()
    creative = acct.unused_creative()
    request, result = acct.send(
        "push_creative",
        "adset",
        adset,
        {"adsContentId": "adc_x"},
        creativeExternalId=creative.external_id,
        creativeName=creative.name,
    )
    assert request["path"] == f"/v26.0/{acct.id}/ads"
    assert json.loads(request["params"]["creative"]) == {"creative_id": creative.external_id}
    assert result.created_external_id and acct.market.has("ad", result.created_external_id)
    state = acct.client.read_state("adset", adset)
    assert creative.external_id in state.active_creative_external_ids
    ad = acct.market.ads.name[acct.row("ad", result.created_external_id)]
    assert ad == creative.name


def test_replace_creative_swaps_the_reference_and_the_ad_goes_to_review(acct: Account) -> None:
    configure(acct.meta.world, review_seconds=600)
    ad = acct.market.ads.id[1]
    creative = acct.unused_creative(1)
    acct.send(
        "replace_creative",
        "ad",
        ad,
        {"adsContentId": "adc_y"},
        creativeExternalId=creative.external_id,
    )
    state = acct.client.read_state("ad", ad)
    assert state.creative_external_id == creative.external_id
    assert state.status == "in_review"


def test_prune_creative_deletes_the_ad_and_a_deleted_ad_refuses_changes(acct: Account) -> None:
    ad = acct.market.ads.id[2]
    request, _ = acct.send("prune_creative", "ad", ad, {"status": "removed"})
    assert request["params"] == {"status": "DELETED"}
    assert acct.client.read_state("ad", ad).status == "deleted"
    write = WriteRequest("pause_ad", "ad", ad, {}, {"status": "paused"}, "k")
    with pytest.raises(PlatformRejected) as caught:
        acct.client.apply(write)
    assert caught.value.platform_code.startswith("100")


def test_targeting_sends_the_whole_spec_with_the_new_countries(acct: Account) -> None:
    adset = acct.adset_with_budget()
    custom = {"age_min": 25, "age_max": 44, "genders": [2], "publisher_platforms": ["instagram"]}
    meta_state(acct.meta.world).targeting_rest[adset] = custom
    request, _ = acct.send("update_targeting", "adset", adset, {"geo": ["US", "CA"]})
    spec = json.loads(request["params"]["targeting"])
    assert spec["geo_locations"] == {"countries": ["US", "CA"]}
    assert {k: spec[k] for k in custom} == custom  # everything else sent back unchanged
    # The spec was read just before (a GET of the ad set's targeting).
    assert [c.query.get("fields") for c in calls(acct.meta.world, f"/{adset}", "GET")][
        -1
    ] == "targeting"
    assert acct.client.read_state("adset", adset).targeting == {"geo": ["US", "CA"]}
    assert meta_state(acct.meta.world).targeting_rest[adset] == custom


def test_dayparting_is_refused_without_a_lifetime_budget(acct: Account) -> None:
    adset = acct.adset_with_budget()
    write = WriteRequest(
        "update_schedule", "adset", adset, {}, {"dayparts": list(range(8, 22))}, "k"
    )
    with pytest.raises(PlatformRejected) as caught:
        acct.client.apply(write)
    assert "lifetime budget" in caught.value.message


def test_dayparting_where_meta_accepts_it(acct: Account) -> None:
    configure(acct.meta.world, dayparting_needs_lifetime_budget=False)
    adset = acct.adset_with_budget()
    request, _ = acct.send(
        "update_schedule", "adset", adset, {"dayparts": [*range(7, 12), *range(17, 23)]}
    )
    assert json.loads(request["params"]["pacing_type"]) == ["day_parting"]
    blocks = json.loads(request["params"]["adset_schedule"])
    assert [(b["start_minute"], b["end_minute"]) for b in blocks] == [(420, 720), (1020, 1380)]
    assert acct.client.read_state("adset", adset).schedule == {
        "dayparts": [*range(7, 12), *range(17, 23)]
    }
    # All 24 hours again is standard pacing.
    acct.send("update_schedule", "adset", adset, {"dayparts": list(range(24))})
    assert acct.client.read_state("adset", adset).schedule == {"dayparts": list(range(24))}
