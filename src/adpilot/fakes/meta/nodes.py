"""Graph objects of the fake Meta (account, campaigns, ad sets, ads, creatives) rendered from the
simulated market, and the writes that change them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from adpilot.fakes.meta.graph import GraphFault, graph_error, invalid_param, json_param
from adpilot.fakes.meta.state import MetaState
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.meta.requests import ZERO_DECIMAL_CURRENCIES, dayparting_schedule
from adpilot.sim.market import Market, SimError
from adpilot.sim.tables import ACTIVE, DELETED, LEARN_NAMES, PAUSED

Kind = str  # "campaign" | "adset" | "ad" | "creative"
NODE_TYPES = {"campaign": "Campaign", "adset": "AdSet", "ad": "Ad", "creative": "AdCreative"}
_STATUS = {ACTIVE: "ACTIVE", PAUSED: "PAUSED", DELETED: "DELETED"}
_LEARNING = {"learning": "LEARNING", "learned": "SUCCESS", "limited": "FAIL"}
DEFAULT_TARGETING_REST: dict[str, Any] = {
    "age_min": 18,
    "age_max": 65,
    "publisher_platforms": ["facebook", "instagram"],
}
KNOWN_FIELDS: dict[str, set[str]] = {
    "account": {
        "id",
        "account_id",
        "name",
        "currency",
        "timezone_name",
        "timezone_offset_hours_utc",
        "account_status",
        "amount_spent",
        "business",
    },
    "campaign": {
        "id",
        "account_id",
        "name",
        "objective",
        "status",
        "configured_status",
        "effective_status",
        "daily_budget",
        "lifetime_budget",
        "budget_remaining",
        "bid_strategy",
        "buying_type",
        "special_ad_categories",
        "created_time",
        "start_time",
        "stop_time",
        "updated_time",
    },
    "adset": {
        "id",
        "account_id",
        "name",
        "campaign_id",
        "status",
        "configured_status",
        "effective_status",
        "daily_budget",
        "lifetime_budget",
        "budget_remaining",
        "optimization_goal",
        "billing_event",
        "bid_strategy",
        "bid_amount",
        "targeting",
        "pacing_type",
        "adset_schedule",
        "learning_stage_info",
        "promoted_object",
        "destination_type",
        "created_time",
        "start_time",
        "end_time",
        "updated_time",
    },
    "ad": {
        "id",
        "account_id",
        "name",
        "adset_id",
        "campaign_id",
        "status",
        "configured_status",
        "effective_status",
        "creative",
        "created_time",
        "updated_time",
    },
    "creative": {
        "id",
        "account_id",
        "name",
        "status",
        "object_story_spec",
        "thumbnail_url",
        "image_hash",
        "video_id",
    },
}


def currency_of(state: MetaState, account: str, market: Market) -> str:
    return state.currency.get(account, market.account.currency)


def to_minor(cents: int, currency: str) -> str:
    return str(cents // 100 if currency in ZERO_DECIMAL_CURRENCIES else cents)


def from_minor(units: int, currency: str) -> int:
    return units * 100 if currency in ZERO_DECIMAL_CURRENCIES else units


def graph_time(unix: int, tz: str) -> str:
    moment = dt.datetime.fromtimestamp(int(unix), tz=dt.UTC).astimezone(ZoneInfo(tz))
    return moment.strftime("%Y-%m-%dT%H:%M:%S%z")


def find_node(world: FakeWorld, node: str) -> tuple[str, Kind] | None:
    """(account id, kind) of an entity id in any simulated account."""
    with world.lock:
        for account, market in world.markets.items():
            for kind in ("campaign", "adset", "ad", "creative"):
                if market.has(kind, node):
                    return account, kind
    return None


# --- reads ----------------------------------------------------------------------------------


def account_object(state: MetaState, account: str, m: Market) -> dict[str, Any]:
    spent = int(sum(int(d.sum()) for d in m.history.spend))
    currency = currency_of(state, account, m)
    return {
        "id": account,
        "account_id": account.removeprefix("act_"),
        "name": m.account.name,
        "currency": currency,
        "timezone_name": m.account.timezone,
        "timezone_offset_hours_utc": 0,
        "account_status": 1,
        "amount_spent": to_minor(spent, currency),
    }


def _campaign(state: MetaState, account: str, m: Market, i: int) -> dict[str, Any]:
    c = m.campaigns
    status = _STATUS[int(c.status[i])]
    currency = currency_of(state, account, m)
    budget = to_minor(int(c.budget[i]), currency) if c.cbo[i] else None
    return {
        "id": c.id[i],
        "account_id": account.removeprefix("act_"),
        "name": c.name[i],
        "objective": "OUTCOME_APP_PROMOTION",
        "status": status,
        "configured_status": status,
        "effective_status": status,
        "daily_budget": budget,
        "budget_remaining": budget,
        "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        "buying_type": "AUCTION",
        "special_ad_categories": [],
        "created_time": graph_time(int(c.created[i]), m.account.timezone),
        "start_time": graph_time(int(c.created[i]), m.account.timezone),
        "updated_time": graph_time(int(c.created[i]), m.account.timezone),
    }


def targeting_spec(state: MetaState, m: Market, i: int) -> dict[str, Any]:
    geo = [g for g, on in zip(m.countries, m.adsets.geo[i], strict=True) if on]
    rest = state.targeting_rest.get(m.adsets.id[i], DEFAULT_TARGETING_REST)
    return {"geo_locations": {"countries": geo, "location_types": ["home", "recent"]}, **rest}


def _adset(state: MetaState, account: str, m: Market, i: int) -> dict[str, Any]:
    s, c = m.adsets, m.campaigns
    camp = int(s.campaign[i])
    status = _STATUS[int(s.status[i])]
    effective = status
    if status == "ACTIVE" and int(c.status[camp]) == PAUSED:
        effective = "CAMPAIGN_PAUSED"
    currency = currency_of(state, account, m)
    budget = None if c.cbo[camp] else to_minor(int(s.budget[i]), currency)
    hours = [int(h) for h in np.flatnonzero(s.hours[i])]
    learning = LEARN_NAMES[int(s.learn[i])]
    created = graph_time(int(s.created[i]), m.account.timezone)
    return {
        "id": s.id[i],
        "account_id": account.removeprefix("act_"),
        "name": s.name[i],
        "campaign_id": c.id[camp],
        "status": status,
        "configured_status": status,
        "effective_status": effective,
        "daily_budget": budget,
        "budget_remaining": budget,
        "optimization_goal": "APP_INSTALLS",
        "billing_event": "IMPRESSIONS",
        "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        "targeting": targeting_spec(state, m, i),
        "pacing_type": ["day_parting"] if len(hours) < 24 else ["standard"],
        "adset_schedule": dayparting_schedule(hours) if len(hours) < 24 else None,
        "learning_stage_info": {"status": _LEARNING[learning]} if learning else None,
        "promoted_object": {
            "application_id": "1000000000",
            "object_store_url": "https://apps.apple.com/app/id1",
        },
        "destination_type": "APP",
        "created_time": created,
        "start_time": created,
        "updated_time": created,
    }


def _creative(account: str, m: Market, k: int) -> dict[str, Any]:
    cid = m.creatives.id[k]
    return {
        "id": cid,
        "account_id": account.removeprefix("act_"),
        "name": m.creatives.name[k],
        "status": "ACTIVE",
        "object_story_spec": {"page_id": "100000000000001", "video_data": {"video_id": cid}},
        "thumbnail_url": f"https://fake.invalid/thumb/{cid}.jpg",
        "video_id": cid,
    }


def _ad(state: MetaState, account: str, m: Market, i: int, now: dt.datetime) -> dict[str, Any]:
    a, s, c = m.ads, m.adsets, m.campaigns
    adset = int(a.adset[i])
    camp = int(s.campaign[adset])
    status = _STATUS[int(a.status[i])]
    effective = status
    if status == "ACTIVE":
        if int(c.status[camp]) == PAUSED:
            effective = "CAMPAIGN_PAUSED"
        elif int(s.status[adset]) == PAUSED:
            effective = "ADSET_PAUSED"
        review = state.review_until.get(a.id[i])
        if review is not None and review > now:
            effective = "PENDING_REVIEW"
    k = int(a.creative[i])
    created = graph_time(int(a.created[i]), m.account.timezone)
    return {
        "id": a.id[i],
        "account_id": account.removeprefix("act_"),
        "name": a.name[i],
        "adset_id": s.id[adset],
        "campaign_id": c.id[camp],
        "status": status,
        "configured_status": status,
        "effective_status": effective,
        "creative": {"id": m.creatives.id[k], "name": m.creatives.name[k]},
        "created_time": created,
        "updated_time": created,
    }


def render(
    state: MetaState, account: str, m: Market, kind: Kind, i: int, now: dt.datetime
) -> dict[str, Any]:
    if kind == "campaign":
        return _campaign(state, account, m, i)
    if kind == "adset":
        return _adset(state, account, m, i)
    if kind == "ad":
        return _ad(state, account, m, i, now)
    return _creative(account, m, i)


def listing(
    state: MetaState,
    account: str,
    m: Market,
    kind: Kind,
    now: dt.datetime,
    statuses: list[str] | None,
    rows: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Every object of a kind in id order; by default without deleted or archived ones, else
    those whose effective status is in `statuses`."""
    tables: dict[str, Any] = {
        "campaign": m.campaigns,
        "adset": m.adsets,
        "ad": m.ads,
        "creative": m.creatives,
    }
    table = tables[kind]
    picked = range(len(table.id)) if rows is None else rows
    out = [render(state, account, m, kind, i, now) for i in picked]
    if kind == "creative":
        return out
    wanted = {s.upper() for s in statuses} if statuses else None
    return [
        o
        for o in out
        if (
            o["effective_status"] in wanted
            if wanted
            else o["status"] not in ("DELETED", "ARCHIVED")
        )
    ]


