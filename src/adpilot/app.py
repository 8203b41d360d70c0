"""create_app(settings) -> the FastAPI application: routers, error envelope, request ids."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from adpilot import __version__, errors, observability
from adpilot.deps import AppContext
from adpilot.kit.ids import new_id
from adpilot.kit.ratelimit import Quota, RateLimiter

log = structlog.get_logger(__name__)

# Each domain exposes `router` from its routes module; a missing module is a bug, not optional.
ROUTER_MODULES = (
    "adpilot.health",
    "adpilot.observability",
    "adpilot.auth.routes",
    "adpilot.auth.key_routes",
    "adpilot.layers.routes",
    "adpilot.entities.routes",
    "adpilot.runs.routes",
    "adpilot.backtest.routes",
    "adpilot.holdout.routes",
    "adpilot.pending.routes",
    "adpilot.outcomes.routes",
    "adpilot.writes.routes",
    "adpilot.webhooks.routes",
    "adpilot.audit.routes",
    "adpilot.dashboard.routes",
    "adpilot.dashboard.outcomes",
    "adpilot.dashboard.proof",
)


def _envelope(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "requestId": getattr(request.state, "request_id", None),
    }
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) if parts else str(loc[0]) if loc else "body"


def _problem(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "is required"
    if kind == "json_invalid":
        return "the body is not valid JSON"
    return str(err.get("msg", "is invalid"))


def _nul_in(request: Request) -> str | None:
    """The first part of the URL (path, or a query parameter's name) holding a NUL character."""
    if "\x00" in request.url.path:
        return "path"
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


def create_app(ctx: AppContext) -> FastAPI:
    observability.configure_logging()
    # Interactive docs from assets shipped in the package: a self-hosted install may be offline.
    app = FastAPIOffline(
        title="adpilot",
        version=__version__,
        description="Self-hostable ads optimizer with a partner HTTP API.",
    )
    if ctx.limiter is None:
        ctx.limiter = RateLimiter.from_settings(ctx.settings)
    app.state.ctx = ctx

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.request_id = new_id("req")
        bad_part = _nul_in(request)
        if bad_part is not None:
            # PostgreSQL refuses NUL in text, so such a value could only ever fail deeper down.
            response: Response = _envelope(
                request,
                422,
                "VALIDATION",
                f"Invalid {bad_part}: must not contain NUL characters.",
                {"fields": [{"field": bad_part, "problem": "must not contain NUL characters"}]},
            )
        else:
            try:
                response = await call_next(request)
            except Exception:
                # Answered here, inside the middleware, so that even a bug's 500 carries the
                # request id and is counted by the metrics middleware around this one.
                log.exception("unhandled error", request_id=request.state.request_id)
                response = _envelope(request, 500, "INTERNAL", "An internal error occurred.")
        response.headers["X-Request-Id"] = request.state.request_id
        # Set once the key is authenticated, so 4xx answers to a valid key carry it too.
        quota: Quota | None = getattr(request.state, "rate_limit", None)
        if quota is not None:
            response.headers.update(quota.headers())
        return response

    @app.exception_handler(errors.ApiError)
    async def api_error(request: Request, exc: errors.ApiError) -> JSONResponse:
        return _envelope(request, exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": _field_name(tuple(e.get("loc", ()))), "problem": _problem(e)}
            for e in exc.errors()
        ]
        first = fields[0] if fields else {"field": "body", "problem": "is invalid"}
        return _envelope(
            request,
            422,
            "VALIDATION",
            f"Invalid {first['field']}: {first['problem']}.",
            {"fields": fields},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _envelope(request, 404, "NOT_FOUND", "No such route.")
        if exc.status_code == 405:
            return _envelope(
                request,
                405,
                "METHOD_NOT_ALLOWED",
                "Method not allowed here.",
                headers=dict(exc.headers or {}),
            )
        return _envelope(request, exc.status_code, "HTTP_ERROR", str(exc.detail))

    observability.install(app)
    for module_name in ROUTER_MODULES:
        module = importlib.import_module(module_name)
        app.include_router(module.router)
    return app
