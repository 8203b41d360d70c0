"""The fake TikTok's writes: statuses, budgets, targeting and dayparting, ads created and updated.

Each handler validates the whole request before changing anything (a refused call changes
nothing), except that `allow_partial_success` applies the good ids and lists the others in
`error_list` with code 20001.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from adpilot.fakes.tiktok.entities import (
    ad_item,
    adgroup_item,
    campaign_item,
    default_ad_fields,
)
from adpilot.fakes.tiktok.state import FakeState
from adpilot.fakes.tiktok.wire import (
    STATUS_NAMES,
    ApiError,
    id_list,
    invalid,
    is_number,
)
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.tiktok.mapping import LOCATION_COUNTRIES, hours
from adpilot.sim.market import Market, SimError
from adpilot.sim.tables import DELETED

# (code, message, data): what a handler answers.
Result = tuple[int, str, dict[str, Any]]
STATUS_IDS_MAX = 20
CREATIVES_MAX = 20
CREATIVE_REQUIRED = ("ad_name", "ad_format", "identity_type", "identity_id", "ad_text")
PATCHABLE = frozenset(
    {
        "ad_id",
        "ad_name",
        "identity_id",
        "identity_type",
        "identity_authorized_bc_id",
        "video_id",
        "image_ids",
        "music_id",
        "tiktok_item_id",
        "ad_text",
    }
)
TABLES = {"ad": "ads", "adgroup": "adsets", "campaign": "campaigns"}
SIM_KINDS = {"ad": "ad", "adgroup": "adset", "campaign": "campaign"}


@contextmanager
def _as_tiktok_refusal() -> Iterator[None]:
    """A change the market refuses (SimError) answered as TikTok's code."""
    try:
        yield
    except SimError as exc:
        raise ApiError(40007 if exc.kind == "not_found" else 40002, exc.message) from None


def _required_id(body: dict[str, Any], key: str) -> str:
    value = str(body.get(key) or "")
    if not value:
        raise invalid(f"{key}: required")
    return value


def _index(m: Market, entity: str, external_id: str) -> int:
    try:
        return m.index_of(SIM_KINDS[entity], external_id)  # type: ignore[arg-type]
    except SimError:
        raise ApiError(40007, f"{entity}_id {external_id} does not exist") from None


def _live(m: Market, entity: str, external_id: str) -> int:
    i = _index(m, entity, external_id)
    if int(getattr(m, TABLES[entity]).status[i]) == DELETED:
        raise invalid(f"{entity}_id {external_id} has been deleted and cannot be modified")
    return i


def status_update(
    entity: str, world: FakeWorld, state: FakeState, advertiser_id: str, body: dict[str, Any]
) -> Result:
    """`/ad/status/update/`, `/adgroup/status/update/`, `/campaign/status/update/`."""
    key = f"{entity}_ids"
    ids = id_list(body.get(key), key, STATUS_IDS_MAX)
    if not ids:
        raise invalid(f"{key}: at least one id is required")
    wanted = str(body.get("operation_status") or "")
    if wanted not in STATUS_NAMES:
        raise invalid("operation_status: must be ENABLE, DISABLE or DELETE")
    partial = bool(body.get("allow_partial_success"))
    now = world.clock()
    errors: list[dict[str, Any]] = []
    done: list[str] = []
    with world.lock:
        m = world.market(advertiser_id)
        checked: list[str] = []
        for external_id in ids:
            try:
                i = _index(m, entity, external_id)
                if int(getattr(m, TABLES[entity]).status[i]) == DELETED and wanted != "DELETE":
                    raise invalid(
                        f"{entity}_id {external_id} has been deleted and cannot be changed"
                    )
                checked.append(external_id)
            except ApiError as exc:
                if not partial:
                    raise
                errors.append({f"{entity}_id": external_id, "error_message": exc.message})
        for external_id in checked:
            m.set_status(SIM_KINDS[entity], external_id, STATUS_NAMES[wanted], now)  # type: ignore[arg-type]
            done.append(external_id)
        if done:
            state.bump(advertiser_id)
    data: dict[str, Any] = {key: done, "status": wanted}
    if errors:
        data["error_list"] = errors
        return 20001, "Partially successful.", data
    return 0, "OK", data


def partial_failure(entity: str, body: dict[str, Any], message: str) -> Result:
    """An injected partial failure: every id of the request refused in `error_list`."""
    key = f"{entity}_ids"
    ids = [str(x) for x in body.get(key) or []]
    errors = [{f"{entity}_id": x, "error_message": message} for x in ids]
    return 20001, "Partially successful.", {key: [], "error_list": errors}


