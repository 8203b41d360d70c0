"""The fake Apple Ads API's resources: which handler answers which method and path."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from adpilot.fakes.apple import mutations, reports
from adpilot.fakes.apple.errors import ApiFailure, invalid, not_found
from adpilot.fakes.apple.state import AppleState, geo_id, geo_name, state_of
from adpilot.fakes.apple.views import run_query, view_all, view_one
from adpilot.fakes.world import FakeWorld
from adpilot.sim.market import Market

_ENTITY_KINDS = {
    "campaigns": "campaign",
    "adgroups": "adgroup",
    "ads": "ad",
    "creatives": "creative",
}


class ApiCall:
    """One API request being answered: its world, account and parsed body."""

    def __init__(self, world: FakeWorld, request: Request, body: Any) -> None:
        self.world = world
        self.state: AppleState = state_of(world)
        self.request = request
        self.method = request.method.upper()
        self.path = request.url.path
        self.body = body
        self.account_id: str | None = None

    @property
    def market(self) -> Market:
        assert self.account_id is not None
        return self.world.market(self.account_id)


_Handler = Callable[[ApiCall, re.Match[str]], tuple[int, Any]]


def route(call: ApiCall) -> tuple[int, Any]:
    for method, pattern, handler in _ROUTES:
        if method == call.method:
            found = pattern.match(call.path)
            if found is not None:
                return handler(call, found)
    raise ApiFailure(404, "not_found", f"No resource at {call.method} {call.path}")


def _me(call: ApiCall, _: re.Match[str]) -> tuple[int, Any]:
    return 200, {"result": {"userId": 1, "parentOrgId": 1}}


def _acls(call: ApiCall, _: re.Match[str]) -> tuple[int, Any]:
    auth = call.request.headers.get("authorization", "")[7:].strip()
    token = call.world.tokens.get(auth)
    accounts = sorted(token.accounts or []) if token is not None else []
    acls = [
        {
            "adAccount": {"id": int(a), "name": call.world.market(a).account.name, "orgId": 1},
            "roles": ["API Account Manager"],
        }
        for a in accounts
    ]
    return 200, {"result": {"acls": acls}}


def _account(call: ApiCall, found: re.Match[str]) -> tuple[int, Any]:
    if found.group(1) != call.account_id:
        raise ApiFailure(403, "forbidden", "X-AP-Context names another ad account")
    info = call.market.account
    return 200, {
        "result": {
            "id": int(info.external_id),
            "name": info.name,
            "orgId": 1,
            "currency": info.currency,
            "timezone": info.timezone,
            "status": "ACTIVE",
        }
    }


def _query(call: ApiCall, found: re.Match[str]) -> tuple[int, Any]:
    items = view_all(call.market, call.state, found.group(1))
    body = call.body if call.body is not None else {}
    cap, omit = call.state.page_cap, call.state.omit_total_count
    return 200, run_query(items, body, page_cap=cap, omit_total=omit)


def _get(call: ApiCall, found: re.Match[str]) -> tuple[int, Any]:
    item = view_one(call.market, call.state, found.group(1), found.group(2))
    if item is None:
        raise not_found(_ENTITY_KINDS[found.group(1)], found.group(2))
    return 200, {"result": item}


def _put(call: ApiCall, found: re.Match[str]) -> tuple[int, Any]:
    update = {
        "campaigns": mutations.update_campaign,
        "adgroups": mutations.update_adgroup,
        "ads": mutations.update_ad,
    }[found.group(1)]
    return 200, {"result": update(call.market, call.state, found.group(2), call.body, _now(call))}


def _create_ad(call: ApiCall, _: re.Match[str]) -> tuple[int, Any]:
    return 201, {"result": mutations.create_ad(call.market, call.state, call.body, _now(call))}


def _delete(call: ApiCall, found: re.Match[str]) -> tuple[int, Any]:
    kind = _ENTITY_KINDS[found.group(1)]
    mutations.delete(call.market, call.state, kind, found.group(2), _now(call))
    return 200, {}


def _report(call: ApiCall, found: re.Match[str]) -> tuple[int, Any]:
    return 200, reports.report(call.market, call.state, found.group(1), call.body)


def _geo(call: ApiCall, _: re.Match[str]) -> tuple[int, Any]:
    if call.request.query_params.get("supplySource") not in ("APPSTORE", "MAPS"):
        raise invalid("supplySource is required", "MISSING_FIELD", "supplySource")
    countries = call.market.countries
    wanted: list[str] = list(countries)
    if call.method == "POST":
        if not isinstance(call.body, list):
            raise invalid("the body must be a list of geo requests", "INVALID_GEO")
        by_id = {geo_id(c): c for c in countries}
        wanted = []
        for item in call.body:
            if not isinstance(item, dict) or str(item.get("entity", "")).lower() != "country":
                continue
            iso = by_id.get(str(item.get("id"))) or str(item.get("legacyId") or "").upper()
            if iso in countries and iso not in wanted:
                wanted.append(iso)
    else:
        text = str(call.request.query_params.get("query") or "").lower()
        if text not in ("", "*"):
            wanted = [c for c in countries if text in geo_name(c).lower() or text == c.lower()]
    result = [
        {
            "id": geo_id(iso),
            "legacyId": iso,
            "entity": "Country",
            "displayName": geo_name(iso),
            "countryOrRegion": iso,
        }
        for iso in sorted(wanted, key=geo_name)
    ]
    return 200, {
        "result": result,
        "pagination": {"offset": 0, "pageSize": len(result), "totalCount": len(result)},
    }


def _now(call: ApiCall) -> Any:
    return call.world.clock()


_ENTITIES = "(campaigns|adgroups|ads|creatives)"
_ROUTES: list[tuple[str, re.Pattern[str], _Handler]] = [
    ("GET", re.compile(r"^/v1/me$"), _me),
    ("GET", re.compile(r"^/v1/acls$"), _acls),
    ("GET", re.compile(r"^/v1/ad-accounts/(\d+)$"), _account),
    ("POST", re.compile(rf"^/v1/{_ENTITIES}/query$"), _query),
    ("GET", re.compile(rf"^/v1/{_ENTITIES}/(\d+)$"), _get),
    ("PUT", re.compile(r"^/v1/(campaigns|adgroups|ads)/(\d+)$"), _put),
    ("POST", re.compile(r"^/v1/ads$"), _create_ad),
    ("DELETE", re.compile(r"^/v1/(campaigns|adgroups|ads)/(\d+)$"), _delete),
    ("POST", re.compile(r"^/v1/reports/apps/(\w+)/query$"), _report),
    ("GET", re.compile(r"^/v1/search/geo$"), _geo),
    ("POST", re.compile(r"^/v1/search/geo$"), _geo),
]
