"""Graph objects of the fake Meta (account, campaigns, ad sets, ads, creatives) rendered from the
simulated market, and the writes that change them."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from adpilot.fakes.meta.state import MetaState
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.meta.requests import (
    ZERO_DECIMAL_CURRENCIES,
    budget_minor_units,
    dayparting_schedule,
)
from adpilot.sim.market import Market
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
        "amount_spent": budget_minor_units(spent, currency),
    }


def _campaign(state: MetaState, account: str, m: Market, i: int) -> dict[str, Any]:
    c = m.campaigns
    status = _STATUS[int(c.status[i])]
    currency = currency_of(state, account, m)
    budget = budget_minor_units(int(c.budget[i]), currency) if c.cbo[i] else None
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
    budget = None if c.cbo[camp] else budget_minor_units(int(s.budget[i]), currency)
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
