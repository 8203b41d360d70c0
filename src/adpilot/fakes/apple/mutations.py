"""Apple v1 writes against the simulated market.

PUT is a partial update: only the fields sent change, an array sent replaces that dimension
whole, immutable fields are ignored. One ENABLED ad per ad group: a create or an enable that
would add a second one is refused. Deletes are soft and cascade (campaign → ad groups → ads);
a deleted entity refuses further changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from adpilot.fakes.apple.errors import ApiFailure, from_sim, invalid, not_found
from adpilot.fakes.apple.state import AppleState, iso_for_geo_id
from adpilot.fakes.apple.views import ad_json, adgroup_json, campaign_json
from adpilot.platforms.base import EntityType
from adpilot.sim.market import Market, SimError
from adpilot.sim.tables import ACTIVE, DELETED

_STATUS = {"ENABLED": "active", "PAUSED": "paused"}
_SIM_KINDS: dict[str, EntityType] = {"campaign": "campaign", "adgroup": "adset", "ad": "ad"}


def _body(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ApiFailure(400, "bad_request", "The request body must be a JSON object")
    return body


def _row(m: Market, kind: str, entity_id: str) -> int:
    if not m.has(_SIM_KINDS[kind], entity_id):
        raise not_found(kind, entity_id)
    return m.index_of(_SIM_KINDS[kind], entity_id)


def _deleted(m: Market, kind: str, entity_id: str) -> bool:
    return m.status_of(_SIM_KINDS[kind], entity_id) == "deleted"


def _live_row(m: Market, kind: str, entity_id: str) -> int:
    """The entity's row; an unknown one is a 404 and a deleted one refuses changes."""
    row = _row(m, kind, entity_id)
    if _deleted(m, kind, entity_id):
        raise invalid(f"{kind} {entity_id} is deleted", "ENTITY_DELETED")
    return row


@contextmanager
def _sim_refusals() -> Iterator[None]:
    """The simulator refusing a change is Apple refusing it."""
    try:
        yield
    except SimError as exc:
        raise from_sim(exc) from None


def _status(body: Mapping[str, Any]) -> str | None:
    if "status" not in body:
        return None
    value = str(body["status"]).upper()
    if value not in _STATUS:
        raise invalid("status must be ENABLED or PAUSED", "INVALID_STATUS", "status")
    return _STATUS[value]


def _cents(value: Any, currency: str) -> int:
    if not isinstance(value, Mapping) or "amount" not in value:
        raise invalid("a Money object {amount, currency} is required", "INVALID_MONEY")
    if str(value.get("currency")) != currency:
        raise invalid(
            f"currency must be the account currency {currency}", "CURRENCY_MISMATCH", "currency"
        )
    try:
        amount = Decimal(str(value["amount"]))
    except InvalidOperation:
        raise invalid("amount must be a decimal string", "INVALID_MONEY", "amount") from None
    if amount != amount.quantize(Decimal("0.01")) or amount <= 0:
        raise invalid("amount must be positive with at most 2 decimals", "INVALID_MONEY", "amount")
    return int(amount * 100)


def _touch(state: AppleState, kind: str, entity_id: str, now: dt.datetime) -> None:
    state.modified[(kind, entity_id)] = now


def update_campaign(
    m: Market, state: AppleState, entity_id: str, body: Any, now: dt.datetime
) -> dict[str, Any]:
    body = _body(body)
    i = _live_row(m, "campaign", entity_id)
    if "dailyBudgetAmount" in body or "budgetAmount" in body:
        raise invalid(
            "dailyBudgetAmount is a v5 field; v1 takes dailyBudget.value", "INVALID_FIELD"
        )
    status = _status(body)
    cents = None
    if "dailyBudget" in body:
        budget = body["dailyBudget"]
        cents = _cents(
            budget.get("value") if isinstance(budget, Mapping) else None, m.account.currency
        )
    with _sim_refusals():
        if cents is not None:
            m.set_daily_budget("campaign", entity_id, cents, now)
        if status is not None:
            m.set_status("campaign", entity_id, status, now)
    _touch(state, "campaign", entity_id, now)
    return campaign_json(m, state, i)


def _slot_hours(value: Any) -> list[int]:
    include = value.get("include") if isinstance(value, Mapping) else None
    if not isinstance(include, list) or not include:
        raise invalid("daypart.include must list slots 0-167", "INVALID_DAYPART", "daypart")
    hours = set()
    for slot in include:
        text = str(slot)
        if not text.isdigit() or not 0 <= int(text) < 168:
            raise invalid(f"daypart slot {slot!r} is not in 0-167", "INVALID_DAYPART", "daypart")
        hours.add(int(text) % 24)
    # The simulator schedules hours of the day: an hour on any day runs every day.
    return sorted(hours)


