"""Apple Ads OAuth: the ES256 client-secret JWT and the one-hour access token it buys.

Apple's API credentials are a key pair whose public half is registered in Apple Ads: the client
secret is a JWT signed with the private key (`iss` = team id, `sub` = client id, `aud` =
appleid.apple.com, `kid` header = key id, at most 180 days long), exchanged at the token URL for
a bearer token valid 3600 s. Tokens are cached per process (every adapter opened for the same
credentials shares one), refreshed a few minutes before they expire, and once more when the API
answers 401 (a token revoked or expired early).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from adpilot.platforms.base import PlatformAuthError, PlatformTransientError
from adpilot.platforms.http import PlatformHttp, header_seconds

AUDIENCE = "https://appleid.apple.com"
SCOPE = "searchadsorg"
# Apple allows up to 180 days; a shorter secret limits the damage of a leaked one, and each
# process signs a fresh one anyway.
SECRET_LIFETIME_SEC = 7 * 24 * 3600
# Refresh an access token this long before Apple says it expires (clock skew, slow calls).
REFRESH_MARGIN_SEC = 300.0


@dataclass(frozen=True)
class AppleCredentials:
    """What `POST …/ad-accounts` takes for Apple (camelCase there)."""

    client_id: str
    team_id: str
    key_id: str
    private_key_pem: str

    @classmethod
    def from_camel(cls, raw: Mapping[str, Any]) -> AppleCredentials:
        try:
            creds = cls(
                client_id=str(raw["clientId"]),
                team_id=str(raw["teamId"]),
                key_id=str(raw["keyId"]),
                private_key_pem=str(raw["privateKeyPem"]),
            )
        except KeyError as exc:
            raise PlatformAuthError(
                f"Apple credentials lack {exc.args[0]}", token_status="invalid"
            ) from None
        creds.private_key()  # fail early on a key that cannot sign
        return creds

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        try:
            key = load_pem_private_key(self.private_key_pem.encode(), password=None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise PlatformAuthError(
                "the Apple private key is not an EC P-256 key", token_status="invalid"
            )
        return key

    @property
    def cache_key(self) -> str:
        digest = hashlib.sha256(self.private_key_pem.encode()).hexdigest()[:16]
        return f"{self.client_id}|{self.team_id}|{self.key_id}|{digest}"


def client_secret(creds: AppleCredentials, now: float) -> str:
    """The signed JWT Apple's token endpoint takes as `client_secret`."""
    issued = int(now)
    claims = {
        "sub": creds.client_id,
        "iss": creds.team_id,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + SECRET_LIFETIME_SEC,
    }
    return jwt.encode(claims, creds.private_key(), algorithm="ES256", headers={"kid": creds.key_id})


@dataclass
class _Token:
    value: str
    expires_at: float  # unix seconds


# Process-wide: adapters are opened per run and per dispatch, tokens last an hour.
_TOKENS: dict[str, _Token] = {}
_TOKENS_LOCK = threading.Lock()


class AppleAuth:
    """Bearer tokens for one set of credentials, fetched through `http` from `token_url`."""

    def __init__(
        self,
        creds: AppleCredentials,
        token_url: str,
        http: PlatformHttp,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.creds = creds
        self.token_url = token_url
        self._http = http
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._key = f"{token_url}|{creds.cache_key}"

    def token(self) -> str:
        """A token that will still be valid for a while (cached, or fetched now)."""
        with self._lock:
            with _TOKENS_LOCK:
                cached = _TOKENS.get(self._key)
            now = self._wall()
            if cached is not None and cached.expires_at - REFRESH_MARGIN_SEC > now:
                return cached.value
            return self._fetch()

    def refresh(self, rejected: str) -> str:
        """A new token after the API refused `rejected` (unless another thread already did)."""
        with self._lock:
            with _TOKENS_LOCK:
                cached = _TOKENS.get(self._key)
                if cached is not None and cached.value != rejected:
                    return cached.value
                _TOKENS.pop(self._key, None)
            return self._fetch()

    def _fetch(self) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.creds.client_id,
            "client_secret": client_secret(self.creds, self._wall()),
            "scope": SCOPE,
        }

        def attempt() -> _Token:
            response = self._http.send(
                "POST",
                self.token_url,
                data=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            return self._parse(response)

        token = self._http.call(attempt)
        with _TOKENS_LOCK:
            _TOKENS[self._key] = token
        return token.value

    def _parse(self, response: httpx.Response) -> _Token:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = header_seconds(response, "Retry-After")
            raise PlatformTransientError(
                f"the Apple token endpoint answered HTTP {status}",
                platform_code=str(body.get("error") or f"http_{status}"),
                retry_after=retry_after,
            )
        if status != 200 or not body.get("access_token"):
            # OAuth2 errors: invalid_client (key revoked, wrong ids, bad signature), …
            code = str(body.get("error") or f"http_{status}")
            detail = body.get("error_description")
            message = f"Apple refused the API credentials ({code})"
            raise PlatformAuthError(
                f"{message}: {detail}" if detail else message,
                platform_code=code,
                token_status="invalid",
            )
        lifetime = float(body.get("expires_in") or 3600)
        return _Token(str(body["access_token"]), self._wall() + lifetime)
