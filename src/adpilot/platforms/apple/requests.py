"""Apple Ads Platform API v1 requests for the eight normalised writes (pure, no I/O).

A request is `{"method", "path", "headers", "body"?}` with the `X-AP-Context` header naming the
ad account (the bearer token is added by the HTTP client). PUT is a partial update, ids are JSON
numbers in bodies and strings in paths, money is `{"amount": "75.00", "currency": "USD"}`.
Replacing a creative takes two calls (ads are immutable apart from name and status), returned as
`{"steps": [request, request]}` to be sent in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adpilot.platforms.base import WriteRequest

_EXPECTED_ENTITY = {
    "pause_ad": "ad",
    "pause_adset": "adset",
    "update_budget": "campaign",  # Apple budgets live on campaigns only
    "push_creative": "adset",
    "replace_creative": "ad",
    "prune_creative": "ad",
    "update_targeting": "adset",
    "update_schedule": "adset",
}
_APPLE_PATH = {"campaign": "campaigns", "adset": "adgroups", "ad": "ads"}
_APPLE_STATUS = {"active": "ENABLED", "paused": "PAUSED"}


def money(cents: int, currency: str = "USD") -> dict[str, str]:
    cents = int(cents)
    return {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": currency}


def daypart_slots(hours: list[int]) -> list[str]:
    """Weekly daypart slots (0–167, 0 = Sunday 00:00) for the given hours on every day."""
    on = sorted({int(h) for h in hours})
    return [str(day * 24 + h) for day in range(7) for h in on]


def _need(mapping: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in mapping or mapping[key] is None:
        raise ValueError(f"{what} needs {key!r}")
    return mapping[key]


def _id(value: Any) -> int:
    return int(str(value))


def build_request(
    write: WriteRequest,
    *,
    ad_account_id: str,
    currency: str = "USD",
    country_ids: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Apple request(s) that perform `write` in ad account `ad_account_id`.

    Targeting sends the ad group's `country` dimension as Apple geo ids: `country_ids` (or
    `context["countryIds"]`) maps ISO codes to them; codes without a mapping are sent as they
    are. Creative writes read the creative id from `context["creativeExternalId"]`;
    replace_creative also needs the ad group in `context["adsetExternalId"]`.
    """
    action = write.action_type
    entity = write.entity_external_id
    new = write.new_value
    ctx = write.context
    headers = {"X-AP-Context": f"adAccountId={ad_account_id}"}

    def req(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"method": method, "path": path, "headers": dict(headers)}
        if body is not None:
            out["body"] = body
        return out

    if action == "update_status":
        status = str(_need(new, "status", action))
        collection = _APPLE_PATH.get(write.entity_type)
        if collection is None:
            raise ValueError(f"update_status cannot target a {write.entity_type}")
        if status == "deleted":
            # Apple's delete is soft: the object stays readable with `deleted: true`.
            return req("DELETE", f"/v1/{collection}/{entity}")
        if status not in _APPLE_STATUS:
            raise ValueError(f"update_status cannot set status {status!r}")
        return req("PUT", f"/v1/{collection}/{entity}", {"status": _APPLE_STATUS[status]})
    expected = _EXPECTED_ENTITY.get(action)
    if expected is None:
        raise ValueError(f"unknown action type {action!r}")
    if write.entity_type != expected:
        raise ValueError(f"on Apple, {action} applies to {expected}s, not {write.entity_type}s")

    # newValue.status "active" is the revert of a pause (a rollback): enable it again.
    status = "ENABLED" if new.get("status") == "active" else "PAUSED"
    if action == "pause_ad":
        return req("PUT", f"/v1/ads/{entity}", {"status": status})
    if action == "pause_adset":
        return req("PUT", f"/v1/adgroups/{entity}", {"status": status})
    if action == "update_budget":
        cents = int(_need(new, "dailyBudgetCents", action))
        body = {"dailyBudget": {"value": money(cents, currency)}}
        return req("PUT", f"/v1/campaigns/{entity}", body)
    if action == "push_creative":
        creative_id = _need(ctx, "creativeExternalId", action)
        return req(
            "POST",
            "/v1/ads",
            {
                "name": str(ctx.get("adName") or new.get("name") or f"Ad {creative_id}"),
                "adGroupId": _id(entity),
                "creativeId": _id(creative_id),
                "status": "ENABLED",
            },
        )
    if action == "replace_creative":
        creative_id = _need(ctx, "creativeExternalId", action)
        # Only one enabled ad per ad group: retire the old ad first, then create its successor.
        create = {
            "name": str(ctx.get("adName") or f"Ad {creative_id}"),
            "adGroupId": _id(_need(ctx, "adsetExternalId", action)),
            "creativeId": _id(creative_id),
            "status": "ENABLED",
        }
        return {"steps": [req("DELETE", f"/v1/ads/{entity}"), req("POST", "/v1/ads", create)]}
    if action == "prune_creative":
        return req("DELETE", f"/v1/ads/{entity}")
    if action == "update_targeting":
        mapping = dict(country_ids or {})
        mapping.update(ctx.get("countryIds") or {})
        countries = [str(c).upper() for c in _need(new, "geo", action)]
        include = [str(mapping.get(c, c)) for c in countries]
        return req(
            "PUT", f"/v1/adgroups/{entity}", {"targeting": {"country": {"include": include}}}
        )
    # update_schedule
    hours = [int(h) for h in _need(new, "dayparts", action)]
    slots = daypart_slots(hours)
    return req("PUT", f"/v1/adgroups/{entity}", {"targeting": {"daypart": {"include": slots}}})
