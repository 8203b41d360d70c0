"""`GET /v1/whoami`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from adpilot.deps import AnyPrincipal

router = APIRouter()


@router.get("/v1/whoami")
def whoami(principal: AnyPrincipal) -> dict[str, Any]:
    return {
        "organizationId": principal.organization_id,
        "organizationName": principal.organization_name,
        "apiKeyId": principal.api_key_id,
        "actorType": principal.actor_type,
        "scopes": sorted(principal.scopes),
        "rateLimitTier": principal.rate_limit_tier,
    }