def _countries(m: Market, value: Any) -> list[str]:
    include = value.get("include") if isinstance(value, Mapping) else None
    if not isinstance(include, list) or not include:
        raise invalid("country.include must list geo ids", "INVALID_GEO", "country")
    out = []
    for geo in include:
        iso = iso_for_geo_id(str(geo), m.countries)
        if iso is None:
            raise invalid(f"'{geo}' is not a country geo id for this app", "INVALID_GEO", "country")
        out.append(iso)
    return out


def update_adgroup(
    m: Market, state: AppleState, entity_id: str, body: Any, now: dt.datetime
) -> dict[str, Any]:
    body = _body(body)
    j = _live_row(m, "adgroup", entity_id)
    status = _status(body)
    targeting = body.get("targeting") or {}
    if not isinstance(targeting, Mapping):
        raise invalid("targeting must be an object", "INVALID_TARGETING", "targeting")
    geo = _countries(m, targeting["country"]) if "country" in targeting else None
    hours = _slot_hours(targeting["daypart"]) if "daypart" in targeting else None
    bid = body.get("bidStrategy")
    paired = isinstance(bid, Mapping) and bid.get("bidStrategyType") and bid.get("bidStrategyGoal")
    if bid is not None and not paired:
        raise invalid("bidStrategyType and bidStrategyGoal must be sent together", "INVALID_BID")
    with _sim_refusals():
        if geo is not None:
            m.set_geo(entity_id, geo, now)
        if hours is not None:
            m.set_dayparts(entity_id, hours, now)
        if status is not None:
            m.set_status("adset", entity_id, status, now)
    if bid is not None:
        state.bids[entity_id] = dict(bid)
    _touch(state, "adgroup", entity_id, now)
    return adgroup_json(m, state, j)


def _enabled_ads(m: Market, group_row: int) -> list[str]:
    ads = m.ads
    return [ads.id[a] for a in np.flatnonzero((ads.adset == group_row) & (ads.status == ACTIVE))]


def _one_enabled(m: Market, group_row: int, but: str | None = None) -> None:
    others = [a for a in _enabled_ads(m, group_row) if a != but]
    if others:
        raise invalid(
            "Only one ad per ad group can be ENABLED; ad group "
            f"{m.adsets.id[group_row]} already has enabled ad {others[0]}",
            "AD_GROUP_HAS_ENABLED_AD",
            "status",
        )


def update_ad(
    m: Market, state: AppleState, entity_id: str, body: Any, now: dt.datetime
) -> dict[str, Any]:
    body = _body(body)
    a = _live_row(m, "ad", entity_id)
    status = _status(body)  # only name and status are mutable; the rest is ignored
    if status == "active" and int(m.ads.status[a]) != ACTIVE:
        _one_enabled(m, int(m.ads.adset[a]), but=entity_id)
    if status is not None:
        with _sim_refusals():
            m.set_status("ad", entity_id, status, now)
    _touch(state, "ad", entity_id, now)
    return ad_json(m, state, a)


def create_ad(m: Market, state: AppleState, body: Any, now: dt.datetime) -> dict[str, Any]:
    body = _body(body)
    missing = [k for k in ("name", "adGroupId", "creativeId", "status") if body.get(k) is None]
    if missing:
        raise invalid(f"{', '.join(missing)} required", "MISSING_FIELD", missing[0])
    group_id, creative_id = str(body["adGroupId"]), str(body["creativeId"])
    j = _live_row(m, "adgroup", group_id)
    if not m.has("creative", creative_id):
        raise invalid(f"creative {creative_id} does not exist", "CREATIVE_NOT_FOUND", "creativeId")
    status = _status(body)
    if status == "active":
        _one_enabled(m, j)
    with _sim_refusals():
        ad_id = m.push_creative(group_id, creative_id, now, name=str(body["name"]))
        if status == "paused":
            m.set_status("ad", ad_id, "paused", now)
    _touch(state, "ad", ad_id, now)
    return ad_json(m, state, m.index_of("ad", ad_id))


def delete(m: Market, state: AppleState, kind: str, entity_id: str, now: dt.datetime) -> None:
    """Soft delete with cascade; deleting twice is refused."""
    row = _row(m, kind, entity_id)
    if _deleted(m, kind, entity_id):
        raise invalid(f"{kind} {entity_id} is already deleted", f"{kind.upper()}_ALREADY_DELETED")
    groups = [row] if kind == "adgroup" else []
    if kind == "campaign":
        groups = [int(j) for j in np.flatnonzero(m.adsets.campaign == row)]
    ads = [int(a) for a in np.flatnonzero(np.isin(m.ads.adset, groups))] if groups else []
    if kind == "ad":
        ads = [row]
    for a in ads:
        if int(m.ads.status[a]) != DELETED:
            m.prune_ad(m.ads.id[a], now)
            _touch(state, "ad", m.ads.id[a], now)
    for j in groups:
        if int(m.adsets.status[j]) != DELETED:
            m.set_status("adset", m.adsets.id[j], "deleted", now)
            _touch(state, "adgroup", m.adsets.id[j], now)
    if kind == "campaign":
        m.set_status("campaign", entity_id, "deleted", now)
        _touch(state, "campaign", entity_id, now)
