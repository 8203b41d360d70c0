"""FastAPI dependencies: the app context, the calling principal, scope checks, visible projects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session, sessionmaker

from adpilot import errors
from adpilot.auth import service as auth_service
from adpilot.auth.service import Principal
from adpilot.config import Settings
from adpilot.db import read_session as db_read_session
from adpilot.kit.bounded import read_bounded
from adpilot.kit.idempotency import WriteResult, run_write
from adpilot.kit.ratelimit import RateLimiter, class_of
from adpilot.layers import service as layers_service
from adpilot.layers.models import Project


@dataclass
class AppContext:
    settings: Settings
    session_factory: sessionmaker[Session]
    # Set when the job engine runs in (or is reachable from) this process.
    jobs: Any = None
    # Built from settings by create_app unless one is given.
    limiter: RateLimiter | None = None


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


def read_session(ctx: Ctx) -> Iterator[Session]:
    session = db_read_session(ctx.session_factory)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


ReadSession = Annotated[Session, Depends(read_session)]


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.unauthenticated("The Authorization header must be 'Bearer <key>'.")
        return token.strip()
    return request.headers.get("x-api-key")


def get_principal(request: Request, ctx: Ctx) -> Principal:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    presented = _presented_key(request)
    if not presented:
        raise errors.unauthenticated()
    with db_read_session(ctx.session_factory) as session:
        principal = auth_service.authenticate(
            session, secret_key=ctx.settings.secret_key, presented=presented
        )
    request.state.principal = principal
    _count_request(request, ctx, principal)
    return principal


def _count_request(request: Request, ctx: AppContext, principal: Principal) -> None:
    """Spend one request from the key's bucket for this route, right after authentication.

    Before scope, path and body checks: the limit is about the caller, so a key over it gets one
    answer whatever else is wrong, and 403/404 probing costs the same as any other request. The
    request-id middleware copies the quota into the response headers, errors included.
    """
    if ctx.limiter is None:
        return
    endpoint_class = class_of(request.method, request.scope.get("route"))
    quota = ctx.limiter.hit(principal.api_key_id, principal.rate_limit_tier, endpoint_class)
    if quota is None:
        return
    request.state.rate_limit = quota
    if not quota.allowed:
        raise quota.exceeded()


AnyPrincipal = Annotated[Principal, Depends(get_principal)]


def require(scope: str) -> Callable[..., Principal]:
    """A dependency that authenticates the caller and checks one scope (deny by default)."""

    def check(principal: AnyPrincipal) -> Principal:
        if not principal.has_scope(scope):
            raise errors.forbidden_scope(scope)
        return principal

    check.__name__ = f"require_{scope.replace(':', '_')}"
    return check


def visible_project(scope: str) -> Callable[..., Project]:
    """Authenticate, check `scope`, then load the path's project if this org sees it (else 404)."""

    # A default rather than an Annotated[...] hint: with postponed annotations FastAPI resolves
    # hints from module globals only, where the closure's `scope` does not exist.
    check_scope = require(scope)

    def load(
        project_id: Annotated[str, Path(alias="projectId")],
        session: ReadSession,
        principal: Principal = Depends(check_scope),
    ) -> Project:
        return layers_service.visible_project(session, principal.organization_id, project_id)

    return load


async def raw_body(request: Request, ctx: Ctx, principal: AnyPrincipal) -> bytes:
    """The request body, read only once the key is authenticated (and the request counted), and
    never past `ADPILOT_MAX_BODY_BYTES`."""
    return await read_bounded(request, ctx.settings.max_body_bytes)


async def content_body(request: Request, ctx: Ctx, principal: AnyPrincipal) -> bytes:
    """`raw_body` under the creative library's own limit (`ADPILOT_CREATIVE_MAX_BODY_BYTES`)."""
    limit = ctx.settings.creative_max_body_bytes or ctx.settings.max_body_bytes
    return await read_bounded(request, limit)


async def form_body(request: Request, ctx: Ctx) -> bytes:
    """A dashboard form's body (signing in carries the key in it), never past the limit."""
    return await read_bounded(request, ctx.settings.max_body_bytes)


RawBody = Annotated[bytes, Depends(raw_body)]
ContentBody = Annotated[bytes, Depends(content_body)]
FormBody = Annotated[bytes, Depends(form_body)]


def write(
    request: Request,
    ctx: AppContext,
    principal: Principal,
    body: bytes,
    handler: Callable[[Session], WriteResult],
) -> Any:
    """Run a write handler in its own transaction with Idempotency-Key semantics."""
    return run_write(request, ctx.session_factory, principal.organization_id, body, handler)


def write_change(
    request: Request,
    ctx: AppContext,
    principal: Principal,
    body: bytes,
    change: Callable[..., dict[str, Any]],
    *args: Any,
    status: int = 200,
    **kwargs: Any,
) -> Any:
    """`write` for a service change that answers with its view: runs
    `change(session, *args, **kwargs, principal=…, request_id=…)` for the caller."""
    request_id = request.state.request_id

    def handler(session: Session) -> WriteResult:
        view = change(session, *args, **kwargs, principal=principal, request_id=request_id)
        return WriteResult(status, view)

    return write(request, ctx, principal, body, handler)
