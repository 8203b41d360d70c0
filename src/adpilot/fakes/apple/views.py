"""Apple v1 objects over the simulated market, and the `POST …/query` engine.

Campaigns hold the budget (`dailyBudget.value`); ad groups carry `country` targeting as Apple
geo ids and `daypart` as weekly slots (absent when every hour runs); ads link a creative to an
ad group. The simulator's Apple ad groups hold several keyword-like ads each (the way a real ad
group holds several keywords): they are shown as ads, all on the app's default product page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Literal

from adpilot.fakes.apple.errors import ApiFailure, invalid
from adpilot.fakes.apple.state import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    AppleState,
    geo_id,
)
from adpilot.sim.market import Market
from adpilot.sim.tables import ACTIVE, DELETED

ADAM_ID = "987654321"
SimKind = Literal["campaign", "adset", "ad", "creative"]


def money(cents: float, currency: str) -> dict[str, str]:
    whole = round(float(cents))
    sign = "-" if whole < 0 else ""
    whole = abs(whole)
    return {"amount": f"{sign}{whole // 100}.{whole % 100:02d}", "currency": currency}


def timestamp(m: Market, unix: int | float) -> str:
    """Apple's `YYYY-MM-DDTHH:MM:SS.mmm`, in the account's time zone, no zone suffix."""
    local = dt.datetime.fromtimestamp(float(unix), tz=dt.UTC).astimezone(m.tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def _modified(m: Market, state: AppleState, kind: str, entity_id: str, created: int) -> str:
    when = state.modified.get((kind, entity_id))
    return timestamp(m, when.timestamp() if when else created)


def _switch(code: int) -> str:
    return "ENABLED" if code == ACTIVE else "PAUSED"


def campaign_json(m: Market, state: AppleState, i: int) -> dict[str, Any]:
    c = m.campaigns
    code = int(c.status[i])
    groups = [j for j in range(len(m.adsets.id)) if int(m.adsets.campaign[j]) == i]
    countries = sorted(
        {g for j in groups for g, on in zip(m.countries, m.adsets.geo[j], strict=True) if on}
    )
    running = code == ACTIVE
    return {
        "id": int(c.id[i]),
        "adAccountId": int(m.account.external_id),
        "name": c.name[i],
        "promotedObjectType": "APPSTORE_APP",
        "promotedObjectId": ADAM_ID,
        "billingEvent": "TAPS",
        "status": _switch(code),
        "deleted": code == DELETED,
        "systemStatus": "RUNNING" if running else "NOT_RUNNING",
        "displayStatus": "RUNNING" if running else ("DELETED" if code == DELETED else "PAUSED"),
        "dailyBudget": {"value": money(int(c.budget[i]), m.account.currency)},
        "targeting": {"countryOrRegion": {"include": countries}},
        "creationTime": timestamp(m, int(c.created[i])),
        "modificationTime": _modified(m, state, "campaign", c.id[i], int(c.created[i])),
    }


def adgroup_json(m: Market, state: AppleState, j: int) -> dict[str, Any]:
    s = m.adsets
    code = int(s.status[j])
    campaign = int(s.campaign[j])
    running = code == ACTIVE and int(m.campaigns.status[campaign]) == ACTIVE
    targeting: dict[str, Any] = {
        "country": {
            "include": [geo_id(g) for g, on in zip(m.countries, s.geo[j], strict=True) if on]
        }
    }
    hours = [h for h in range(24) if s.hours[j][h]]
    if len(hours) < 24:
        targeting["daypart"] = {"include": [str(d * 24 + h) for d in range(7) for h in hours]}
    bid = state.bids.get(s.id[j]) or {
        "bidStrategyType": "MANUAL_CPT",
        "bidStrategyGoal": "TAP",
        "bid": money(150, m.account.currency),
    }
    return {
        "id": int(s.id[j]),
        "adAccountId": int(m.account.external_id),
        "campaignId": int(m.campaigns.id[campaign]),
        "name": s.name[j],
        "pricingModel": "CPT",
        "status": _switch(code),
        "deleted": code == DELETED,
        "systemStatus": "RUNNING" if running else "NOT_RUNNING",
        "displayStatus": "RUNNING" if running else ("DELETED" if code == DELETED else "PAUSED"),
        "bidStrategy": bid,
        "targeting": targeting,
        "startTime": timestamp(m, int(s.created[j])),
        "endTime": None,
        "creationTime": timestamp(m, int(s.created[j])),
        "modificationTime": _modified(m, state, "adgroup", s.id[j], int(s.created[j])),
    }


def ad_json(m: Market, state: AppleState, a: int) -> dict[str, Any]:
    ads = m.ads
    code = int(ads.status[a])
    group = int(ads.adset[a])
    campaign = int(m.adsets.campaign[group])
    reasons = []
    if code == DELETED:
        reasons.append("DELETED_BY_USER")
    elif code != ACTIVE:
        reasons.append("PAUSED_BY_USER")
    if int(m.adsets.status[group]) != ACTIVE:
        reasons.append("AD_GROUP_PAUSED_BY_USER")
    if int(m.campaigns.status[campaign]) != ACTIVE:
        reasons.append("CAMPAIGN_PAUSED_BY_USER")
    return {
        "id": int(ads.id[a]),
        "adAccountId": int(m.account.external_id),
        "campaignId": int(m.campaigns.id[campaign]),
        "adGroupId": int(m.adsets.id[group]),
        "creativeId": int(m.creatives.id[int(ads.creative[a])]),
        "name": ads.name[a],
        "status": _switch(code),
        "deleted": code == DELETED,
        "systemStatus": "NOT_RUNNING" if reasons else "RUNNING",
        "systemStatusReasons": reasons,
        "systemStatusLimitingReasons": [],
        "displayStatus": "DELETED" if code == DELETED else ("PAUSED" if reasons else "RUNNING"),
        "creationTime": timestamp(m, int(ads.created[a])),
        "modificationTime": _modified(m, state, "ad", ads.id[a], int(ads.created[a])),
    }


def creative_json(m: Market, _state: AppleState, k: int) -> dict[str, Any]:
    name = m.creatives.name[k]
    default = name == "Default product page"
    return {
        "id": int(m.creatives.id[k]),
        "adAccountId": int(m.account.external_id),
        "name": name,
        "creativeType": "DEFAULT_PRODUCT_PAGE" if default else "CUSTOM_PRODUCT_PAGE",
        "systemStatus": "VALID",
        "deleted": False,
        "destination": {
            "destinationType": "APP_STORE_PRODUCT_PAGE",
            "parameters": {"adamId": ADAM_ID},
        },
    }


# Resource name -> (the simulator's entity kind, the view of one row).
_RESOURCES: dict[str, tuple[SimKind, Callable[[Market, AppleState, int], dict[str, Any]]]] = {
    "campaigns": ("campaign", campaign_json),
    "adgroups": ("adset", adgroup_json),
    "ads": ("ad", ad_json),
    "creatives": ("creative", creative_json),
}


def view_all(m: Market, state: AppleState, resource: str) -> list[dict[str, Any]]:
    """Every entity of a resource (`campaigns`, `adgroups`, `ads`, `creatives`), deleted too."""
    kind, view = _RESOURCES[resource]
    rows = len(getattr(m, f"{kind}s").id)
    return [view(m, state, i) for i in range(rows)]


def view_one(m: Market, state: AppleState, resource: str, entity_id: str) -> dict[str, Any] | None:
    """One entity by id (None when the account has no such entity)."""
    kind, view = _RESOURCES[resource]
    if not m.has(kind, entity_id):
        return None
    return view(m, state, m.index_of(kind, entity_id))


# ---------------------------------------------------------------------------- query engine


def _norm(value: Any, ignore_case: bool) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return text.lower() if ignore_case else text


def _matches(item: Mapping[str, Any], f: Mapping[str, Any]) -> bool:
    field = str(f.get("field") or "")
    if field not in item:
        raise invalid(f"Unknown filter field '{field}'", "INVALID_FILTER", field)
    op = str(f.get("operator") or "EQUALS").upper()
    raw = f.get("value", f.get("values"))
    ignore = bool(f.get("ignoreCase"))
    actual = _norm(item[field], ignore)
    values = raw if isinstance(raw, list) else [raw]
    wanted = {_norm(v, ignore) for v in values}
    if op == "EQUALS":
        if isinstance(raw, list):
            raise invalid("EQUALS takes one value", "INVALID_FILTER", field)
        return actual in wanted
    if op == "IN":
        return actual in wanted
    if op == "NOT_EQUALS":
        return actual not in wanted
    if op == "CONTAINS":
        return any(w in actual for w in wanted)
    raise invalid(f"Unsupported operator '{op}'", "INVALID_FILTER", field)


def paging(body: Mapping[str, Any]) -> tuple[int, int, bool]:
    page = body.get("pagination") or {}
    if not isinstance(page, Mapping):
        raise invalid("pagination must be an object", "INVALID_PAGINATION", "pagination")
    try:
        offset = int(page.get("offset", 0))
        size = int(page.get("pageSize", DEFAULT_PAGE_SIZE))
    except (TypeError, ValueError):
        raise invalid("offset and pageSize must be integers", "INVALID_PAGINATION") from None
    if offset < 0 or size < 1 or size > MAX_PAGE_SIZE:
        raise invalid(
            f"pageSize must be between 1 and {MAX_PAGE_SIZE}", "INVALID_PAGINATION", "pageSize"
        )
    return offset, size, bool(page.get("fetchTotalCount"))


def run_query(
    items: list[dict[str, Any]],
    body: Mapping[str, Any],
    *,
    page_cap: int | None = None,
    omit_total: bool = False,
) -> dict[str, Any]:
    """Filter, sort, page and project like Apple's `POST /v1/<entity>/query`."""
    if not isinstance(body, Mapping):
        raise ApiFailure(400, "bad_request", "The request body must be a JSON object")
    filters = body.get("filters") or []
    if not isinstance(filters, list):
        raise invalid("filters must be a list", "INVALID_FILTER", "filters")
    if not any(str(f.get("field")) == "deleted" for f in filters if isinstance(f, Mapping)):
        # Deleted entities only show when a filter asks about them.
        items = [x for x in items if not x.get("deleted")]
    for f in filters:
        if not isinstance(f, Mapping):
            raise invalid("each filter must be an object", "INVALID_FILTER", "filters")
        items = [x for x in items if _matches(x, f)]
    for sort in reversed(body.get("sorting") or [{"field": "id", "order": "ASC"}]):
        key = str(sort.get("field") or "id")
        items.sort(
            key=lambda x: (x.get(key) is None, x.get(key)),
            reverse=str(sort.get("order", "ASC")).upper() == "DESC",
        )
    offset, size, total = paging(body)
    size = min(size, page_cap) if page_cap else size
    total = total and not omit_total
    page = items[offset : offset + size]
    fields = body.get("fields")
    if fields:
        keep = {"id", *map(str, fields)}
        page = [{k: v for k, v in x.items() if k in keep} for x in page]
    pagination: dict[str, Any] = {"offset": offset, "pageSize": size}
    if total:
        pagination["totalCount"] = len(items)
    return {"result": page, "pagination": pagination}
