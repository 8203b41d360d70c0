"""The dashboard's outcomes page of a layer: judged changes, cumulative effect, calibration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from adpilot.dashboard import session as sess
from adpilot.dashboard import views
from adpilot.dashboard.render import guarded, page
from adpilot.db import read_session
from adpilot.deps import Ctx
from adpilot.layers.models import Layer, Project
from adpilot.outcomes import service as outcomes_service

router = APIRouter(prefix="/app", include_in_schema=False)

PER_PAGE = 50


def outcomes_page(
    session: Session, secret: str, project: Project, layer: Layer, sent: bool, cursor: str | None
) -> dict[str, Any]:
    listed = outcomes_service.list_page(
        session,
        secret=secret,
        project_id=project.id,
        layer_id=layer.id,
        filters=outcomes_service.ListFilters(sent=sent),
        cursor=cursor,
        limit=PER_PAGE,
    )
    for item in listed["items"]:
        item["latest"] = item["outcomes"][-1] if item["outcomes"] else None
    return {
        "project": project,
        "layer": layer,
        "currency": views.currency_of(views.layer_account(session, layer)),
        "sent": sent,
        "items": listed["items"],
        "next_cursor": listed["nextCursor"],
        "effect": outcomes_service.cumulative_effect(
            session, project_id=project.id, layer_id=layer.id
        ),
        "calibration": outcomes_service.calibration(
            session, project_id=project.id, layer_id=layer.id
        ),
    }


@router.get("/projects/{projectId}/layers/{layerId}/outcomes")
@guarded
def outcomes(
    request: Request,
    ctx: Ctx,
    projectId: str,
    layerId: str,
    show: Annotated[str | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> Response:
    current = sess.current(request, ctx)
    views.require_read(current.principal)
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
        found = views.find_layer(session, project, layerId)
        data = outcomes_page(
            session, ctx.settings.secret_key, project, found, show != "predictions", cursor
        )
    return page(request, ctx, "outcomes.html", data)
