"""Rendering dashboard pages: the Jinja2 environment, security headers, HTML error pages."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from adpilot import errors
from adpilot.dashboard import format as fmt
from adpilot.dashboard import reasons
from adpilot.dashboard import session as sess
from adpilot.deps import AppContext

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(fmt.FILTERS)
env.filters["reason"] = reasons.sentence


@functools.cache
def asset(name: str) -> str:
    """A static file's URL with a content hash, so an upgrade is never hidden behind the
    browser's cached copy."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    return f"/app/static/{name}?v={digest}"


env.globals["asset"] = asset

# Everything is served from this app: no inline scripts or styles, nothing from elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def secure_headers(response: Response, *, cache: bool = False) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if not cache:
        # Pages show a signed-in org's data: keep them out of shared and back-button caches.
        response.headers["Cache-Control"] = "no-store"
    return response


def page(
    request: Request,
    ctx: AppContext,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HTMLResponse:
    shown = sess.pop_flash(request, ctx)
    html = env.get_template(template).render(
        request=request,
        flash=shown,
        session=getattr(request.state, "dashboard_session", None),
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    sess.clear_flash(request, response)
    return secure_headers(response)  # type: ignore[return-value]


def redirect(
    request: Request, ctx: AppContext, to: str, flash: tuple[str, str] | None = None
) -> Response:
    """Post/redirect/get: a refresh never re-sends a decision."""
    response = RedirectResponse(to, status_code=303)
    if flash is not None:
        sess.flash(request, response, ctx, *flash)
    return secure_headers(response)


def safe_next(value: str | None) -> str:
    """Only paths inside the dashboard, so `next` cannot redirect off-site."""
    if value and value.startswith("/app") and not any(c in value for c in "\\\r\n"):
        return value
    return "/app"


def signin_page(
    request: Request,
    ctx: AppContext,
    *,
    message: str | None = None,
    status: int = 200,
    next_path: str = "/app",
    forget_key: bool = False,
) -> HTMLResponse:
    token = sess.new_signin_token()
    request.state.dashboard_session = None
    response = page(
        request,
        ctx,
        "signin.html",
        {
            "message": message,
            "signin_token": token,
            "next_path": safe_next(next_path),
            "idle_minutes": ctx.settings.dashboard_idle_minutes,
            "session_hours": ctx.settings.dashboard_session_hours,
        },
        status=status,
    )
    sess.remember_signin_token(request, response, token)
    if forget_key:
        sess.sign_out(request, response)
    return response


def error_page(request: Request, ctx: AppContext, status: int, message: str) -> HTMLResponse:
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Invalid request"}
    return page(
        request,
        ctx,
        "error.html",
        {"title": titles.get(status, "Something went wrong"), "message": message},
        status=status,
    )


def form_fields(raw: bytes) -> dict[str, str]:
    """An urlencoded form body (what a plain HTML form posts), first value of each field."""
    parsed = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def form_lists(raw: bytes) -> dict[str, list[str]]:
    """Every value of each field (ticked checkboxes share a name)."""
    return parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=False)


P = ParamSpec("P")


def guarded(route: Callable[P, Response]) -> Callable[P, Response]:
    """Turn sign-in, CSRF and API errors into HTML pages instead of the API's JSON envelope."""

    @functools.wraps(route)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = kwargs["request"]
        ctx = kwargs["ctx"]
        assert isinstance(request, Request) and isinstance(ctx, AppContext)
        try:
            return route(*args, **kwargs)
        except sess.SignInRequired as exc:
            wanted = str(request.url.path)
            if request.method == "GET" and request.url.query:
                wanted += f"?{request.url.query}"
            return signin_page(
                request,
                ctx,
                message=exc.message,
                status=401,
                next_path=wanted if request.method == "GET" else "/app",
                forget_key=exc.message is not None,
            )
        except sess.CsrfRefused:
            return error_page(
                request,
                ctx,
                403,
                "This form did not come from this dashboard, or it has expired. "
                "Reload the page and try again.",
            )
        except errors.ApiError as err:
            return error_page(request, ctx, err.status, err.message)

    return wrapper
