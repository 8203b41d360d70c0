"""HTTP routes of the entities domain: entity lists, metrics and the creative library (SPEC §7)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from adpilot import errors
from adpilot.deps import (
    AnyPrincipal,
    ContentBody,
    Ctx,
    ReadSession,
    visible_project,
    write_change,
)
from adpilot.entities import service
from adpilot.entities.schemas import (
    CONTENT_POOLS,
    ENTITY_STATUSES,
    GRANULARITIES,
    METRIC_SCOPES,
    METRICS,
    AdsContentCreate,
    AdsContentPatch,
)
from adpilot.kit.body import body_schema, parse_body
from adpilot.kit.clock import utcnow, within_calendar
from adpilot.kit.pagination import ListQuery, check_limit, multi_values
from adpilot.layers.models import Project
from adpilot.layers.schemas import PlatformSpelling

router = APIRouter(tags=["entities"])

ENTITY_DEFAULT_LIMIT = 100
PLATFORM_SPELLINGS: tuple[str, ...] = get_args(PlatformSpelling)

ReadableProject = Annotated[Project, Depends(visible_project("ads:read"))]
MultiQuery = Annotated[list[str] | None, Query()]
OneQuery = Annotated[str | None, Query()]
CampaignIdQuery = Annotated[
    list[str] | None, Query(alias="campaignId", description="One or many; repeat or comma-separate")
]
AdsetIdQuery = Annotated[
    list[str] | None, Query(alias="adsetId", description="One or many; repeat or comma-separate")
]
Limit = Annotated[int | None, Query()]
AdAccountIdQuery = Annotated[
    list[str] | None,
    Query(alias="adAccountId", description="One or many; repeat or comma-separate"),
]


def _entity_query(
    ctx: Ctx,
    project: Project,
    kind: str,
    filters: dict[str, Any],
    cursor: str | None,
    limit: int | None,
) -> ListQuery:
    return ListQuery(
        secret=ctx.settings.secret_key,
        scope=f"{project.id}:{kind}",
        filters=filters,
        cursor=cursor,
        limit=check_limit(limit, ENTITY_DEFAULT_LIMIT),
    )


def _filters(
    platforms: list[str] | None,
    status: list[str] | None,
    campaign_ids: list[str] | None = None,
    adset_ids: list[str] | None = None,
    ad_account_ids: list[str] | None = None,
) -> service.EntityFilters:
    return service.EntityFilters(
        platforms=tuple(
            service.platform_filter(multi_values(platforms, "platforms", PLATFORM_SPELLINGS))
        ),
        statuses=tuple(multi_values(status, "status", ENTITY_STATUSES)),
        campaign_ids=tuple(multi_values(campaign_ids, "campaignId")),
        adset_ids=tuple(multi_values(adset_ids, "adsetId")),
        ad_account_ids=tuple(multi_values(ad_account_ids, "adAccountId")),
    )


def _binding(filters: service.EntityFilters) -> dict[str, Any]:
    """What a cursor is bound to."""
    return {
        "platforms": list(filters.platforms),
        "status": list(filters.statuses),
        "campaignId": list(filters.campaign_ids),
        "adsetId": list(filters.adset_ids),
        "adAccountId": list(filters.ad_account_ids),
    }


@router.get("/v1/projects/{projectId}/ads/campaigns")
def list_campaigns(
    ctx: Ctx,
    session: ReadSession,
    project: ReadableProject,
    platforms: MultiQuery = None,
    status: MultiQuery = None,
    campaign_id: CampaignIdQuery = None,
    ad_account_id: AdAccountIdQuery = None,
    cursor: OneQuery = None,
    limit: Limit = None,
) -> dict[str, Any]:
    filters = _filters(platforms, status, campaign_id, None, ad_account_id)
    query = _entity_query(ctx, project, "campaigns", _binding(filters), cursor, limit)
    return service.list_campaigns(session, project, query, filters).as_dict()


@router.get("/v1/projects/{projectId}/ads/adsets")
def list_adsets(
    ctx: Ctx,
    session: ReadSession,
    project: ReadableProject,
    platforms: MultiQuery = None,
    status: MultiQuery = None,
    campaign_id: CampaignIdQuery = None,
    adset_id: AdsetIdQuery = None,
    ad_account_id: AdAccountIdQuery = None,
    cursor: OneQuery = None,
    limit: Limit = None,
) -> dict[str, Any]:
    filters = _filters(platforms, status, campaign_id, adset_id, ad_account_id)
    query = _entity_query(ctx, project, "adsets", _binding(filters), cursor, limit)
    return service.list_adsets(session, project, query, filters).as_dict()


@router.get("/v1/projects/{projectId}/ads/ads")
def list_ads(
    ctx: Ctx,
    session: ReadSession,
    project: ReadableProject,
    platforms: MultiQuery = None,
    status: MultiQuery = None,
    campaign_id: CampaignIdQuery = None,
    adset_id: AdsetIdQuery = None,
    ad_account_id: AdAccountIdQuery = None,
    cursor: OneQuery = None,
    limit: Limit = None,
) -> dict[str, Any]:
    filters = _filters(platforms, status, campaign_id, adset_id, ad_account_id)
    query = _entity_query(ctx, project, "ads", _binding(filters), cursor, limit)
    return service.list_ads(session, project, query, filters).as_dict()


def _one_of(value: str | None, field: str, allowed: tuple[str, ...], default: str | None) -> str:
    if value is None:
        if default is None:
            raise errors.validation(field, "is required")
        return default
    if value not in allowed:
        raise errors.validation(field, f"must be one of {', '.join(allowed)}")
    return value


def _date(value: str | None, field: str) -> dt.date | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise errors.validation(field, "must be a date, YYYY-MM-DD") from None
    if not within_calendar(day):
        raise errors.validation(field, "must be between 1970-01-01 and 2999-12-31")
    return day


@router.get("/v1/projects/{projectId}/ads-metrics")
def ads_metrics(
    session: ReadSession,
    project: ReadableProject,
    scope: OneQuery = None,
    entity_id: Annotated[str | None, Query(alias="id")] = None,
    metrics: MultiQuery = None,
    metrics_brackets: Annotated[list[str] | None, Query(alias="metrics[]")] = None,
    since: OneQuery = None,
    until: OneQuery = None,
    granularity: OneQuery = None,
) -> dict[str, Any]:
    chosen_scope = _one_of(scope, "scope", METRIC_SCOPES, None)
    if not entity_id:
        raise errors.validation("id", "is required")
    # `metrics[]=…` is how some clients spell a repeated parameter; both spellings are accepted.
    given = [*(metrics or []), *(metrics_brackets or [])]
    names = multi_values(given, "metrics", METRICS) or list(METRICS)
    first, last = service.metrics_window(
        _date(since, "since"), _date(until, "until"), utcnow().date()
    )
    return service.metrics_series(
        session,
        project,
        scope=chosen_scope,
        entity_id=entity_id,
        metrics=[m for m in METRICS if m in names],
        since=first,
        until=last,
        granularity=_one_of(granularity, "granularity", GRANULARITIES, "day"),
    )


# --- Creative library ----------------------------------------------------------------------------


@router.post(
    "/v1/projects/{projectId}/ads-content",
    status_code=201,
    openapi_extra=body_schema(AdsContentCreate),
)
def create_ads_content(
    request: Request,
    ctx: Ctx,
    raw: ContentBody,
    project: Annotated[Project, Depends(visible_project("ads:write:creative"))],
    principal: AnyPrincipal,
) -> Response:
    body = parse_body(AdsContentCreate, raw)
    return write_change(
        request, ctx, principal, raw, service.create_content, project, body, status=201
    )


@router.get("/v1/projects/{projectId}/ads-content")
def list_ads_content(
    ctx: Ctx,
    session: ReadSession,
    project: ReadableProject,
    pool: MultiQuery = None,
    cursor: OneQuery = None,
    limit: Limit = None,
) -> dict[str, Any]:
    pools = multi_values(pool, "pool", CONTENT_POOLS)
    query = ListQuery(
        secret=ctx.settings.secret_key,
        scope=f"{project.id}:ads-content",
        filters={"pool": pools},
        cursor=cursor,
        limit=check_limit(limit),
    )
    return service.list_content(session, project, query, pools=pools).as_dict()


@router.patch(
    "/v1/projects/{projectId}/ads-content/{adsContentId}",
    openapi_extra=body_schema(AdsContentPatch),
)
def patch_ads_content(
    request: Request,
    ctx: Ctx,
    raw: ContentBody,
    session: ReadSession,
    project: Annotated[Project, Depends(visible_project("ads:write:creative"))],
    principal: AnyPrincipal,
    content_id: Annotated[str, Path(alias="adsContentId")],
) -> Response:
    service.find_content(session, project, content_id)
    session.commit()  # end the read: on SQLite it holds the lock our write transaction needs
    body = parse_body(AdsContentPatch, raw)
    return write_change(
        request, ctx, principal, raw, service.set_content_override, project, content_id, body
    )
