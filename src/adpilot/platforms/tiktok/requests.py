"""TikTok API for Business v1.3 requests for the eight normalised writes (pure, no I/O).

A request is `{"method": "POST", "path", "body"}`: `path` is the full API path with its trailing
slash (TikTok answers 404 without it), `body` the JSON body. Budgets are numbers in major units.
The `Access-Token` header is added by the HTTP client, never here.
"""

from __future__ import annotations

from typing import Any

from adpilot.platforms.base import ACTION_ENTITY_TYPES, WriteRequest

API_PREFIX = "/open_api/v1.3"

# TikTok targets places by GeoNames id ("location_ids"); countries we can target by ISO code.
COUNTRY_LOCATION_IDS: dict[str, str] = {
    "US": "6252001",
    "CA": "6251999",
    "GB": "2635167",
    "AU": "2077456",
    "DE": "2921044",
    "FR": "3017382",
    "BR": "3469034",
    "MX": "3996063",
    "JP": "1861060",
    "IN": "1269750",
    "ES": "2510769",
    "IT": "3175395",
    "NL": "2750405",
    "SE": "2661886",
    "KR": "1835841",
}


def _operation(new: dict[str, Any]) -> str:
    """A pause disables; its revert (newValue.status "active", a rollback) enables again."""
    return "ENABLE" if new.get("status") == "active" else "DISABLE"


_TIKTOK_OPERATION = {"active": "ENABLE", "paused": "DISABLE", "deleted": "DELETE"}
_TIKTOK_ENTITY = {"campaign": "campaign", "adset": "adgroup", "ad": "ad"}


def budget_major_units(cents: int) -> float:
    return round(int(cents) / 100.0, 2)


def dayparting(hours: list[int]) -> str:
    """The 336-character `dayparting` string: 7 days × 48 half hours from Monday 00:00."""
    on = {int(h) for h in hours}
    day = "".join("11" if h in on else "00" for h in range(24))
    return day * 7


def _need(mapping: dict[str, Any], key: str, what: str) -> Any:
    if key not in mapping or mapping[key] is None:
        raise ValueError(f"{what} needs {key!r}")
    return mapping[key]


def _post(path: str, body: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {"method": "POST", "path": f"{prefix}{path}", "body": body}


def build_request(
    write: WriteRequest, *, advertiser_id: str, api_prefix: str = API_PREFIX
) -> dict[str, Any]:
    """The TikTok request that performs `write` for advertiser `advertiser_id`.

    Creative writes read the video id from `context["creativeExternalId"]` and merge any extra
    TikTok creative fields from `context["creativeSpec"]` (identity, ad text, call to action…).
    replace_creative also needs the ad's ad group in `context["adsetExternalId"]`.
    """
    action = write.action_type
    entity = write.entity_external_id
    new = write.new_value
    ctx = write.context
    adv = str(advertiser_id)
    body: dict[str, Any]
    expected = ACTION_ENTITY_TYPES.get(action)
    if expected is None:
        raise ValueError(f"unknown action type {action!r}")
    if write.entity_type not in expected:
        raise ValueError(f"{action} applies to {' or '.join(expected)}, not {write.entity_type}")

    if action == "pause_ad":
        body = {
            "advertiser_id": adv,
            "ad_ids": [entity],
            "operation_status": _operation(write.new_value),
        }
        return _post("/ad/status/update/", body, api_prefix)
    if action == "update_status":
        status = str(_need(new, "status", action))
        if status not in _TIKTOK_OPERATION:
            raise ValueError(f"update_status cannot set status {status!r}")
        kind = _TIKTOK_ENTITY[write.entity_type]
        body = {
            "advertiser_id": adv,
            f"{kind}_ids": [entity],
            "operation_status": _TIKTOK_OPERATION[status],
        }
        if kind == "adgroup":
            body["allow_partial_success"] = True
        return _post(f"/{kind}/status/update/", body, api_prefix)
    if action == "pause_adset":
        # With partial success TikTok names a refused ad group in `error_list` with its reason
        # instead of failing the call with a generic code.
        body = {
            "advertiser_id": adv,
            "adgroup_ids": [entity],
            "operation_status": _operation(write.new_value),
            "allow_partial_success": True,
        }
        return _post("/adgroup/status/update/", body, api_prefix)
    if action == "update_budget":
        budget = budget_major_units(int(_need(new, "dailyBudgetCents", action)))
        if write.entity_type == "campaign":
            body = {"advertiser_id": adv, "campaign_id": entity, "budget": budget}
            return _post("/campaign/update/", body, api_prefix)
        body = {
            "advertiser_id": adv,
            "budget": [{"adgroup_id": entity, "budget": budget}],
        }
        return _post("/adgroup/budget/update/", body, api_prefix)
    if action == "push_creative":
        video_id = str(_need(ctx, "creativeExternalId", action))
        creative: dict[str, Any] = {
            "ad_name": str(ctx.get("adName") or new.get("name") or f"Ad — {video_id}"),
            "ad_format": "SINGLE_VIDEO",
            "video_id": video_id,
        }
        creative.update(ctx.get("creativeSpec") or {})
        body = {"advertiser_id": adv, "adgroup_id": entity, "creatives": [creative]}
        return _post("/ad/create/", body, api_prefix)
    if action == "replace_creative":
        # patch_update lets us send only the fields that change instead of the whole creative.
        patch: dict[str, Any] = {
            "ad_id": entity,
            "video_id": str(_need(ctx, "creativeExternalId", action)),
        }
        patch.update(ctx.get("creativeSpec") or {})
        body = {
            "advertiser_id": adv,
            "adgroup_id": str(_need(ctx, "adsetExternalId", action)),
            "patch_update": True,
            "creatives": [patch],
        }
        return _post("/ad/update/", body, api_prefix)
    if action == "prune_creative":
        body = {
            "advertiser_id": adv,
            "ad_ids": [entity],
            "operation_status": "DELETE",
        }
        return _post("/ad/status/update/", body, api_prefix)
    if action == "update_targeting":
        # Countries by ISO code; places synced as TikTok location ids (digits) pass through.
        countries = [str(c).upper() for c in _need(new, "geo", action)]
        overrides = ctx.get("locationIds") or {}
        unknown = [
            c
            for c in countries
            if c not in overrides and c not in COUNTRY_LOCATION_IDS and not c.isdigit()
        ]
        if unknown:
            raise ValueError(f"no TikTok location id for {', '.join(unknown)}")
        ids = [str(overrides.get(c) or COUNTRY_LOCATION_IDS.get(c) or c) for c in countries]
        body = {"advertiser_id": adv, "adgroup_id": entity, "location_ids": ids}
        return _post("/adgroup/update/", body, api_prefix)
    # update_schedule
    hours = [int(h) for h in _need(new, "dayparts", action)]
    body = {
        "advertiser_id": adv,
        "adgroup_id": entity,
        "dayparting": dayparting(hours),
    }
    return _post("/adgroup/update/", body, api_prefix)
