"""Key management over the API: list (no secrets), kill, revoke — for the customer's admin key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.audit.models import AuditEvent
from adpilot.auth import service as auth_service
from adpilot.config import Settings
from adpilot.db import transaction
from tests.conftest import Api


def new_key(
    client: Any, boot: dict[str, Any], settings: Settings, factory: sessionmaker[Session]
) -> tuple[Api, str]:
    with transaction(factory) as session:
        issued = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=boot["organizationId"],
            scopes=["ads:read"],
            name="tool",
        )
    return Api(client, issued.key), issued.api_key.id


def test_the_customer_key_lists_the_orgs_keys_without_their_secrets(
    customer: Api, partner: Api, boot: dict[str, Any]
) -> None:
    r = customer.get("/v1/api-keys")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert {k["actorType"] for k in items} == {"partner", "customer"}
    assert all(k["organizationId"] == boot["organizationId"] for k in items)
    assert boot["partnerKey"] not in r.text and boot["customerKey"] not in r.text
    assert not any("secret" in str(key).lower() or "hash" in str(key).lower() for key in items)
    assert all(k["killedAt"] is None and k["revokedAt"] is None for k in items)


def test_the_partner_key_holding_every_scope_still_cannot_manage_keys(partner: Api) -> None:
    r = partner.get("/v1/api-keys")
    assert r.status_code == 403
    assert r.json()["error"]["details"]["requiredScope"] == "keys:admin"


def test_a_killed_key_answers_503_and_a_revoked_key_401(
    client: Any,
    customer: Api,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    tool, tool_id = new_key(client, boot, settings, session_factory)
    assert tool.get("/v1/whoami").status_code == 200

    killed = customer.post(f"/v1/api-keys/{tool_id}/kill")
    assert killed.status_code == 200, killed.text
    assert killed.json()["killed"] is True and killed.json()["killedAt"]
    r = tool.get("/v1/whoami")
    assert r.status_code == 503 and r.json()["error"]["details"]["scope"] == "key"

    revoked = customer.delete(f"/v1/api-keys/{tool_id}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert tool.get("/v1/whoami").status_code == 401
    listed = {k["apiKeyId"]: k for k in customer.get("/v1/api-keys").json()["items"]}
    assert listed[tool_id]["revokedAt"] is not None
    with session_factory() as session:
        kinds = list(session.scalars(select(AuditEvent.event_type)))
    assert "api_key.killed" in kinds and "api_key.revoked" in kinds


def test_another_orgs_key_is_not_found(
    client: Any, customer: Api, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        other = auth_service.create_organization(session, "Other org")
        issued = auth_service.create_api_key(
            session, secret_key=settings.secret_key, organization_id=other.id, scopes=["*"]
        )
        other_id = issued.api_key.id
    assert customer.post(f"/v1/api-keys/{other_id}/kill").status_code == 404
    assert customer.delete(f"/v1/api-keys/{other_id}").status_code == 404
    assert customer.delete("/v1/api-keys/key_nope").status_code == 404
