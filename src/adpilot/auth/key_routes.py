"""Key management over the API: list an org's keys, kill one, revoke one (`keys:admin`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from adpilot.audit import service as audit
from adpilot.auth import service
from adpilot.auth.service import ADMIN_SCOPE, Principal
from adpilot.deps import Ctx, RawBody, ReadSession, require, write_change

router = APIRouter(tags=["api keys"])

Admin = Annotated[Principal, Depends(require(ADMIN_SCOPE))]
KeyId = Annotated[str, Path(alias="keyId")]


@router.get("/v1/api-keys", summary="The organization's API keys (never their secrets)")
def list_keys(session: ReadSession, principal: Admin) -> dict[str, Any]:
    rows = service.list_keys(session, principal.organization_id)
    return {"items": [service.key_view(row) for row in rows], "nextCursor": None}


@router.post("/v1/api-keys/{keyId}/kill", summary="Kill a key: it answers 503 KILL_SWITCH")
def kill_key(key_id: KeyId, request: Request, ctx: Ctx, raw: RawBody, principal: Admin) -> Response:
    return write_change(request, ctx, principal, raw, _change, key_id, "kill")


@router.delete("/v1/api-keys/{keyId}", summary="Revoke a key: it answers 401 from then on")
def revoke_key(
    key_id: KeyId, request: Request, ctx: Ctx, raw: RawBody, principal: Admin
) -> Response:
    return write_change(request, ctx, principal, raw, _change, key_id, "revoke")


def _change(
    session: Session, key_id: str, what: str, *, principal: Principal, request_id: str | None
) -> dict[str, Any]:
    change = service.kill_key_of if what == "kill" else service.revoke_key_of
    row = change(session, principal.organization_id, key_id)
    audit.record(
        session,
        "api_key.killed" if what == "kill" else "api_key.revoked",
        organization_id=row.organization_id,
        principal=principal,
        request_id=request_id,
        data={"apiKeyId": row.id},
    )
    return service.key_view(row)
