"""HTTP routes of the direct writes: budget, targeting, schedule, status and creative changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy.orm import Session

from adpilot.deps import AnyPrincipal, Ctx, RawBody, ReadSession, visible_project, write
from adpilot.kit.body import StrictBody, body_schema, parse_body
from adpilot.kit.idempotency import WriteResult
from adpilot.kit.platform_names import path_platform
from adpilot.kit.ratelimit import rate_limit_class
from adpilot.layers import service as layers_service
from adpilot.layers.models import Layer, Project
from adpilot.runs import scope as run_scope
from adpilot.runs import service as runs_service
from adpilot.writes import service
from adpilot.writes.schemas import (
    BudgetChange,
    CreativeChange,
    ScheduleChange,
    TargetingChange,
    WriteOptions,
)

router = APIRouter(tags=["direct writes"])

BASE = "/v1/projects/{projectId}/ads/{platform}"
DIRECT = "ads:write:direct"
_ID_PARAM = {"campaign": "campaignId", "adset": "adsetId", "ad": "adId"}
_COLLECTION = {"campaign": "campaigns", "adset": "adsets", "ad": "ads"}
CREATIVE = "ads:write:creative"
B = TypeVar("B", bound=WriteOptions)
Planner = Callable[[Session, Layer, Any], service.Planned]


def _direct_write(
    request: Request,
    ctx: Ctx,
    raw: bytes,
    session: Session,
    project: Project,
    principal: Any,
    platform: str,
    model: type[B],
    plan: Callable[[Session, Layer, B], service.Planned],
) -> Response:
    """404 path objects, 422 body and platform rules, then the gate in one write transaction."""
    layer = layers_service.layer_on_path(session, project, path_platform(platform))
    body = parse_body(model, raw or b"{}")
    planned = plan(session, layer, body)
    session.commit()  # end the read: on SQLite it holds the lock our write transaction needs
    detail = service.build_detail(ctx.settings, ctx.session_factory, planned)

    def handler(write_session: Session) -> WriteResult:
        return service.submit(
            write_session,
            planned,
            detail,
            body,
            principal=principal,
            request_id=request.state.request_id,
        )

    return write(request, ctx, principal, raw, handler)


DirectProject = Annotated[Project, Depends(visible_project(DIRECT))]
CreativeProject = Annotated[Project, Depends(visible_project(CREATIVE))]
WRITE = rate_limit_class("write")
AdsetId = Annotated[str, Path(alias="adsetId")]


def _budget_route(entity_type: str, path: str) -> None:
    @router.patch(
        path,
        status_code=202,
        openapi_extra={**body_schema(BudgetChange), **WRITE},
        summary=f"Change a{'n ad set' if entity_type == 'adset' else ' campaign'}'s budget",
        name=f"patch_{entity_type}_budget",
    )
    def patch_budget(
        request: Request,
        ctx: Ctx,
        raw: RawBody,
        session: ReadSession,
        project: DirectProject,
        principal: AnyPrincipal,
        platform: str,
        entity_id: str = Path(alias=_ID_PARAM[entity_type]),
    ) -> Response:
        return _direct_write(
            request, ctx, raw, session, project, principal, platform, BudgetChange,
            lambda s, layer, body: service.plan_budget(s, layer, entity_type, entity_id, body),
        )  # fmt: skip


def _entity_path(entity_type: str, tail: str = "") -> str:
    return f"{BASE}/{_COLLECTION[entity_type]}/{{{_ID_PARAM[entity_type]}}}{tail}"


for _kind in ("campaign", "adset"):
    _budget_route(_kind, _entity_path(_kind, "/budget"))


@router.patch(
    _entity_path("adset", "/targeting"),
    status_code=202,
    openapi_extra={**body_schema(TargetingChange), **WRITE},
    summary="Change an ad set's country targeting",
)
def patch_targeting(
    entity_id: AdsetId,
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    session: ReadSession,
    project: DirectProject,
    principal: AnyPrincipal,
    platform: str,
) -> Response:
    return _direct_write(
        request, ctx, raw, session, project, principal, platform, TargetingChange,
        lambda s, layer, body: service.plan_targeting(s, layer, entity_id, body.geo),
    )  # fmt: skip


@router.patch(
    _entity_path("adset", "/schedule"),
    status_code=202,
    openapi_extra={**body_schema(ScheduleChange), **WRITE},
    summary="Change an ad set's hours of the day",
)
def patch_schedule(
    entity_id: AdsetId,
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    session: ReadSession,
    project: DirectProject,
    principal: AnyPrincipal,
    platform: str,
) -> Response:
    return _direct_write(
        request, ctx, raw, session, project, principal, platform, ScheduleChange,
        lambda s, layer, body: service.plan_schedule(s, layer, entity_id, body.dayparts),
    )  # fmt: skip


def _status_route(entity_type: str, method: str, path: str, status: str) -> None:
    verb = {"active": "Resume", "paused": "Pause", "deleted": "Delete (soft)"}[status]

    @router.api_route(
        path,
        methods=[method],
        status_code=202,
        openapi_extra={**body_schema(WriteOptions), **WRITE},
        summary=f"{verb} a{'n' if entity_type in ('ad', 'adset') else ''} {entity_type}",
        name=f"{status}_{entity_type}",
    )
    def change_status(
        request: Request,
        ctx: Ctx,
        raw: RawBody,
        session: ReadSession,
        project: DirectProject,
        principal: AnyPrincipal,
        platform: str,
        entity_id: str = Path(alias=_ID_PARAM[entity_type]),
    ) -> Response:
        return _direct_write(
            request, ctx, raw, session, project, principal, platform, WriteOptions,
            lambda s, layer, _body: service.plan_status(s, layer, entity_type, entity_id, status),
        )  # fmt: skip


for _kind in ("campaign", "adset", "ad"):
    _status_route(_kind, "POST", _entity_path(_kind, "/pause"), "paused")
    _status_route(_kind, "POST", _entity_path(_kind, "/resume"), "active")
    _status_route(_kind, "DELETE", _entity_path(_kind), "deleted")


def _creative_route(method: str, op: str, model: type[WriteOptions]) -> None:
    what = {"push": "Push", "replace": "Replace", "prune": "Prune"}[op]

    @router.api_route(
        _entity_path("ad", "/creative"),
        methods=[method],
        status_code=202,
        openapi_extra={**body_schema(model), **WRITE},
        summary=f"{what} a creative on an ad",
        name=f"{op}_creative",
    )
    def change_creative(
        request: Request,
        ctx: Ctx,
        raw: RawBody,
        session: ReadSession,
        project: CreativeProject,
        principal: AnyPrincipal,
        platform: str,
        entity_id: str = Path(alias="adId"),
    ) -> Response:
        return _direct_write(
            request, ctx, raw, session, project, principal, platform, model,
            lambda s, layer, body: service.plan_creative(
                s, layer, entity_id, op, body if isinstance(body, CreativeChange) else None
            ),
        )  # fmt: skip


_creative_route("POST", "push", CreativeChange)
_creative_route("PUT", "replace", CreativeChange)
_creative_route("DELETE", "prune", WriteOptions)


# --- jobs of their own kinds over the engine's pause and creative logic -------------------


class ScopedJob(StrictBody):
    dryRun: bool = False


class ContentRefresh(ScopedJob):
    maxNewCreatives: int = Field(run_scope.DEFAULT_MAX_NEW_CREATIVES, ge=1, le=10)


def _start_scoped(
    request: Request,
    ctx: Ctx,
    raw: bytes,
    session: Session,
    project: Project,
    principal: Any,
    platform: str,
    scope: dict[str, Any],
    dry_run: bool,
) -> Response:
    layer = layers_service.layer_on_path(session, project, path_platform(platform))
    layer_id = layer.id
    session.commit()  # end the read: on SQLite it holds the lock our write transaction needs

    def handler(write_session: Session) -> WriteResult:
        found = runs_service.load_layer(write_session, project, layer_id)
        account = runs_service.check_trigger(write_session, project, found, found.platform)
        job, run = runs_service.start_run(
            write_session,
            layer=found,
            account=account,
            dry_run=dry_run,
            trigger="api",
            max_concurrent_jobs=ctx.settings.org_max_concurrent_jobs,
            principal=principal,
            request_id=request.state.request_id,
            scope=scope,
        )
        return WriteResult(202, runs_service.trigger_envelope(job, run))

    return write(request, ctx, principal, raw, handler)


TriggerProject = Annotated[Project, Depends(visible_project("ads:write:optimizer_trigger"))]
JOB = rate_limit_class("job")


@router.post(
    f"{BASE}/disable-underperforming",
    status_code=202,
    openapi_extra={**body_schema(ScopedJob), **JOB},
    summary="A job that pauses the layer's underperforming ads and ad sets (engine rules)",
)
def disable_underperforming(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    session: ReadSession,
    project: TriggerProject,
    principal: AnyPrincipal,
    platform: str,
) -> Response:
    body = parse_body(ScopedJob, raw or b"{}")
    scope = run_scope.make_scope(run_scope.DISABLE_UNDERPERFORMING)
    return _start_scoped(
        request, ctx, raw, session, project, principal, platform, scope, body.dryRun
    )


@router.post(
    f"{BASE}/content-refresh",
    status_code=202,
    openapi_extra={**body_schema(ContentRefresh), **JOB},
    summary="A job that pushes, replaces and prunes creatives (engine rules)",
)
def content_refresh(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    session: ReadSession,
    project: TriggerProject,
    principal: AnyPrincipal,
    platform: str,
) -> Response:
    body = parse_body(ContentRefresh, raw or b"{}")
    scope = run_scope.make_scope(run_scope.CONTENT_REFRESH, body.maxNewCreatives)
    return _start_scoped(
        request, ctx, raw, session, project, principal, platform, scope, body.dryRun
    )
