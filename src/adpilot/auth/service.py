"""Organizations and API keys: issue, authenticate, list, kill."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adpilot import errors
from adpilot.auth.models import ApiKey, Organization
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.ids import new_id

SCOPES = frozenset(
    {
        "ads:read",
        "ads:write:optimizer_trigger",
        "ads:write:pending",
        "ads:write:policy",
        "ads:write:connect",
        "ads:write:creative",
        "ads:write:direct",
        "jobs:read",
        "jobs:cancel",
        "webhooks:read",
        "webhooks:write",
        "audit:read",
        "keys:admin",
        "*",
    }
)
# Managing the org's keys over the API. Never implied by `*`: a key must be given it by name
# (the bootstrap customer key is), so a partner's all-scopes key cannot revoke the customer's.
ADMIN_SCOPE = "keys:admin"
ACTOR_TYPES = ("partner", "customer")
RATE_LIMIT_TIERS = ("standard", "pilot", "partner")

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_KEY_RE = re.compile(r"^adp_(live|test)_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a valid, live API key."""

    organization_id: str
    organization_name: str
    api_key_id: str
    actor_type: str
    scopes: frozenset[str]
    rate_limit_tier: str

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or ("*" in self.scopes and scope != ADMIN_SCOPE)

    def actor(self) -> dict[str, str]:
        return {
            "actorType": self.actor_type,
            "actorOrganizationId": self.organization_id,
            "actorApiKeyId": self.api_key_id,
        }


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    key: str  # shown once


def hash_secret(secret_key: str, secret: str) -> str:
    """A keyed hash: a leaked table alone cannot be used to check guesses offline."""
    return hmac.new(secret_key.encode(), secret.encode(), hashlib.sha256).hexdigest()


def create_organization(session: Session, name: str) -> Organization:
    org = Organization(id=new_id("org"), name=name, suspended=False, created_at=utcnow())
    session.add(org)
    session.flush()
    return org


def create_api_key(
    session: Session,
    *,
    secret_key: str,
    organization_id: str,
    scopes: list[str],
    actor_type: str = "partner",
    rate_limit_tier: str = "standard",
    name: str | None = None,
    environment: str = "live",
) -> IssuedKey:
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)}")
    if actor_type not in ACTOR_TYPES:
        raise ValueError(f"actor type must be one of {', '.join(ACTOR_TYPES)}")
    if rate_limit_tier not in RATE_LIMIT_TIERS:
        raise ValueError(f"tier must be one of {', '.join(RATE_LIMIT_TIERS)}")
    if session.get(Organization, organization_id) is None:
        raise LookupError(f"organization {organization_id} does not exist")
    public_id = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    secret = secrets.token_urlsafe(32)  # 43 characters
    row = ApiKey(
        id=f"key_{public_id}",
        public_id=public_id,
        organization_id=organization_id,
        name=name,
        environment=environment,
        secret_hash=hash_secret(secret_key, secret),
        actor_type=actor_type,
        scopes=sorted(set(scopes)),
        rate_limit_tier=rate_limit_tier,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return IssuedKey(row, f"adp_{environment}_{public_id}_{secret}")


def authenticate(session: Session, *, secret_key: str, presented: str) -> Principal:
    match = _KEY_RE.match(presented)
    if not match:
        raise errors.unauthenticated("The API key is malformed.")
    _env, public_id, secret = match.groups()
    row = session.scalars(select(ApiKey).where(ApiKey.public_id == public_id)).first()
    if row is None or row.revoked_at is not None:
        raise errors.unauthenticated("The API key is unknown or revoked.")
    if not hmac.compare_digest(row.secret_hash, hash_secret(secret_key, secret)):
        raise errors.unauthenticated("The API key is unknown or revoked.")
    return _principal(session, row)


def principal_of_key(session: Session, key_id: str) -> Principal:
    """The principal of a key already proven once (a dashboard session), re-checked as if it
    were presented now: a revoked or killed key, or a suspended org, stops here."""
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        raise errors.unauthenticated("The API key is unknown or revoked.")
    return _principal(session, row)


def _principal(session: Session, row: ApiKey) -> Principal:
    org = session.get(Organization, row.organization_id)
    assert org is not None
    if row.killed_at is not None:
        raise errors.kill_switch("key")
    if org.suspended:
        raise errors.kill_switch("org")
    return Principal(
        organization_id=org.id,
        organization_name=org.name,
        api_key_id=row.id,
        actor_type=row.actor_type,
        scopes=frozenset(row.scopes),
        rate_limit_tier=row.rate_limit_tier,
    )


def list_keys(session: Session, organization_id: str) -> list[ApiKey]:
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.organization_id == organization_id).order_by(ApiKey.id)
        )
    )


def kill_key(session: Session, key_id: str) -> ApiKey:
    key_id = key_id if key_id.startswith("key_") else f"key_{key_id}"
    row = session.get(ApiKey, key_id)
    if row is None:
        raise LookupError(f"API key {key_id} does not exist")
    if row.killed_at is None:
        row.killed_at = utcnow()
    return row


def _org_key(session: Session, organization_id: str, key_id: str) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None or row.organization_id != organization_id:
        raise errors.not_found(f"API key {key_id}")
    return row


def kill_key_of(session: Session, organization_id: str, key_id: str) -> ApiKey:
    """Kill one of the org's keys (idempotent): later calls with it answer 503 KILL_SWITCH."""
    row = _org_key(session, organization_id, key_id)
    if row.killed_at is None:
        row.killed_at = utcnow()
    return row


def revoke_key_of(session: Session, organization_id: str, key_id: str) -> ApiKey:
    """Revoke one of the org's keys (idempotent): later calls with it answer 401."""
    row = _org_key(session, organization_id, key_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def key_view(row: ApiKey) -> dict[str, Any]:
    """A key as the API shows it: never its secret or hash."""
    return {
        **row.describe(),
        "environment": row.environment,
        "createdAt": isoformat(row.created_at),
        "killedAt": isoformat(row.killed_at),
        "revokedAt": isoformat(row.revoked_at),
    }
