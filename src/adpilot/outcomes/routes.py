"""HTTP routes of outcomes: a layer's evaluated actions, its calibration and cumulative effect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from adpilot import errors
from adpilot.db import read_session
from adpilot.deps import Ctx
from adpilot.kit.jsonresp import dumps
from adpilot.kit.pagination import check_limit, multi_values
from adpilot.layers.models import Layer
from adpilot.layers.routes import visible_layer
from adpilot.outcomes import service
from adpilot.platforms.base import ACTION_TYPES

router = APIRouter(tags=["outcomes"])

BASE = "/v1/layers/{layerId}/outcomes"
ReadLayer = Annotated[Layer, Depends(visible_layer("ads:read"))]
Multi = list[str] | None


def _json(body: object) -> Response:
    return Response(dumps(body), media_type="application/json")


def _sent(raw: str | None) -> bool | None:
    if raw is None or raw == "":
        return None
    if raw in ("true", "false"):
        return raw == "true"
    raise errors.validation("sent", "expected true or false")


@router.get(BASE, summary="Evaluated actions of a layer, most recently evaluated first")
def list_outcomes(
    ctx: Ctx,
    layer: ReadLayer,
    verdict: Annotated[Multi, Query(description="One or many verdicts")] = None,
    action_type: Annotated[Multi, Query(alias="actionType")] = None,
    disposition: Annotated[Multi, Query(description="dispatched, rejected, expired, …")] = None,
    sent: Annotated[str | None, Query(description="true: sent changes; false: not sent")] = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Response:
    filters = service.ListFilters(
        verdicts=tuple(multi_values(verdict, "verdict", service.VERDICTS)),
        action_types=tuple(multi_values(action_type, "actionType", ACTION_TYPES)),
        dispositions=tuple(multi_values(disposition, "disposition", service.DISPOSITIONS)),
        sent=_sent(sent),
    )
    size = check_limit(limit)
    with read_session(ctx.session_factory) as session:
        page = service.list_page(
            session,
            secret=ctx.settings.secret_key,
            project_id=layer.project_id,
            layer_id=layer.id,
            filters=filters,
            cursor=cursor or None,
            limit=size,
        )
    return _json(page)


@router.get(f"{BASE}/calibration", summary="Reliability table and Brier score of the layer")
def get_calibration(ctx: Ctx, layer: ReadLayer) -> Response:
    with read_session(ctx.session_factory) as session:
        return _json(service.calibration(session, project_id=layer.project_id, layer_id=layer.id))


@router.get(f"{BASE}/summary", summary="Cumulative estimated effect of the layer's sent changes")
def get_summary(ctx: Ctx, layer: ReadLayer) -> Response:
    with read_session(ctx.session_factory) as session:
        return _json(
            service.cumulative_effect(session, project_id=layer.project_id, layer_id=layer.id)
        )