def _budget_cents(value: Any, what: str) -> int:
    if not is_number(value):
        raise invalid(f"{what}: must be a number")
    return round(float(value) * 100)


def _check_budget(m: Market, entity: str, external_id: str, cents: int) -> None:
    kind = SIM_KINDS[entity]
    _live(m, entity, external_id)
    profile = m.profile
    minimum = (
        profile.min_campaign_budget_cents if kind == "campaign" else profile.min_adset_budget_cents
    )
    if not m.budget_holder(kind, external_id):  # type: ignore[arg-type]
        if kind == "adset":
            raise invalid(
                f"adgroup_id {external_id}: the campaign uses budget optimization; "
                "set the budget on the campaign"
            )
        raise invalid(f"campaign_id {external_id}: budget optimization is off for this campaign")
    if cents < minimum:
        raise invalid(f"budget: must be at least {minimum / 100:.2f} {m.account.currency}")


def _set_budget(m: Market, entity: str, external_id: str, cents: int, now: dt.datetime) -> None:
    with _as_tiktok_refusal():
        m.set_daily_budget(SIM_KINDS[entity], external_id, cents, now)  # type: ignore[arg-type]


def adgroup_budget_update(
    world: FakeWorld, state: FakeState, advertiser_id: str, body: dict[str, Any]
) -> Result:
    entries = body.get("budget")
    if not isinstance(entries, list) or not entries:
        raise invalid("budget: a list of {adgroup_id, budget} is required")
    now = world.clock()
    with world.lock:
        m = world.market(advertiser_id)
        plan: list[tuple[str, int]] = []
        for n, entry in enumerate(entries):
            if not isinstance(entry, dict) or "adgroup_id" not in entry:
                raise invalid(f"budget[{n}].adgroup_id: required")
            external_id = str(entry["adgroup_id"])
            cents = _budget_cents(entry.get("budget"), f"budget[{n}].budget")
            _check_budget(m, "adgroup", external_id, cents)
            plan.append((external_id, cents))
        for external_id, cents in plan:
            _set_budget(m, "adgroup", external_id, cents, now)
        state.bump(advertiser_id)
    return 0, "OK", {}


def campaign_update(
    world: FakeWorld, state: FakeState, advertiser_id: str, body: dict[str, Any]
) -> Result:
    external_id = _required_id(body, "campaign_id")
    now = world.clock()
    with world.lock:
        m = world.market(advertiser_id)
        i = _live(m, "campaign", external_id)
        if "budget" in body:
            cents = _budget_cents(body["budget"], "budget")
            _check_budget(m, "campaign", external_id, cents)
            _set_budget(m, "campaign", external_id, cents, now)
        if body.get("campaign_name"):
            m.campaigns.name[i] = str(body["campaign_name"])
        state.bump(advertiser_id)
        return 0, "OK", campaign_item(m, i, advertiser_id)


def adgroup_update(
    world: FakeWorld, state: FakeState, advertiser_id: str, body: dict[str, Any]
) -> Result:
    """Only the fields sent change; a sent list replaces the old one."""
    external_id = _required_id(body, "adgroup_id")
    now = world.clock()
    with world.lock:
        m = world.market(advertiser_id)
        i = _live(m, "adgroup", external_id)
        changes: list[Callable[[], None]] = []
        if "location_ids" in body:
            ids = id_list(body["location_ids"], "location_ids", 3000)
            if not ids:
                raise invalid("location_ids: at least one location is required")
            if len(set(ids)) != len(ids):
                raise invalid("location_ids: locations must not overlap")
            unknown = [x for x in ids if LOCATION_COUNTRIES.get(x) not in m.countries]
            if unknown:
                raise invalid(f"location_ids: unsupported location {', '.join(unknown)}")
            geo = [LOCATION_COUNTRIES[x] for x in ids]
            changes.append(lambda: m.set_geo(external_id, geo, now))
        if "dayparting" in body:
            text = body["dayparting"]
            if not isinstance(text, str) or (text and (len(text) != 336 or set(text) - {"0", "1"})):
                raise invalid("dayparting: must be 336 characters of 0 and 1")
            on = hours(text)
            changes.append(lambda: m.set_dayparts(external_id, on, now))
        if body.get("adgroup_name"):
            name = str(body["adgroup_name"])
            changes.append(lambda: m.adsets.name.__setitem__(i, name))
        with _as_tiktok_refusal():
            for change in changes:
                change()
        state.bump(advertiser_id)
        return 0, "OK", adgroup_item(m, i, advertiser_id)


