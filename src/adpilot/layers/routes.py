"""HTTP routes of the layers domain: layer settings, write classes and ad accounts (SPEC §5.4, §7).

The authority routes (defaults, per-campaign authority) live with the gate and are mounted here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from adpilot.auth.service import Principal
from adpilot.db import transaction
from adpilot.deps import (
    AnyPrincipal,
    Ctx,
    RawBody,
    ReadSession,
    require,
    visible_project,
    write,
    write_change,
)
from adpilot.gate import routes as gate_routes
from adpilot.kit.body import body_schema, parse_body
from adpilot.kit.idempotency import WriteResult
from adpilot.layers import service
from adpilot.layers.models import Layer, Project
from adpilot.layers.schemas import AdAccountCreate, LayerSettingsPatch, WriteClassesPatch

router = APIRouter(tags=["layers"])
router.include_router(gate_routes.router)


def visible_layer(scope: str) -> Callable[..., Layer]:
    """Authenticate, check `scope`, then load the path's layer if this org may see it (else 404)."""

    # A default, not an Annotated hint: postponed hints resolve in module globals, not closures.
    check_scope = require(scope)

    def load(
        layer_id: Annotated[str, Path(alias="layerId")],
        session: ReadSession,
        principal: Principal = Depends(check_scope),
    ) -> Layer:
        layer = service.visible_layer(session, principal.organization_id, layer_id)
        # End the read transaction (it holds SQLite's write lock) before the route's own write;
        # the layer stays loaded because sessions do not expire objects on commit.
        session.commit()
        return layer

    return load


# --- Layer settings ------------------------------------------------------------------------------


@router.get("/v1/layers/{layerId}")
def get_layer_settings(
    session: ReadSession, layer: Annotated[Layer, Depends(visible_layer("ads:read"))]
) -> dict[str, Any]:
    return service.layer_settings_view(session, layer)


@router.patch("/v1/layers/{layerId}", openapi_extra=body_schema(LayerSettingsPatch))
def patch_layer_settings(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    layer: Annotated[Layer, Depends(visible_layer("ads:write:policy"))],
    principal: AnyPrincipal,
) -> Response:
    body = parse_body(LayerSettingsPatch, raw)
    return write_change(request, ctx, principal, raw, service.patch_layer_settings, layer.id, body)


# --- Write classes -------------------------------------------------------------------------------


@router.get("/v1/layers/{layerId}/optimizer/write-classes")
def get_write_classes(
    layer: Annotated[Layer, Depends(visible_layer("ads:read"))],
) -> dict[str, Any]:
    return service.write_classes_view(layer)


@router.patch(
    "/v1/layers/{layerId}/optimizer/write-classes", openapi_extra=body_schema(WriteClassesPatch)
)
def patch_write_classes(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    layer: Annotated[Layer, Depends(visible_layer("ads:write:policy"))],
    principal: AnyPrincipal,
) -> Response:
    body = parse_body(WriteClassesPatch, raw)
    return write_change(request, ctx, principal, raw, service.patch_write_classes, layer.id, body)


# --- Ad accounts ---------------------------------------------------------------------------------


@router.post(
    "/v1/projects/{projectId}/ads/ad-accounts",
    status_code=201,
    openapi_extra=body_schema(AdAccountCreate),
)
def connect_ad_account(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    project: Annotated[Project, Depends(visible_project("ads:write:connect"))],
    principal: AnyPrincipal,
) -> Response:
    body = parse_body(AdAccountCreate, raw)
    verified = service.verify_connection(ctx.settings, body)

    def handler(session: Session) -> WriteResult:
        account = service.connect_account(
            session,
            ctx.settings,
            ctx.session_factory,
            project,
            body,
            verified,
            principal=principal,
            request_id=request.state.request_id,
        )
        return WriteResult(201, service.account_view(account))

    return write(request, ctx, principal, raw, handler)


@router.get("/v1/projects/{projectId}/ads/ad-accounts")
def list_ad_accounts(
    session: ReadSession,
    project: Annotated[Project, Depends(visible_project("ads:read"))],
) -> dict[str, Any]:
    accounts = service.list_accounts(session, project)
    # At most one account per platform, so one page always holds them all.
    return {"items": [service.account_view(a) for a in accounts], "nextCursor": None}


@router.delete("/v1/projects/{projectId}/ads/ad-accounts/{adAccountId}", status_code=204)
def disconnect_ad_account(
    request: Request,
    ctx: Ctx,
    project: Annotated[Project, Depends(visible_project("ads:write:connect"))],
    principal: AnyPrincipal,
    account_id: Annotated[str, Path(alias="adAccountId")],
) -> Response:
    with transaction(ctx.session_factory) as session:
        service.disconnect_account(
            session,
            project,
            account_id,
            principal=principal,
            request_id=request.state.request_id,
        )
    return Response(status_code=204)
