"""HTTP routes of backtests: start one on a layer (a job), read its result."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import Field

from adpilot.backtest import service
from adpilot.deps import AnyPrincipal, Ctx, RawBody, ReadSession, visible_project, write
from adpilot.kit.body import StrictBody, body_schema, parse_body
from adpilot.kit.idempotency import WriteResult
from adpilot.kit.ratelimit import rate_limit_class
from adpilot.layers.models import Project
from adpilot.runs import service as runs_service

router = APIRouter(tags=["optimizer"])


class BacktestStart(StrictBody):
    layerId: str
    weeks: int = Field(service.MAX_WEEKS, ge=1, le=service.MAX_WEEKS)


@router.post(
    "/v1/projects/{projectId}/ads/optimizer/backtest",
    status_code=202,
    openapi_extra={**body_schema(BacktestStart), **rate_limit_class("job")},
    summary="Replay the optimizer over the layer's stored history (a job)",
)
def start_backtest(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    project: Annotated[Project, Depends(visible_project("ads:write:optimizer_trigger"))],
    principal: AnyPrincipal,
) -> Response:
    body = parse_body(BacktestStart, raw)

    def handler(session: Any) -> WriteResult:
        layer = runs_service.load_layer(session, project, body.layerId)
        job, bt = service.start(
            session,
            layer=layer,
            weeks=body.weeks,
            principal=principal,
            request_id=request.state.request_id,
        )
        return WriteResult(202, service.envelope(job, bt))

    return write(request, ctx, principal, raw, handler)


@router.get("/v1/projects/{projectId}/ads/optimizer/backtests/{backtestId}", summary="A backtest")
def get_backtest(
    backtestId: str,
    session: ReadSession,
    project: Annotated[Project, Depends(visible_project("ads:read"))],
) -> dict[str, Any]:
    return service.to_api(service.get(session, project.id, backtestId))
