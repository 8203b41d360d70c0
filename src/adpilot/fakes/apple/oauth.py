"""The fake `POST /auth/oauth2/token`: a client-credentials grant whose secret is an ES256 JWT.

Checks what Apple checks: the client is registered and not revoked, the JWT is signed by its
key (`kid` names it, `alg` is ES256), `sub` is the client id, `iss` the team id, `aud`
appleid.apple.com, `exp` in the future and at most 180 days after `iat`. Parameters may come in
the query string or a form body (Apple's two examples differ). Errors are OAuth2 bodies.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import jwt

from adpilot.fakes.apple.state import TOKEN_LIFETIME_SEC, state_of
from adpilot.fakes.world import FakeWorld

AUDIENCE = "https://appleid.apple.com"
MAX_SECRET_SEC = 180 * 24 * 3600


class OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def issue_token(world: FakeWorld, params: dict[str, str]) -> dict[str, Any]:
    if params.get("grant_type") != "client_credentials":
        raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
    if params.get("scope") != "searchadsorg":
        raise OAuthError("invalid_scope", "scope must be searchadsorg")
    state = state_of(world)
    client_id = params.get("client_id", "")
    with world.lock:
        client = state.clients.get(client_id)
    if client is None or client.revoked:
        raise OAuthError("invalid_client", "unknown or revoked client")
    secret = params.get("client_secret", "")
    try:
        header = jwt.get_unverified_header(secret)
    except jwt.PyJWTError:
        raise OAuthError("invalid_client", "client_secret is not a JWT") from None
    if header.get("alg") != "ES256" or header.get("kid") != client.key_id:
        raise OAuthError("invalid_client", "client_secret must be ES256 with the key's kid")
    try:
        claims = jwt.decode(
            secret,
            client.public_key,
            algorithms=["ES256"],
            audience=AUDIENCE,
            # Time is the world's clock, checked below.
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise OAuthError("invalid_client", f"client_secret rejected: {exc}") from None
    if claims.get("sub") != client.client_id or claims.get("iss") != client.team_id:
        raise OAuthError("invalid_client", "client_secret sub/iss do not match the client")
    now = world.clock().timestamp()
    try:
        issued, expires = int(claims["iat"]), int(claims["exp"])
    except (KeyError, TypeError, ValueError):
        raise OAuthError("invalid_client", "client_secret needs iat and exp") from None
    if expires <= now or expires - issued > MAX_SECRET_SEC:
        raise OAuthError("invalid_client", "client_secret expired or longer than 180 days")
    value = secrets.token_urlsafe(32)
    expires_at = world.clock() + dt.timedelta(seconds=TOKEN_LIFETIME_SEC)
    with world.lock:
        world.add_token(value, accounts=set(client.accounts), expires_at=expires_at)
        client.tokens.append(value)
    return {
        "access_token": value,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SEC,
        "scope": "searchadsorg",
    }
