"""The fake TikTok's reads of advertisers, campaigns, ad groups and ads, from the market."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from adpilot.fakes.tiktok.state import FakeState
from adpilot.fakes.tiktok.wire import (
    id_list,
    invalid,
    json_param,
    operation_status,
    page_of,
    paging,
    when,
)
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.tiktok.requests import (
    COUNTRY_LOCATION_IDS,
    budget_major_units,
    dayparting,
)
from adpilot.sim import reports
from adpilot.sim.market import Market
from adpilot.sim.tables import ACTIVE, DELETED, PAUSED

PRIMARY_STATUSES = {
    "STATUS_ALL": {ACTIVE, PAUSED, DELETED},
    "STATUS_NOT_DELETE": {ACTIVE, PAUSED},
    "STATUS_DELETE": {DELETED},
    "STATUS_DELIVERY_OK": {ACTIVE},
    "STATUS_DISABLE": {PAUSED},
}


def dayparting_of(hours: np.ndarray) -> str:
    """The ad group's `dayparting`; always-on is sent as an empty string."""
    if bool(np.all(hours)):
        return ""
    return dayparting(np.flatnonzero(hours).tolist())


def default_ad_fields(advertiser_id: str, name: str) -> dict[str, Any]:
    return {
        "identity_type": "CUSTOMIZED_USER",
        "identity_id": f"{advertiser_id[-6:]}0001",
        "ad_text": name,
        "call_to_action": "DOWNLOAD_NOW",
    }


def advertiser_item(m: Market, advertiser_id: str, currency: str) -> dict[str, Any]:
    return {
        "advertiser_id": advertiser_id,
        "name": m.account.name,
        "currency": currency,
        "timezone": m.account.timezone,
        "display_timezone": m.account.timezone,
        "status": "STATUS_ENABLE",
        "role": "ROLE_ADVERTISER",
        "country": "US",
        "create_time": "2024-01-15 09:00:00",
    }


def campaign_item(m: Market, i: int, advertiser_id: str) -> dict[str, Any]:
    c = m.campaigns
    code = int(c.status[i])
    cbo = bool(c.cbo[i])
    suffix = {ACTIVE: "ENABLE", PAUSED: "DISABLE", DELETED: "DELETE"}[code]
    return {
        "advertiser_id": advertiser_id,
        "campaign_id": c.id[i],
        "campaign_name": c.name[i],
        "objective_type": "APP_PROMOTION",
        "operation_status": operation_status(code),
        "secondary_status": f"CAMPAIGN_STATUS_{suffix}",
        "budget_mode": "BUDGET_MODE_DAY" if cbo else "BUDGET_MODE_INFINITE",
        "budget": budget_major_units(int(c.budget[i])) if cbo else 0.0,
        "budget_optimize_on": cbo,
        "create_time": when(c.created[i]),
        "modify_time": when(c.created[i]),
    }


def adgroup_item(m: Market, i: int, advertiser_id: str) -> dict[str, Any]:
    s = m.adsets
    code = int(s.status[i])
    campaign = int(s.campaign[i])
    cbo = bool(m.campaigns.cbo[campaign])
    if code == DELETED:
        secondary = "ADGROUP_STATUS_DELETE"
    elif code == PAUSED:
        secondary = "ADGROUP_STATUS_DISABLE"
    elif int(m.campaigns.status[campaign]) != ACTIVE:
        secondary = "ADGROUP_STATUS_CAMPAIGN_DISABLE"
    elif reports.adset_learning(m, i) == "learning":
        secondary = "ADGROUP_STATUS_LEARNING"
    else:
        secondary = "ADGROUP_STATUS_DELIVERY_OK"
    countries = [g for g, on in zip(m.countries, s.geo[i], strict=True) if on]
    return {
        "advertiser_id": advertiser_id,
        "campaign_id": m.campaigns.id[campaign],
        "adgroup_id": s.id[i],
        "adgroup_name": s.name[i],
        "operation_status": operation_status(code),
        "secondary_status": secondary,
        # Under campaign budget optimisation the ad group has no budget of its own.
        "budget_mode": "BUDGET_MODE_INFINITE" if cbo else "BUDGET_MODE_DAY",
        "budget": 0.0 if cbo else budget_major_units(int(s.budget[i])),
        "schedule_type": "SCHEDULE_FROM_NOW",
        "schedule_start_time": when(s.created[i]),
        "schedule_end_time": None,
        "dayparting": dayparting_of(s.hours[i]),
        "location_ids": [COUNTRY_LOCATION_IDS.get(g, g) for g in countries],
        "age_groups": ["AGE_18_24", "AGE_25_34", "AGE_35_44"],
        "gender": "GENDER_UNLIMITED",
        "placement_type": "PLACEMENT_TYPE_AUTOMATIC",
        "optimization_goal": "INSTALL",
        "billing_event": "OCPM",
        "bid_type": "BID_TYPE_NO_BID",
        "pacing": "PACING_MODE_SMOOTH",
        "create_time": when(s.created[i]),
        "modify_time": when(s.created[i]),
    }


