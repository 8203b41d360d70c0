"""Writes to the fake Meta's objects: every change of one request is checked before any is
made, so a refusal changes nothing (as Graph does)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from adpilot.fakes.meta.graph import GraphFault, graph_error, invalid_param, json_param
from adpilot.fakes.meta.nodes import NODE_TYPES, Kind, currency_of, from_minor
from adpilot.fakes.meta.state import MetaState
from adpilot.sim.market import Market, SimError

Change = Callable[[], None]
WRITABLE = {
    "campaign": {"status", "daily_budget", "name"},
    "adset": {"status", "daily_budget", "targeting", "pacing_type", "adset_schedule", "name"},
    "ad": {"status", "creative", "name"},
}
_SETTABLE_STATUS = {"ACTIVE": "active", "PAUSED": "paused", "DELETED": "deleted"}


def _sim_refusal(exc: SimError) -> GraphFault:
    if exc.kind == "not_found":
        return invalid_param(exc.message, subcode=33)
    return invalid_param(exc.message)


def _validate_only(params: dict[str, str]) -> bool:
    """`execution_options=["validate_only"]`: check the request, change nothing."""
    return "validate_only" in (json_param(params, "execution_options", []) or [])


def _status_change(m: Market, kind: Kind, node: str, value: str, now: dt.datetime) -> Change:
    status = _SETTABLE_STATUS.get(value.upper())
    if status is None:
        if value.upper() == "ARCHIVED":
            raise invalid_param("Archiving is not simulated by this fake; pause or delete instead")
        raise invalid_param(
            f"Param status must be one of {{ACTIVE, PAUSED, DELETED, ARCHIVED}}, got {value!r}"
        )
    return lambda: m.set_status(kind, node, status, now)  # type: ignore[arg-type]


def _budget_change(
    state: MetaState, account: str, m: Market, kind: Kind, node: str, raw: str, now: dt.datetime
) -> Change:
    try:
        units = int(raw)
    except ValueError:
        raise invalid_param(
            "Param daily_budget must be an integer in the currency's minimum unit"
        ) from None
    if not m.budget_holder(kind, node):  # type: ignore[arg-type]
        where = "campaign" if kind == "adset" else "ad set"
        raise graph_error(
            100,
            "(#100) Invalid parameter",
            subcode=1885621,
            user_title="Budget is set at the " + where + " level",
            user_msg=f"This {kind}'s budget is set at the {where} level; change it there.",
        )
    if kind == "adset":
        limit = state.config.budget_changes_per_hour
        locked = state.budget_locked_until.get(node)
        recent = [t for t in state.budget_edits.get(node, []) if t > now - dt.timedelta(hours=1)]
        state.budget_edits[node] = recent
        if (locked is not None and locked > now) or len(recent) >= limit:
            state.budget_locked_until[node] = max(locked or now, now + dt.timedelta(hours=1))
            raise graph_error(
                17,
                "(#17) User request limit reached",
                subcode=2446079,
                user_title="Too many budget changes",
                user_msg=f"An ad set's budget can change at most {limit} times an hour; "
                "this ad set's budget is locked for an hour.",
            )
    cents = from_minor(units, currency_of(state, account, m))

    def change() -> None:
        m.set_daily_budget(kind, node, cents, now)  # type: ignore[arg-type]
        if kind == "adset":
            state.budget_edits.setdefault(node, []).append(now)

    return change


def _creative_of(m: Market, raw: str) -> str:
    """The creative id of a `creative={"creative_id": …}` parameter, one of this account's."""
    spec = json_param({"creative": raw}, "creative")
    creative = str(spec.get("creative_id") or "") if isinstance(spec, dict) else ""
    if not creative or not m.has("creative", creative):
        raise invalid_param(
            f"Invalid creative: {creative or raw!r} is not a creative of this account",
            subcode=1487838,
        )
    return creative


def _creative_change(state: MetaState, m: Market, node: str, raw: str, now: dt.datetime) -> Change:
    creative = _creative_of(m, raw)

    def change() -> None:
        m.replace_creative(node, creative, now)
        if state.config.review_seconds > 0:
            state.review_until[node] = now + dt.timedelta(seconds=state.config.review_seconds)

    return change


def _targeting_change(state: MetaState, m: Market, node: str, raw: str, now: dt.datetime) -> Change:
    spec = json_param({"targeting": raw}, "targeting")
    if not isinstance(spec, dict):
        raise invalid_param("Param targeting must be a JSON object")
    geo = spec.get("geo_locations")
    if not isinstance(geo, dict) or not geo.get("countries"):
        raise invalid_param("Targeting spec must include geo_locations", subcode=1487079)
    unsupported = sorted(set(geo) - {"countries", "location_types"})
    if unsupported:
        raise invalid_param(f"Only country targeting is simulated by this fake, not {unsupported}")
    wanted = [str(c).upper() for c in geo["countries"]]
    unknown = sorted(set(wanted) - set(m.countries))
    if unknown:
        raise invalid_param(f"Invalid country code(s): {', '.join(unknown)}", subcode=1487756)
    rest = {k: v for k, v in spec.items() if k != "geo_locations"}

    def change() -> None:
        m.set_geo(node, wanted, now)
        state.targeting_rest[node] = rest

    return change