# --- writes ---------------------------------------------------------------------------------

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


def _creative_change(state: MetaState, m: Market, node: str, raw: str, now: dt.datetime) -> Change:
    spec = json_param({"creative": raw}, "creative")
    creative = str(spec.get("creative_id") or "") if isinstance(spec, dict) else ""
    if not creative or not m.has("creative", creative):
        raise invalid_param(
            f"Invalid creative: {creative or raw!r} is not a creative of this account",
            subcode=1487838,
        )

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
    tables: dict[str, Any] = {"campaign": m.campaigns, "adset": m.adsets, "ad": m.ads}
    if int(tables[kind].status[m.index_of(kind, node)]) == DELETED:  # type: ignore[arg-type]
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
    if "validate_only" in (json_param(params, "execution_options", []) or []):
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
    spec = json_param(params, "creative")
    creative = str(spec.get("creative_id") or "") if isinstance(spec, dict) else ""
    if not creative or not m.has("creative", creative):
        raise invalid_param(
            f"Invalid creative: {creative!r} is not a creative of this account", subcode=1487838
        )
    status = params.get("status", "ACTIVE").upper()
    if status not in ("ACTIVE", "PAUSED"):
        raise invalid_param("Param status must be ACTIVE or PAUSED for a new ad")
    if "validate_only" in (json_param(params, "execution_options", []) or []):
        return {"success": True}
    try:
        new_id = m.push_creative(adset, creative, now, name=params.get("name") or None)
        if status == "PAUSED":
            m.set_status("ad", new_id, "paused", now)
    except SimError as exc:
        raise _sim_refusal(exc) from None
    return {"id": new_id}


def json_body(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
