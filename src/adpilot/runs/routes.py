"""HTTP routes: trigger an optimizer run, read runs, read and cancel jobs."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from adpilot import errors
from adpilot.deps import AnyPrincipal, Ctx, RawBody, ReadSession, require, visible_project, write
from adpilot.kit.body import StrictBody, body_schema, parse_body
from adpilot.kit.idempotency import WriteResult
from adpilot.kit.jsonresp import dumps
from adpilot.kit.pagination import multi_values
from adpilot.kit.platform_names import LONG_TO_SHORT, SHORT_TO_LONG, to_short
from adpilot.kit.ratelimit import rate_limit_class
from adpilot.layers.models import Project
from adpilot.runs import service
from adpilot.runs.models import Job
from adpilot.syncs import service as syncs_service
from adpilot.writes import service as writes_service

router = APIRouter(tags=["optimizer"])


class RunTrigger(StrictBody):
    layerId: str
    platform: Literal["meta_ads", "tiktok_ads", "apple_ads", "meta", "tiktok", "apple"]
    dryRun: bool = False


@router.post(
    "/v1/projects/{projectId}/ads/optimizer/run",
    status_code=202,
    openapi_extra={**body_schema(RunTrigger), **rate_limit_class("job")},
    summary="Trigger an optimizer run on one layer",
)
def trigger_run(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    project: Annotated[Project, Depends(visible_project("ads:write:optimizer_trigger"))],
    principal: AnyPrincipal,
) -> Response:
    body = parse_body(RunTrigger, raw)

    def handler(session: Any) -> WriteResult:
        layer = service.load_layer(session, project, body.layerId)
        account = service.check_trigger(session, project, layer, body.platform)
        job, run = service.start_run(
            session,
            layer=layer,
            account=account,
            dry_run=body.dryRun,
            trigger="api",
            max_concurrent_jobs=ctx.settings.org_max_concurrent_jobs,
            principal=principal,
            request_id=request.state.request_id,
        )
        return WriteResult(202, service.trigger_envelope(job, run))

    return write(request, ctx, principal, raw, handler)


@router.get("/v1/projects/{projectId}/ads/optimizer/runs/{runId}", summary="One optimizer run")
def get_run(
    runId: str,
    session: ReadSession,
    project: Annotated[Project, Depends(visible_project("ads:read"))],
) -> dict[str, Any]:
    return service.run_to_api(service.get_run(session, project, runId))


@router.get("/v1/projects/{projectId}/ads/optimizer/runs", summary="Optimizer runs, newest first")
def list_runs(
    ctx: Ctx,
    session: ReadSession,
    project: Annotated[Project, Depends(visible_project("ads:read"))],
    layerId: Annotated[list[str] | None, Query()] = None,
    platform: Annotated[list[str] | None, Query()] = None,
    status: Annotated[list[str] | None, Query()] = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    platforms = multi_values(platform, "platform", [*LONG_TO_SHORT.keys(), *SHORT_TO_LONG.keys()])
    return service.list_runs(
        session,
        project=project,
        secret=ctx.settings.secret_key,
        layer_ids=multi_values(layerId, "layerId"),
        platforms=sorted({s for p in platforms if (s := to_short(p))}),
        statuses=multi_values(status, "status", ["running", "completed", "failed", "canceled"]),
        cursor=cursor,
        limit=limit,
    )


def _none_match(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2): `W/` is ignored, `*` matches."""
    tags = [t.strip() for t in header.split(",") if t.strip()]
    return "*" in tags or etag in [t.removeprefix("W/") for t in tags]


def _job_view(session: Any, organization_id: str, job_id: str) -> dict[str, Any]:
    """A run's, a backtest's, a sync's (kind `ads_sync`) or a direct write's job, as
    `GET /v1/jobs/{jobId}` shows it."""
    direct = writes_service.job_view(session, organization_id, job_id)
    if direct is not None:
        return direct
    kind = session.scalar(select(Job.kind).where(Job.id == job_id))
    if kind == syncs_service.SYNC_KIND:
        return syncs_service.job_to_api(*syncs_service.find_job(session, organization_id, job_id))
    return service.job_envelope(session, organization_id, job_id)


@router.get("/v1/jobs/{jobId}", summary="A job envelope (ETag / If-None-Match supported)")
def get_job(
    jobId: str,
    request: Request,
    session: ReadSession,
    principal: Annotated[Any, Depends(require("jobs:read"))],
) -> Response:
    body = dumps(_job_view(session, principal.organization_id, jobId))
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if _none_match(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


@router.post("/v1/jobs/{jobId}/cancel", status_code=202, summary="Cancel a running job")
def cancel_job(
    jobId: str,
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    principal: Annotated[Any, Depends(require("jobs:cancel"))],
) -> Response:
    def handler(session: Any) -> WriteResult:
        if writes_service.job_view(session, principal.organization_id, jobId) is not None:
            raise errors.conflict(
                "JOB_CANCEL_UNAVAILABLE",
                "A direct write is withdrawn by rejecting its pending action, not by canceling.",
            )
        status, body = service.request_cancel(
            session, principal.organization_id, jobId, principal, request.state.request_id
        )
        return WriteResult(status, body)

    return write(request, ctx, principal, raw, handler)