def _schedule_change(
    state: MetaState, m: Market, node: str, params: dict[str, str], now: dt.datetime
) -> Change:
    pacing = json_param(params, "pacing_type", [])
    blocks = json_param(params, "adset_schedule", None)
    if "day_parting" not in pacing:
        if blocks:
            raise invalid_param('adset_schedule needs pacing_type ["day_parting"]')
        return lambda: m.set_dayparts(node, list(range(24)), now)
    if state.config.dayparting_needs_lifetime_budget:
        raise invalid_param(
            "Ad scheduling is only available for ad sets with a lifetime budget", subcode=1487650
        )
    if not isinstance(blocks, list) or not blocks:
        raise invalid_param("Param adset_schedule must be a non-empty list of blocks")
    hours: set[int] = set()
    for block in blocks:
        try:
            start, end = int(block["start_minute"]), int(block["end_minute"])
            days = [int(d) for d in block.get("days", [])]
        except (KeyError, TypeError, ValueError):
            raise invalid_param(
                "Each adset_schedule block needs start_minute, end_minute and days"
            ) from None
        if (
            start % 60
            or end % 60
            or not 0 <= start < end <= 1440
            or not days
            or any(d not in range(7) for d in days)
        ):
            raise invalid_param("adset_schedule blocks must cover whole hours (≥ 1 h) on days 0–6")
        hours.update(range(start // 60, end // 60))
    return lambda: m.set_dayparts(node, sorted(hours), now)


def update(
    state: MetaState,
    account: str,
    m: Market,
    kind: Kind,
    node: str,
    params: dict[str, str],
    now: dt.datetime,
) -> dict[str, Any]:
    """`POST /{node}`: every change is checked before any is made, so a refusal changes
    nothing; `execution_options=["validate_only"]` checks without changing."""
    fields = {
        k for k in params if k not in ("execution_options", "appsecret_proof", "access_token")
    }
    allowed = WRITABLE.get(kind, set())
    unknown = sorted(fields - allowed)
    if unknown:
        raise invalid_param(
            f"Param {unknown[0]} is not a field of {NODE_TYPES[kind]} that can be updated"
        )
    if not fields:
        raise invalid_param("Nothing to update")
    if m.status_of(kind, node) == "deleted":  # type: ignore[arg-type]
        raise invalid_param(
            f"Cannot update {NODE_TYPES[kind]} {node}: it is deleted", subcode=1815006
        )
    changes: list[Change] = []
    try:
        if "status" in fields:
            changes.append(_status_change(m, kind, node, params["status"], now))
        if "daily_budget" in fields:
            changes.append(
                _budget_change(state, account, m, kind, node, params["daily_budget"], now)
            )
        if "creative" in fields:
            changes.append(_creative_change(state, m, node, params["creative"], now))
        if "targeting" in fields:
            changes.append(_targeting_change(state, m, node, params["targeting"], now))
        if "pacing_type" in fields or "adset_schedule" in fields:
            changes.append(_schedule_change(state, m, node, params, now))
        if "name" in fields and kind == "ad":
            name = params["name"]
            changes.append(lambda: m.ads.name.__setitem__(m.index_of("ad", node), name))
    except SimError as exc:
        raise _sim_refusal(exc) from None
    if _validate_only(params):
        return {"success": True}
    try:
        for change in changes:
            change()
    except SimError as exc:
        raise _sim_refusal(exc) from None
    return {"success": True}


def create_ad(
    state: MetaState, account: str, m: Market, params: dict[str, str], now: dt.datetime
) -> dict[str, Any]:
    """`POST /act_<id>/ads`: a new ad in an ad set of this account running an existing creative."""
    adset = params.get("adset_id", "")
    if not adset or not m.has("adset", adset):
        raise invalid_param(
            f"Param adset_id {adset!r} is not an ad set of this account", subcode=1487116
        )
    if "creative" not in params:
        raise invalid_param("Param creative is required")
    creative = _creative_of(m, params["creative"])
    status = params.get("status", "ACTIVE").upper()
    if status not in ("ACTIVE", "PAUSED"):
        raise invalid_param("Param status must be ACTIVE or PAUSED for a new ad")
    if _validate_only(params):
        return {"success": True}
    try:
        new_id = m.push_creative(adset, creative, now, name=params.get("name") or None)
        if status == "PAUSED":
            m.set_status("ad", new_id, "paused", now)
    except SimError as exc:
        raise _sim_refusal(exc) from None
    return {"id": new_id}
