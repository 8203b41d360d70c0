"""Meta Marketing API requests for the eight normalised writes (pure functions, no I/O).

A request is `{"method", "path", "params"}`: `path` includes the Graph version, `params` are the
form fields exactly as sent (strings; complex values JSON-encoded into one field, as the Graph
API expects). The access token is added by the HTTP client, never here.
"""

from __future__ import annotations

import json
from typing import Any

from adpilot.platforms.base import WriteRequest

DEFAULT_API_VERSION = "v26.0"
# Currencies whose minor unit is the major unit (Meta's "offset 1" list).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD"}
)


_META_STATUS = {"active": "ACTIVE", "paused": "PAUSED", "deleted": "DELETED"}


def account_node(external_id: str) -> str:
    """`act_<digits>` whether adpilot stored it with or without the prefix."""
    return external_id if external_id.startswith("act_") else f"act_{external_id}"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def budget_minor_units(cents: int, currency: str = "USD") -> str:
    """A budget in Meta's minor units: cents for most currencies, whole units for JPY etc."""
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        return str(int(cents) // 100)
    return str(int(cents))


def dayparting_schedule(hours: list[int]) -> list[dict[str, Any]]:
    """Consecutive hours as `adset_schedule` blocks, every day of the week, in the user's zone."""
    picked = sorted({int(h) for h in hours})
    blocks: list[dict[str, Any]] = []
    start = prev = None
    for h in [*picked, None]:
        if h is not None and prev is not None and h == prev + 1:
            prev = h
            continue
        if start is not None and prev is not None:
            blocks.append(
                {
                    "start_minute": start * 60,
                    "end_minute": (prev + 1) * 60,
                    "days": [0, 1, 2, 3, 4, 5, 6],
                    "timezone_type": "USER",
                }
            )
        start = prev = h
    return blocks


def _need(mapping: dict[str, Any], key: str, what: str) -> Any:
    if key not in mapping or mapping[key] is None:
        raise ValueError(f"{what} needs {key!r}")
    return mapping[key]


def _post(version: str, node: str, params: dict[str, str]) -> dict[str, Any]:
    return {"method": "POST", "path": f"/{version}/{node}", "params": params}


def build_request(
    write: WriteRequest,
    *,
    api_version: str = DEFAULT_API_VERSION,
    ad_account_id: str | None = None,
    currency: str = "USD",
) -> dict[str, Any]:
    """The Graph request that performs `write`.

    `ad_account_id` (`act_<id>` or the bare id) is needed for push_creative, which creates an ad
    under the account. Creative writes read the creative id from
    `context["creativeExternalId"]`; targeting merges the new countries into
    `context["targetingSpec"]` (the ad set's current Meta targeting) because Meta replaces the
    whole spec on update.
    """
    action = write.action_type
    node = write.entity_external_id
    new = write.new_value
    ctx = write.context
    expected_entity = {
        "pause_ad": "ad",
        "pause_adset": "adset",
        "push_creative": "adset",
        "replace_creative": "ad",
        "prune_creative": "ad",
        "update_targeting": "adset",
        "update_schedule": "adset",
    }.get(action)
    if expected_entity is not None and write.entity_type != expected_entity:
        raise ValueError(f"{action} applies to an {expected_entity}, not a {write.entity_type}")

    if action in ("pause_ad", "pause_adset"):
        # newValue.status "active" is the revert of a pause (a rollback): enable it again.
        status = "ACTIVE" if new.get("status") == "active" else "PAUSED"
        return _post(api_version, node, {"status": status})
    if action == "update_status":
        status = str(_need(new, "status", action))
        if status not in _META_STATUS:
            raise ValueError(f"update_status cannot set status {status!r}")
        # DELETED is Meta's soft delete: the node stays readable with that status.
        return _post(api_version, node, {"status": _META_STATUS[status]})
    if action == "update_budget":
        if write.entity_type not in ("campaign", "adset"):
            raise ValueError("update_budget applies to a campaign or an ad set")
        cents = int(_need(new, "dailyBudgetCents", action))
        return _post(api_version, node, {"daily_budget": budget_minor_units(cents, currency)})
    if action == "push_creative":
        if not ad_account_id:
            raise ValueError("push_creative needs the ad account id")
        account = account_node(ad_account_id)
        creative_id = str(_need(ctx, "creativeExternalId", action))
        name = str(ctx.get("adName") or new.get("name") or f"Ad — {creative_id}")
        return _post(
            api_version,
            f"{account}/ads",
            {
                "name": name,
                "adset_id": node,
                "creative": _json({"creative_id": creative_id}),
                "status": "ACTIVE",
            },
        )
    if action == "replace_creative":
        creative_id = str(_need(ctx, "creativeExternalId", action))
        return _post(api_version, node, {"creative": _json({"creative_id": creative_id})})
    if action == "prune_creative":
        # An ad always has a creative: removing the creative means deleting the ad.
        return _post(api_version, node, {"status": "DELETED"})
    if action == "update_targeting":
        countries = [str(c).upper() for c in _need(new, "geo", action)]
        spec = dict(ctx.get("targetingSpec") or {})
        spec["geo_locations"] = {"countries": countries}
        return _post(api_version, node, {"targeting": _json(spec)})
    if action == "update_schedule":
        hours = [int(h) for h in _need(new, "dayparts", action)]
        if len(set(hours)) >= 24:
            return _post(api_version, node, {"pacing_type": _json(["standard"])})
        return _post(
            api_version,
            node,
            {
                "pacing_type": _json(["day_parting"]),
                "adset_schedule": _json(dayparting_schedule(hours)),
            },
        )
    raise ValueError(f"unknown action type {action!r}")
