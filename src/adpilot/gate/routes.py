"""HTTP routes of the authority gate: layer defaults and per-campaign authority (SPEC §5.2-5.3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from adpilot.deps import AnyPrincipal, Ctx, RawBody, ReadSession, visible_project, write_change
from adpilot.gate import service
from adpilot.gate.schemas import CampaignAuthorityPatch, DefaultsPatch
from adpilot.kit.body import body_schema, parse_body
from adpilot.kit.platform_names import path_platform
from adpilot.layers import service as layers_service
from adpilot.layers.models import Project

router = APIRouter(tags=["authority"])

DEFAULTS_PATH = "/v1/projects/{projectId}/ads/{platform}/defaults"
CampaignId = Annotated[str, Path(alias="campaignId")]
AUTHORITY_PATH = "/v1/projects/{projectId}/ads/{platform}/campaigns/{campaignId}/authority"


@router.get(DEFAULTS_PATH)
def get_defaults(
    session: ReadSession,
    project: Annotated[Project, Depends(visible_project("ads:read"))],
    platform: str,
) -> dict[str, Any]:
    layer = layers_service.layer_on_path(session, project, path_platform(platform))
    return service.defaults_view(layer)


@router.patch(DEFAULTS_PATH, openapi_extra=body_schema(DefaultsPatch))
def patch_defaults(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    session: ReadSession,
    project: Annotated[Project, Depends(visible_project("ads:write:policy"))],
    principal: AnyPrincipal,
    platform: str,
) -> Response:
    layer = layers_service.layer_on_path(session, project, path_platform(platform))
    session.commit()  # end the read: on SQLite it holds the lock our write transaction needs
    body = parse_body(DefaultsPatch, raw)
    return write_change(request, ctx, principal, raw, service.patch_defaults, layer.id, body)


@router.get(AUTHORITY_PATH)
def get_campaign_authority(
    session: ReadSession,
    project: Annotated[Project, Depends(visible_project("ads:read"))],
    platform: str,
    campaign_id: CampaignId,
) -> dict[str, Any]:
    layer = layers_service.layer_on_path(session, project, path_platform(platform))
    campaign = service.find_campaign(session, layer, campaign_id)
    return service.campaign_authority_view(session, layer, campaign.id)


@router.patch(AUTHORITY_PATH, openapi_extra=body_schema(CampaignAuthorityPatch))
def patch_campaign_authority(
    request: Request,
    ctx: Ctx,
    raw: RawBody,
    session: ReadSession,
    project: Annotated[Project, Depends(visible_project("ads:write:policy"))],
    principal: AnyPrincipal,
    platform: str,
    campaign_id: CampaignId,
) -> Response:
    layer = layers_service.layer_on_path(session, project, path_platform(platform))
    campaign = service.find_campaign(session, layer, campaign_id)
    session.commit()  # end the read: on SQLite it holds the lock our write transaction needs
    body = parse_body(CampaignAuthorityPatch, raw)
    return write_change(
        request, ctx, principal, raw, service.patch_campaign_authority, layer.id, campaign.id, body
    )
