"""HTTP routes of pending actions: list, count, one row, approve, reject (SPEC §6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from adpilot import errors
from adpilot.auth.service import Principal
from adpilot.db import read_session
from adpilot.deps import AnyPrincipal, AppContext, Ctx, RawBody, visible_project, write_change
from adpilot.kit.body import body_schema, parse_body
from adpilot.kit.clock import utcnow
from adpilot.kit.jsonresp import dumps
from adpilot.kit.pagination import check_limit, multi_values
from adpilot.kit.platform_names import path_platform
from adpilot.layers.models import Project
from adpilot.outcomes.views import row_outcomes
from adpilot.pending import expiry, service
from adpilot.pending.schemas import (
    ApproveBody,
    ApproveOut,
    PendingActionOut,
    PendingCount,
    PendingPage,
    RejectBody,
    RejectOut,
)
from adpilot.platforms.base import ACTION_TYPES, DIRECT_ACTION_TYPES

router = APIRouter(tags=["pending actions"])

BASE = "/v1/projects/{projectId}/ads/{platform}/pending"
ReadProject = Annotated[Project, Depends(visible_project("ads:read"))]
WriteProject = Annotated[Project, Depends(visible_project("ads:write:pending"))]


def _filters(
    status: list[str] | None, action_type: list[str] | None, run_id: list[str] | None
) -> service.ListFilters:
    statuses = multi_values(status, "status", service.STATUSES) or ["pending"]
    return service.ListFilters(
        statuses=tuple(statuses),
        action_types=tuple(
            multi_values(action_type, "actionType", [*ACTION_TYPES, *DIRECT_ACTION_TYPES])
        ),
        run_ids=tuple(multi_values(run_id, "runId")),
    )


def _json(body: Any) -> Response:
    return Response(dumps(body), media_type="application/json")


StatusQuery = Annotated[
    list[str] | None,
    Query(description="One or many statuses; repeat the parameter or comma-separate"),
]
ActionTypeQuery = Annotated[
    list[str] | None, Query(alias="actionType", description="One or many of the eight action types")
]
RunIdQuery = Annotated[list[str] | None, Query(alias="runId", description="One or many run ids")]


@router.get(BASE, response_model=PendingPage, summary="Pending actions, newest first")
def list_pending(
    ctx: Ctx,
    project: ReadProject,
    platform: str,
    status: StatusQuery = None,
    action_type: ActionTypeQuery = None,
    run_id: RunIdQuery = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Response:
    short = path_platform(platform)
    filters = _filters(status, action_type, run_id)
    size = check_limit(limit)
    with read_session(ctx.session_factory) as session:
        page = service.list_page(
            session,
            secret=ctx.settings.secret_key,
            project_id=project.id,
            platform=short,
            filters=filters,
            cursor=cursor,
            limit=size,
        )
    return _json(page)


@router.get(f"{BASE}/count", response_model=PendingCount, summary="How many pending actions match")
def count_pending(
    ctx: Ctx,
    project: ReadProject,
    platform: str,
    status: StatusQuery = None,
    action_type: ActionTypeQuery = None,
    run_id: RunIdQuery = None,
) -> Response:
    short = path_platform(platform)
    filters = _filters(status, action_type, run_id)
    with read_session(ctx.session_factory) as session:
        n = service.count(session, project_id=project.id, platform=short, filters=filters)
    return _json({"count": n})


@router.get(f"{BASE}/{{pendingId}}", response_model=PendingActionOut, summary="One pending action")
def get_pending(ctx: Ctx, project: ReadProject, platform: str, pendingId: str) -> Response:
    short = path_platform(platform)
    with read_session(ctx.session_factory) as session:
        row = service.get_action(
            session, project_id=project.id, platform=short, pending_id=pendingId
        )
        return _json(service.to_api(row, utcnow(), row_outcomes(session, [row.id]).get(row.id)))


def _decidable_row(ctx: AppContext, project_id: str, platform: str, pending_id: str) -> str:
    """The path's short platform, once the row is known: a 404 for an unknown row (or one under
    another platform) comes before the body is looked at."""
    short = path_platform(platform)
    with read_session(ctx.session_factory) as session:
        service.get_action(session, project_id=project_id, platform=short, pending_id=pending_id)
    return short


def _decide(
    request: Request,
    ctx: AppContext,
    principal: Principal,
    raw: bytes,
    decide: Callable[..., dict[str, Any]],
    *,
    project_id: str,
    platform: str,
    pending_id: str,
    **given: Any,
) -> Response:
    """Approve or reject in the request's write; a row found overdue then is marked expired."""
    try:
        response: Response = write_change(
            request,
            ctx,
            principal,
            raw,
            decide,
            project_id=project_id,
            platform=platform,
            pending_id=pending_id,
            **given,
        )
    except errors.ApiError as err:
        if (err.details or {}).get("subcode") == "EXPIRED":
            # The row ran out before the sweep came by: a decision is a write, so it records the
            # expiry at once (reads only show it).
            expiry.expire_scope(ctx, project_id, platform)
        raise
    return response


@router.post(
    f"{BASE}/{{pendingId}}/approve",
    openapi_extra=body_schema(ApproveBody),
    response_model=ApproveOut,
    summary="Approve a pending action; its dispatch is queued at once",
)
def approve(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    project: WriteProject,
    principal: AnyPrincipal,
    platform: str,
    pendingId: str,
) -> Response:
    short = _decidable_row(ctx, project.id, platform, pendingId)
    body = parse_body(ApproveBody, raw, allow_empty=True)
    return _decide(
        request,
        ctx,
        principal,
        raw,
        service.approve,
        project_id=project.id,
        platform=short,
        pending_id=pendingId,
        comment=body.comment,
    )


@router.post(
    f"{BASE}/{{pendingId}}/reject",
    openapi_extra=body_schema(RejectBody),
    response_model=RejectOut,
    summary="Reject a pending action with a reason",
)
def reject(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    project: WriteProject,
    principal: AnyPrincipal,
    platform: str,
    pendingId: str,
) -> Response:
    short = _decidable_row(ctx, project.id, platform, pendingId)
    body = parse_body(RejectBody, raw)
    return _decide(
        request,
        ctx,
        principal,
        raw,
        service.reject,
        project_id=project.id,
        platform=short,
        pending_id=pendingId,
        reason=body.reason,
    )