def ad_item(m: Market, i: int, advertiser_id: str, state: FakeState) -> dict[str, Any]:
    a = m.ads
    code = int(a.status[i])
    suffix = {ACTIVE: "DELIVERY_OK", PAUSED: "DISABLE", DELETED: "DELETE"}[code]
    adset = int(a.adset[i])
    extra = state.ad_fields.get(a.id[i]) or default_ad_fields(advertiser_id, a.name[i])
    return {
        "advertiser_id": advertiser_id,
        "campaign_id": m.campaigns.id[int(m.adsets.campaign[adset])],
        "adgroup_id": m.adsets.id[adset],
        "ad_id": a.id[i],
        "ad_name": a.name[i],
        "operation_status": operation_status(code),
        "secondary_status": f"AD_STATUS_{suffix}",
        "ad_format": "SINGLE_VIDEO",
        "video_id": m.creatives.id[int(a.creative[i])],
        "image_ids": [],
        **extra,
        "create_time": when(a.created[i]),
        "modify_time": when(a.created[i]),
    }


def advertiser_info(world: FakeWorld, state: FakeState, params: dict[str, Any]) -> Any:
    ids = id_list(json_param(params, "advertiser_ids", []), "advertiser_ids")
    if not ids:
        raise invalid("advertiser_ids: required")
    fields = json_param(params, "fields")
    items = []
    with world.lock:
        for advertiser_id in ids:
            item = advertiser_item(
                world.market(advertiser_id), advertiser_id, state.config.currency
            )
            items.append({k: v for k, v in item.items() if not fields or k in fields})
    return {"list": items}


_LISTINGS: dict[str, tuple[str, str]] = {
    # entity: (market table, id field)
    "campaign": ("campaigns", "campaign_id"),
    "adgroup": ("adsets", "adgroup_id"),
    "ad": ("ads", "ad_id"),
}


def _ids(m: Market, entity: str, i: int) -> dict[str, str]:
    """A row's own id and its parents' ids: what the `*_ids` filters match."""
    if entity == "campaign":
        return {"campaign_id": m.campaigns.id[i]}
    adset = i if entity == "adgroup" else int(m.ads.adset[i])
    ids = {
        "campaign_id": m.campaigns.id[int(m.adsets.campaign[adset])],
        "adgroup_id": m.adsets.id[adset],
    }
    if entity == "ad":
        ids["ad_id"] = m.ads.id[i]
    return ids


def listing(
    entity: str, world: FakeWorld, state: FakeState, advertiser_id: str, params: dict[str, Any]
) -> Any:
    """`/campaign/get/`, `/adgroup/get/`, `/ad/get/`: filtered, paged, optional `fields`."""
    page, size = paging(params)
    filtering = json_param(params, "filtering", {}) or {}
    if not isinstance(filtering, dict):
        raise invalid("filtering: must be a JSON object")
    fields = json_param(params, "fields")
    if fields is not None and not isinstance(fields, list):
        raise invalid("fields: must be a JSON list")
    wanted_status = str(filtering.get("primary_status") or "STATUS_NOT_DELETE")
    if wanted_status not in PRIMARY_STATUSES:
        raise invalid(f"filtering.primary_status: unknown value {wanted_status}")
    by_ids = {
        key[:-1]: set(id_list(filtering[key], f"filtering.{key}"))
        for key in ("campaign_ids", "adgroup_ids", "ad_ids")
        if filtering.get(key) is not None
    }
    table_name, id_field = _LISTINGS[entity]
    build: Callable[[Market, int], dict[str, Any]]
    if entity == "campaign":
        build = lambda m, i: campaign_item(m, i, advertiser_id)  # noqa: E731
    elif entity == "adgroup":
        build = lambda m, i: adgroup_item(m, i, advertiser_id)  # noqa: E731
    else:
        build = lambda m, i: ad_item(m, i, advertiser_id, state)  # noqa: E731
    with world.lock:
        m = world.market(advertiser_id)
        table = getattr(m, table_name)
        items = []
        for i in range(len(table.id)):
            if int(table.status[i]) not in PRIMARY_STATUSES[wanted_status]:
                continue
            if by_ids:
                ids = _ids(m, entity, i)
                if any(ids.get(field) not in allowed for field, allowed in by_ids.items()):
                    continue
            items.append(build(m, i))
    items.sort(key=lambda x: (x["create_time"], x[id_field]))
    if fields:
        items = [{k: v for k, v in item.items() if k in fields} for item in items]
    return page_of(items, page, size)
