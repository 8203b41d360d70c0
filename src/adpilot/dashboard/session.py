"""Dashboard sign-in: the API key in an HttpOnly cookie, CSRF tokens, one-shot flash messages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from adpilot import errors
from adpilot.auth import service as auth_service
from adpilot.auth.service import Principal
from adpilot.db import read_session
from adpilot.deps import AppContext

# Path=/app: the key never rides along on API calls or anywhere else on the host.
COOKIE_PATH = "/app"
KEY_COOKIE = "adpilot_key"
SIGNIN_COOKIE = "adpilot_signin"
FLASH_COOKIE = "adpilot_flash"
SESSION_MAX_AGE = 12 * 60 * 60


class SignInRequired(Exception):
    """No usable key: the page answers with the sign-in form (and forgets the cookie)."""

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


def csrf_token(secret: str, key: str) -> str:
    """Per-session token: derived from the signed-in key, so it needs no server-side state and
    dies with the session; a cross-site form cannot know it."""
    return _sign(secret, "dashboard-csrf", key)


def authenticate(ctx: AppContext, key: str) -> Principal:
    with read_session(ctx.session_factory) as session:
        return auth_service.authenticate(session, secret_key=ctx.settings.secret_key, presented=key)


def current(request: Request, ctx: AppContext) -> Session:
    """The signed-in principal, re-checked on every request so a killed key stops at once."""
    key = request.cookies.get(KEY_COOKIE)
    if not key:
        raise SignInRequired()
    try:
        principal = authenticate(ctx, key)
    except errors.ApiError as err:
        raise SignInRequired(err.message) from None
    found = Session(principal, csrf_token(ctx.settings.secret_key, key))
    # Error pages rendered later in this request still show who is signed in.
    request.state.dashboard_session = found
    return found


def check_csrf(request: Request, ctx: AppContext, presented: str | None) -> None:
    key = request.cookies.get(KEY_COOKIE) or ""
    expected = csrf_token(ctx.settings.secret_key, key)
    if not presented or not hmac.compare_digest(presented, expected):
        raise CsrfRefused()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


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


def sign_in(request: Request, response: Response, key: str) -> None:
    _set(request, response, KEY_COOKIE, key, SESSION_MAX_AGE)
    _clear(request, response, SIGNIN_COOKIE)


def sign_out(request: Request, response: Response) -> None:
    _clear(request, response, KEY_COOKIE)


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
