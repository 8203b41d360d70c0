"""HTTP route of the holdout: the layer's arms and what adpilot's changes added."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from adpilot.deps import ReadSession
from adpilot.holdout.report import holdout_report
from adpilot.kit.clock import utcnow
from adpilot.layers.models import Layer
from adpilot.layers.routes import visible_layer

router = APIRouter(tags=["optimizer"])


@router.get("/v1/layers/{layerId}/holdout", summary="Holdout arms and incrementality report")
def get_holdout(
    session: ReadSession, layer: Annotated[Layer, Depends(visible_layer("ads:read"))]
) -> dict[str, Any]:
    return holdout_report(session, layer, utcnow().date())
