"""The pure request builders: exact platform payloads for all eight writes on each platform."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adpilot.platforms.apple.requests import build_request as apple
from adpilot.platforms.base import ACTION_TYPES, WriteRequest
from adpilot.platforms.meta.requests import build_request as meta
from adpilot.platforms.meta.requests import dayparting_schedule
from adpilot.platforms.tiktok.requests import build_request as tiktok
from adpilot.platforms.tiktok.requests import dayparting

ADSET = "120210000000000100"
AD = "120210000000000001"
CAMPAIGN = "120210000000001000"


def w(
    action: str,
    entity_type: str,
    entity: str,
    new: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> WriteRequest:
    return WriteRequest(
        action_type=action,  # type: ignore[arg-type]
        entity_type=entity_type,  # type: ignore[arg-type]
        entity_external_id=entity,
        current_value={},
        new_value=new or {},
        idempotency_key="pa_1",
        context=context or {},
    )


# ------------------------------------------------------------------------------------ Meta


def test_meta_status_and_budget_writes() -> None:
    assert meta(w("pause_ad", "ad", AD)) == {
        "method": "POST",
        "path": f"/v26.0/{AD}",
        "params": {"status": "PAUSED"},
    }
    assert meta(w("pause_adset", "adset", ADSET))["params"] == {"status": "PAUSED"}
    assert meta(w("update_budget", "adset", ADSET, {"dailyBudgetCents": 7500})) == {
        "method": "POST",
        "path": f"/v26.0/{ADSET}",
        "params": {"daily_budget": "7500"},
    }
    campaign = meta(
        w("update_budget", "campaign", CAMPAIGN, {"dailyBudgetCents": 50000}), api_version="v25.0"
    )
    assert campaign == {
        "method": "POST",
        "path": f"/v25.0/{CAMPAIGN}",
        "params": {"daily_budget": "50000"},
    }
    yen = meta(w("update_budget", "adset", ADSET, {"dailyBudgetCents": 750000}), currency="JPY")
    assert yen["params"] == {"daily_budget": "7500"}
    assert meta(w("prune_creative", "ad", AD, {"status": "removed"}))["params"] == {
        "status": "DELETED"
    }


def test_meta_creative_writes() -> None:
    ctx = {"creativeExternalId": "23850000000000001", "adName": "UGC hook"}
    push = meta(
        w("push_creative", "adset", ADSET, {"adsContentId": "adc_1"}, ctx), ad_account_id="1234"
    )
    assert push == {
        "method": "POST",
        "path": "/v26.0/act_1234/ads",
        "params": {
            "name": "UGC hook",
            "adset_id": ADSET,
            "creative": '{"creative_id":"23850000000000001"}',
            "status": "ACTIVE",
        },
    }
    swap = meta(w("replace_creative", "ad", AD, {"adsContentId": "adc_2"}, ctx))
    assert swap == {
        "method": "POST",
        "path": f"/v26.0/{AD}",
        "params": {"creative": '{"creative_id":"23850000000000001"}'},
    }
    with pytest.raises(ValueError):
        meta(w("push_creative", "adset", ADSET, {}, ctx))  # no ad account


def test_meta_targeting_sends_the_whole_spec() -> None:
    spec = {"geo_locations": {"countries": ["US", "CA", "BR"]}, "age_min": 18, "age_max": 44}
    req = meta(
        w("update_targeting", "adset", ADSET, {"geo": ["us", "CA"]}, {"targetingSpec": spec})
    )
    assert req["path"] == f"/v26.0/{ADSET}"
    assert json.loads(req["params"]["targeting"]) == {
        "geo_locations": {"countries": ["US", "CA"]},
        "age_min": 18,
        "age_max": 44,
    }


def test_meta_dayparting() -> None:
    req = meta(w("update_schedule", "adset", ADSET, {"dayparts": [9, 10, 11, 18, 19]}))
    assert req["params"]["pacing_type"] == '["day_parting"]'
    assert json.loads(req["params"]["adset_schedule"]) == [
        {
            "start_minute": 540,
            "end_minute": 720,
            "days": [0, 1, 2, 3, 4, 5, 6],
            "timezone_type": "USER",
        },
        {
            "start_minute": 1080,
            "end_minute": 1200,
            "days": [0, 1, 2, 3, 4, 5, 6],
            "timezone_type": "USER",
        },
    ]
    assert dayparting_schedule([23, 0]) == [
        {
            "start_minute": 0,
            "end_minute": 60,
            "days": [0, 1, 2, 3, 4, 5, 6],
            "timezone_type": "USER",
        },
        {
            "start_minute": 1380,
            "end_minute": 1440,
            "days": [0, 1, 2, 3, 4, 5, 6],
            "timezone_type": "USER",
        },
    ]
    always = meta(w("update_schedule", "adset", ADSET, {"dayparts": list(range(24))}))
    assert always["params"] == {"pacing_type": '["standard"]'}


def test_meta_refuses_a_write_on_the_wrong_entity() -> None:
    with pytest.raises(ValueError):
        meta(w("pause_ad", "adset", ADSET))


# ------------------------------------------------------------------------------------ TikTok

ADV = "7123456789012345678"
TT_AD = "1812345678901234567"
TT_GROUP = "1812345678900000000"
TT_CAMPAIGN = "1812345678000000000"


def test_tiktok_status_writes() -> None:
    assert tiktok(w("pause_ad", "ad", TT_AD), advertiser_id=ADV) == {
        "method": "POST",
        "path": "/open_api/v1.3/ad/status/update/",
        "body": {"advertiser_id": ADV, "ad_ids": [TT_AD], "operation_status": "DISABLE"},
    }
    assert tiktok(w("pause_adset", "adset", TT_GROUP), advertiser_id=ADV) == {
        "method": "POST",
        "path": "/open_api/v1.3/adgroup/status/update/",
        "body": {
            "advertiser_id": ADV,
            "adgroup_ids": [TT_GROUP],
            "operation_status": "DISABLE",
            "allow_partial_success": True,
        },
    }
    prune = tiktok(w("prune_creative", "ad", TT_AD), advertiser_id=ADV)
    assert prune["path"] == "/open_api/v1.3/ad/status/update/"
    assert prune["body"]["operation_status"] == "DELETE"


def test_tiktok_budgets_are_major_unit_numbers() -> None:
    group = tiktok(
        w("update_budget", "adset", TT_GROUP, {"dailyBudgetCents": 7550}), advertiser_id=ADV
    )
    assert group == {
        "method": "POST",
        "path": "/open_api/v1.3/adgroup/budget/update/",
        "body": {"advertiser_id": ADV, "budget": [{"adgroup_id": TT_GROUP, "budget": 75.5}]},
    }
    campaign = tiktok(
        w("update_budget", "campaign", TT_CAMPAIGN, {"dailyBudgetCents": 50000}), advertiser_id=ADV
    )
    assert campaign == {
        "method": "POST",
        "path": "/open_api/v1.3/campaign/update/",
        "body": {"advertiser_id": ADV, "campaign_id": TT_CAMPAIGN, "budget": 500.0},
    }


def test_tiktok_creative_writes() -> None:
    ctx = {
        "creativeExternalId": "v10033g50000abc",
        "adName": "Hook v3",
        "creativeSpec": {"identity_type": "CUSTOMIZED_USER", "identity_id": "77"},
    }
    create = tiktok(w("push_creative", "adset", TT_GROUP, {}, ctx), advertiser_id=ADV)
    assert create == {
        "method": "POST",
        "path": "/open_api/v1.3/ad/create/",
        "body": {
            "advertiser_id": ADV,
            "adgroup_id": TT_GROUP,
            "creatives": [
                {
                    "ad_name": "Hook v3",
                    "ad_format": "SINGLE_VIDEO",
                    "video_id": "v10033g50000abc",
                    "identity_type": "CUSTOMIZED_USER",
                    "identity_id": "77",
                }
            ],
        },
    }
    update = tiktok(
        w(
            "replace_creative",
            "ad",
            TT_AD,
            {},
            {"creativeExternalId": "v2", "adsetExternalId": TT_GROUP},
        ),
        advertiser_id=ADV,
    )
    assert update == {
        "method": "POST",
        "path": "/open_api/v1.3/ad/update/",
        "body": {
            "advertiser_id": ADV,
            "adgroup_id": TT_GROUP,
            "patch_update": True,
            "creatives": [{"ad_id": TT_AD, "video_id": "v2"}],
        },
    }
    with pytest.raises(ValueError):
        tiktok(
            w("replace_creative", "ad", TT_AD, {}, {"creativeExternalId": "v2"}), advertiser_id=ADV
        )


def test_tiktok_targeting_and_dayparting() -> None:
    geo = tiktok(w("update_targeting", "adset", TT_GROUP, {"geo": ["US", "CA"]}), advertiser_id=ADV)
    assert geo == {
        "method": "POST",
        "path": "/open_api/v1.3/adgroup/update/",
        "body": {
            "advertiser_id": ADV,
            "adgroup_id": TT_GROUP,
            "location_ids": ["6252001", "6251999"],
        },
    }
    with pytest.raises(ValueError):
        tiktok(w("update_targeting", "adset", TT_GROUP, {"geo": ["ZZ"]}), advertiser_id=ADV)
    sched = tiktok(
        w("update_schedule", "adset", TT_GROUP, {"dayparts": [0, 23]}), advertiser_id=ADV
    )
    slots = sched["body"]["dayparting"]
    assert len(slots) == 336 and slots.count("1") == 4 * 7
    assert slots[:48] == "11" + "0" * 44 + "11"
    assert dayparting(list(range(24))) == "1" * 336


# ------------------------------------------------------------------------------------ Apple

ACCOUNT = "123456789"
CTX = {"X-AP-Context": f"adAccountId={ACCOUNT}"}


def test_apple_status_and_budget_writes() -> None:
    assert apple(w("pause_ad", "ad", "777888999"), ad_account_id=ACCOUNT) == {
        "method": "PUT",
        "path": "/v1/ads/777888999",
        "headers": CTX,
        "body": {"status": "PAUSED"},
    }
    assert apple(w("pause_adset", "adset", "555666777"), ad_account_id=ACCOUNT) == {
        "method": "PUT",
        "path": "/v1/adgroups/555666777",
        "headers": CTX,
        "body": {"status": "PAUSED"},
    }
    assert apple(
        w("update_budget", "campaign", "444555666", {"dailyBudgetCents": 120005}),
        ad_account_id=ACCOUNT,
    ) == {
        "method": "PUT",
        "path": "/v1/campaigns/444555666",
        "headers": CTX,
        "body": {"dailyBudget": {"value": {"amount": "1200.05", "currency": "USD"}}},
    }
    with pytest.raises(ValueError):
        apple(
            w("update_budget", "adset", "555666777", {"dailyBudgetCents": 100}),
            ad_account_id=ACCOUNT,
        )
    assert apple(w("prune_creative", "ad", "777888999"), ad_account_id=ACCOUNT) == {
        "method": "DELETE",
        "path": "/v1/ads/777888999",
        "headers": CTX,
    }


def test_apple_creative_writes() -> None:
    ctx = {"creativeExternalId": "666777889", "adName": "Dark mode", "adsetExternalId": "555666777"}
    push = apple(w("push_creative", "adset", "555666777", {}, ctx), ad_account_id=ACCOUNT)
    assert push == {
        "method": "POST",
        "path": "/v1/ads",
        "headers": CTX,
        "body": {
            "name": "Dark mode",
            "adGroupId": 555666777,
            "creativeId": 666777889,
            "status": "ENABLED",
        },
    }
    swap = apple(w("replace_creative", "ad", "777888999", {}, ctx), ad_account_id=ACCOUNT)
    assert swap == {
        "steps": [
            {"method": "DELETE", "path": "/v1/ads/777888999", "headers": CTX},
            {
                "method": "POST",
                "path": "/v1/ads",
                "headers": CTX,
                "body": {
                    "name": "Dark mode",
                    "adGroupId": 555666777,
                    "creativeId": 666777889,
                    "status": "ENABLED",
                },
            },
        ]
    }


def test_apple_targeting_and_dayparts() -> None:
    geo = apple(
        w("update_targeting", "adset", "555666777", {"geo": ["US", "GB"]}),
        ad_account_id=ACCOUNT,
        country_ids={"US": "1125"},
    )
    assert geo["body"] == {"targeting": {"country": {"include": ["1125", "GB"]}}}
    sched = apple(
        w("update_schedule", "adset", "555666777", {"dayparts": [9, 10]}), ad_account_id=ACCOUNT
    )
    include = sched["body"]["targeting"]["daypart"]["include"]
    assert include[:4] == ["9", "10", "33", "34"]
    assert len(include) == 14 and include[-1] == str(6 * 24 + 10)


@pytest.mark.parametrize("action", ACTION_TYPES)
def test_every_action_builds_on_every_platform(action: str) -> None:
    entity = {
        "pause_ad": "ad",
        "pause_adset": "adset",
        "update_budget": "campaign",
        "push_creative": "adset",
        "replace_creative": "ad",
        "prune_creative": "ad",
        "update_targeting": "adset",
        "update_schedule": "adset",
    }[action]
    write = w(
        action,
        entity,
        "111222333",
        {"dailyBudgetCents": 5000, "geo": ["US"], "dayparts": [8, 9], "status": "paused"},
        {"creativeExternalId": "444555666", "adsetExternalId": "222333444"},
    )
    for request in (
        meta(write, ad_account_id="act_1"),
        tiktok(write, advertiser_id="7"),
        apple(write, ad_account_id="9"),
    ):
        json.dumps(request)  # plain JSON, ready for proposedAction.detail
        steps = request.get("steps", [request])
        assert all(step["method"] in ("POST", "PUT", "DELETE") and step["path"] for step in steps)
