"""Dashboard sign-in: server-side sessions behind an HttpOnly cookie, CSRF tokens, flashes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import update

from adpilot import errors
from adpilot.auth import service as auth_service
from adpilot.auth.service import Principal
from adpilot.dashboard.models import DashboardSession
from adpilot.db import read_session, transaction
from adpilot.deps import AppContext
from adpilot.kit.clock import utcnow

# Path=/app: the session never rides along on API calls or anywhere else on the host.
COOKIE_PATH = "/app"
SESSION_COOKIE = "adpilot_session"
SIGNIN_COOKIE = "adpilot_signin"
FLASH_COOKIE = "adpilot_flash"
# A page view moves the idle clock at most this often: one write a minute, not one per request.
TOUCH_EVERY = dt.timedelta(minutes=1)
EXPIRED = "Your session has expired. Please sign in again."


class SignInRequired(Exception):
    """No usable session: the page answers with the sign-in form (and forgets the cookie)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")
        self.message = message


class CsrfRefused(Exception):
    """A state-changing POST without the token this dashboard put in its own form."""


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str


def _sign(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _row_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(ctx: AppContext, key: str) -> Principal:
    with read_session(ctx.session_factory) as session:
        return auth_service.authenticate(session, secret_key=ctx.settings.secret_key, presented=key)


def open_session(ctx: AppContext, principal: Principal) -> str:
    """A new server-side session for a key just proven; returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with transaction(ctx.session_factory) as session:
        session.add(
            DashboardSession(
                id=_row_id(token),
                api_key_id=principal.api_key_id,
                csrf=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                expires_at=now + dt.timedelta(hours=ctx.settings.dashboard_session_hours),
            )
        )
    return token


def current(request: Request, ctx: AppContext) -> Session:
    """The signed-in principal; the key is re-checked on every request so a killed key stops at
    once, and the session ends when idle too long, at its absolute end, or once revoked."""
    cached: Session | None = getattr(request.state, "dashboard_session", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired()
    now = utcnow()
    idle = dt.timedelta(minutes=ctx.settings.dashboard_idle_minutes)
    with read_session(ctx.session_factory) as session:
        row = session.get(DashboardSession, _row_id(token))
        if row is None or row.revoked_at is not None:
            raise SignInRequired("You are signed out. Please sign in again.")
        if now >= row.expires_at or now >= row.last_seen_at + idle:
            raise SignInRequired(EXPIRED)
        try:
            principal = auth_service.principal_of_key(session, row.api_key_id)
        except errors.ApiError as err:
            raise SignInRequired(err.message) from None
        found = Session(principal, row.csrf)
        stale = now - row.last_seen_at >= TOUCH_EVERY
    if stale:
        with transaction(ctx.session_factory) as session:
            session.execute(
                update(DashboardSession)
                .where(DashboardSession.id == _row_id(token))
                .where(DashboardSession.last_seen_at < now)
                .values(last_seen_at=now)
            )
    # Error pages rendered later in this request still show who is signed in.
    request.state.dashboard_session = found
    return found


def check_csrf(request: Request, ctx: AppContext, presented: str | None) -> None:
    expected = current(request, ctx).csrf
    if not presented or not hmac.compare_digest(presented, expected):
        raise CsrfRefused()


def _secure(request: Request) -> bool:
    """HTTPS as the browser sees it: our own scheme, or the TLS proxy's word when trusted."""
    if request.url.scheme == "https":
        return True
    ctx: AppContext | None = getattr(request.app.state, "ctx", None)
    if ctx is None or not ctx.settings.dashboard_trust_proxy:
        return False
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded.split(",")[0].strip().lower() == "https"


def _set(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def _clear(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request)
    )


def sign_in(request: Request, response: Response, ctx: AppContext, principal: Principal) -> None:
    # Signing in again (perhaps with another key) ends the session this browser had.
    _revoke(ctx, request.cookies.get(SESSION_COOKIE))
    token = open_session(ctx, principal)
    _set(request, response, SESSION_COOKIE, token, ctx.settings.dashboard_session_hours * 3600)
    _clear(request, response, SIGNIN_COOKIE)


def sign_out(request: Request, response: Response, ctx: AppContext | None = None) -> None:
    """Forget the cookie and, when asked, revoke the session so a copied cookie is dead too."""
    if ctx is not None:
        _revoke(ctx, request.cookies.get(SESSION_COOKIE))
    _clear(request, response, SESSION_COOKIE)


def _revoke(ctx: AppContext, token: str | None) -> None:
    if not token:
        return
    with transaction(ctx.session_factory) as session:
        session.execute(
            update(DashboardSession)
            .where(DashboardSession.id == _row_id(token))
            .where(DashboardSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


# --- the sign-in form's own CSRF token (double-submit: there is no session to bind it to yet) ---


def new_signin_token() -> str:
    return secrets.token_urlsafe(24)


def remember_signin_token(request: Request, response: Response, token: str) -> None:
    """Mirror the form's token in a cookie; a forged cross-site sign-in (into an attacker's
    account) cannot read it, so it cannot match them."""
    _set(request, response, SIGNIN_COOKIE, token, 60 * 60)


def check_signin_token(request: Request, presented: str | None) -> bool:
    cookie = request.cookies.get(SIGNIN_COOKIE)
    return bool(cookie and presented and hmac.compare_digest(cookie, presented))


# --- flash messages (shown once, after a redirect) ---


def flash(request: Request, response: Response, ctx: AppContext, kind: str, message: str) -> None:
    # Unpadded: `=` would make the cookie value a quoted string.
    payload = base64.urlsafe_b64encode(json.dumps([kind, message]).encode()).decode().rstrip("=")
    signed = f"{payload}.{_sign(ctx.settings.secret_key, 'dashboard-flash', payload)}"
    _set(request, response, FLASH_COOKIE, signed, 60)


def pop_flash(request: Request, ctx: AppContext) -> tuple[str, str] | None:
    """The pending flash message, if a genuine one is set; the caller clears the cookie."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    payload, _, signature = raw.rpartition(".")
    expected = _sign(ctx.settings.secret_key, "dashboard-flash", payload)
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        kind, message = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    return str(kind), str(message)


def clear_flash(request: Request, response: Response) -> None:
    if FLASH_COOKIE in request.cookies:
        _clear(request, response, FLASH_COOKIE)