def _creatives(body: dict[str, Any]) -> list[dict[str, Any]]:
    creatives = body.get("creatives")
    if not isinstance(creatives, list) or not creatives:
        raise invalid("creatives: at least one creative is required")
    if len(creatives) > CREATIVES_MAX:
        raise ApiError(40011, f"creatives: at most {CREATIVES_MAX} per request")
    if not all(isinstance(c, dict) for c in creatives):
        raise invalid("creatives: each creative must be an object")
    return creatives


def _check_full_creative(creative: dict[str, Any], n: int) -> None:
    """TikTok validates the whole creative: everything an ad needs must be there."""
    for key in CREATIVE_REQUIRED:
        if not creative.get(key):
            raise invalid(f"creatives[{n}].{key}: required")
    if creative["ad_format"] != "SINGLE_VIDEO":
        raise invalid(f"creatives[{n}].ad_format: only SINGLE_VIDEO is supported here")
    if not creative.get("video_id"):
        raise invalid(f"creatives[{n}].video_id: required for SINGLE_VIDEO")


def _video(m: Market, creative: dict[str, Any], n: int) -> str:
    video = str(creative.get("video_id") or "")
    if not m.has("creative", video):
        raise ApiError(40007, f"creatives[{n}].video_id: video {video} does not exist")
    return video


def _fields_kept(creative: dict[str, Any]) -> dict[str, Any]:
    skip = {"ad_id", "ad_name", "ad_format", "video_id", "image_ids"}
    return {k: v for k, v in creative.items() if k not in skip}


def ad_create(
    world: FakeWorld, state: FakeState, advertiser_id: str, body: dict[str, Any]
) -> Result:
    adgroup_id = _required_id(body, "adgroup_id")
    creatives = _creatives(body)
    now = world.clock()
    with world.lock:
        m = world.market(advertiser_id)
        _live(m, "adgroup", adgroup_id)
        videos = []
        for n, creative in enumerate(creatives):
            _check_full_creative(creative, n)
            videos.append(_video(m, creative, n))
        created = []
        for creative, video in zip(creatives, videos, strict=True):
            with _as_tiktok_refusal():
                ad_id = m.push_creative(adgroup_id, video, now, name=str(creative["ad_name"]))
            state.ad_fields[ad_id] = _fields_kept(creative)
            created.append(ad_id)
        state.bump(advertiser_id)
    return 0, "OK", {"ad_ids": created}


def ad_update(
    world: FakeWorld, state: FakeState, advertiser_id: str, body: dict[str, Any]
) -> Result:
    adgroup_id = _required_id(body, "adgroup_id")
    creatives = _creatives(body)
    patch = bool(body.get("patch_update"))
    now = world.clock()
    with world.lock:
        m = world.market(advertiser_id)
        group = _live(m, "adgroup", adgroup_id)
        plan: list[tuple[int, dict[str, Any], str | None]] = []
        for n, creative in enumerate(creatives):
            ad_id = str(creative.get("ad_id") or "")
            if not ad_id:
                raise invalid(f"creatives[{n}].ad_id: required")
            a = _live(m, "ad", ad_id)
            if int(m.ads.adset[a]) != group:
                raise invalid(f"creatives[{n}].ad_id: ad {ad_id} is not in ad group {adgroup_id}")
            if patch:
                extra = sorted(set(creative) - PATCHABLE)
                if extra:
                    raise invalid(
                        f"creatives[{n}]: {', '.join(extra)} cannot be changed with patch_update"
                    )
            else:
                _check_full_creative(creative, n)
            video = _video(m, creative, n) if creative.get("video_id") else None
            plan.append((a, creative, video))
        for a, creative, video in plan:
            ad_id = m.ads.id[a]
            if video is not None and m.creatives.id[int(m.ads.creative[a])] != video:
                with _as_tiktok_refusal():
                    m.replace_creative(ad_id, video, now)
            if creative.get("ad_name"):
                m.ads.name[a] = str(creative["ad_name"])
            kept = state.ad_fields.get(ad_id) or default_ad_fields(advertiser_id, m.ads.name[a])
            state.ad_fields[ad_id] = {**kept, **_fields_kept(creative)}
        state.bump(advertiser_id)
        items = [ad_item(m, a, advertiser_id, state) for a, _c, _v in plan]
    return 0, "OK", {"ad_ids": [x["ad_id"] for x in items], "creatives": items}
