"""Comparing a pending action's values with the live entity: staleness and replay detection."""

from __future__ import annotations

from typing import Any

from adpilot.pending.service import (
    CreativeRefs,
    already_applied,
    differences,
    stale_reason,
)
from adpilot.platforms.base import EntityState

REFS = CreativeRefs({"adc_old": "cr_1", "adc_new": "cr_2"})


def adset(**kw: Any) -> EntityState:
    base: dict[str, Any] = {
        "entity_type": "adset",
        "external_id": "as_1",
        "status": "active",
        "daily_budget_cents": 5000,
        "active_ads": 2,
        "active_creative_external_ids": ("cr_1",),
        "targeting": {"geo": ["US", "CA"]},
        "schedule": {"dayparts": list(range(24))},
    }
    base.update(kw)
    return EntityState(**base)


def ad(**kw: Any) -> EntityState:
    base: dict[str, Any] = {
        "entity_type": "ad",
        "external_id": "ad_1",
        "status": "active",
        "creative_external_id": "cr_1",
    }
    base.update(kw)
    return EntityState(**base)


def test_budget_change_elsewhere_is_stale_and_names_both_values() -> None:
    found = differences({"dailyBudgetCents": 5000}, adset(daily_budget_cents=6000), REFS)
    assert stale_reason(found) == "stale: live dailyBudgetCents is 6000, expected 5000"


def test_matching_live_values_are_not_stale() -> None:
    assert differences({"dailyBudgetCents": 5000, "status": "active"}, adset(), REFS) == []


def test_geo_and_dayparts_compare_as_sets() -> None:
    assert differences({"geo": ["CA", "US"]}, adset(), REFS) == []
    found = differences({"geo": ["US"]}, adset(), REFS)
    assert stale_reason(found) == 'stale: live geo is ["US", "CA"], expected ["US"]'
    assert differences({"dayparts": list(reversed(range(24)))}, adset(), REFS) == []


def test_ad_creative_maps_through_the_creative_library() -> None:
    assert differences({"adsContentId": "adc_old"}, ad(), REFS) == []
    found = differences({"adsContentId": "adc_new"}, ad(), REFS)
    assert stale_reason(found) == "stale: live adsContentId is adc_old, expected adc_new"
    unknown = differences({"adsContentId": "adc_old"}, ad(creative_external_id="cr_9"), REFS)
    assert stale_reason(unknown) == "stale: live adsContentId is creative cr_9, expected adc_old"


def test_every_differing_key_is_named() -> None:
    found = differences(
        {"status": "active", "activeAds": 2}, adset(status="paused", active_ads=3), REFS
    )
    assert stale_reason(found) == (
        "stale: live status is paused, expected active; live activeAds is 3, expected 2"
    )


def test_a_push_stays_valid_while_its_slot_is_free() -> None:
    # The same run may pause an ad of the ad set before its push goes out: the slot is still
    # free, so the push is not stale; an ad added since may have taken the slot.
    current = {"status": "active", "activeAds": 3}
    assert differences(current, adset(active_ads=2), REFS) == []
    assert differences(current, adset(active_ads=3), REFS) == []
    found = differences(current, adset(active_ads=4), REFS)
    assert stale_reason(found) == "stale: live activeAds is 4, expected 3"


def test_already_applied_recognises_each_kind_of_write() -> None:
    assert already_applied({"status": "paused"}, ad(status="paused"), REFS)
    assert not already_applied({"status": "paused"}, ad(), REFS)
    # A pruned ad reads back as deleted (or archived) on the platforms.
    assert already_applied({"status": "removed"}, ad(status="deleted"), REFS)
    assert already_applied({"dailyBudgetCents": 7500}, adset(daily_budget_cents=7500), REFS)
    pushed = adset(active_ads=3, active_creative_external_ids=("cr_1", "cr_2"))
    assert already_applied({"adsContentId": "adc_new", "activeAds": 3}, pushed, REFS)
    # One more ad, but not ours: not our write.
    other = adset(active_ads=3, active_creative_external_ids=("cr_1", "cr_7"))
    assert not already_applied({"adsContentId": "adc_new", "activeAds": 3}, other, REFS)


def test_nothing_checkable_is_never_taken_as_applied() -> None:
    assert not already_applied({}, ad(), REFS)
    assert not already_applied({"adsContentId": "adc_unknown"}, ad(), REFS)
