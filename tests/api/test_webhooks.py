"""Webhook endpoints over the API: create, read, list, change, delete, secrets, tenancy."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.audit.models import AuditEvent
from adpilot.auth import service as auth_service
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.layers import service as layers_service
from tests.conftest import Api, Org

HOOK = "https://hooks.example.com/adpilot"


def make_org(
    client: TestClient,
    settings: Settings,
    session_factory: sessionmaker[Session],
    name: str,
    scopes: list[str] | None = None,
) -> Org:
    with transaction(session_factory) as session:
        org = auth_service.create_organization(session, name)
        project = layers_service.create_project(session, org.id, f"{name} project")
        issued = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=org.id,
            scopes=scopes or ["*"],
            rate_limit_tier="partner",
        )
    return Org(org.id, project.id, Api(client, issued.key))


@pytest.fixture()
def other(client: TestClient, settings: Settings, session_factory: sessionmaker[Session]) -> Org:
    return make_org(client, settings, session_factory, "Someone else")


def create(api: Api, **body: Any) -> dict[str, Any]:
    payload = {"url": HOOK, "events": ["ads.optimizer.run.completed"], **body}
    answer = api.post("/v1/webhook-endpoints", json=payload)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def field_of(answer: Any) -> str:
    assert answer.status_code == 422, answer.text
    body = answer.json()["error"]
    assert body["code"] == "VALIDATION"
    return str(body["details"]["fields"][0]["field"])


def test_create_answers_201_with_the_endpoint_and_a_secret_shown_once(
    org: Org, session_factory: sessionmaker[Session]
) -> None:
    answer = org.api.post(
        "/v1/webhook-endpoints",
        json={
            "url": HOOK,
            "events": ["ads.optimizer.run.completed", "job.failed"],
            "description": "Agency tool",
            "projectId": org.project_id,
        },
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    endpoint = body["endpoint"]
    assert endpoint["id"].startswith("we_")
    assert endpoint["url"] == HOOK
    assert endpoint["events"] == ["ads.optimizer.run.completed", "job.failed"]
    assert endpoint["description"] == "Agency tool"
    assert endpoint["projectId"] == org.project_id
    assert endpoint["status"] == "active"
    assert endpoint["createdAt"].endswith("Z")
    secret = body["signingSecret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32

    read = org.api.get(f"/v1/webhook-endpoints/{endpoint['id']}")
    assert read.status_code == 200
    assert read.json() == endpoint
    assert "whsec_" not in read.text
    listed = org.api.get("/v1/webhook-endpoints")
    assert listed.json() == {"items": [endpoint], "nextCursor": None}
    assert "whsec_" not in listed.text
    with session_factory() as session:
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.organization_id == org.id)
        ).all()
    assert [(e.event_type, e.data["endpointId"]) for e in audited] == [
        ("webhook_endpoint.created", endpoint["id"])
    ]
    assert "whsec_" not in str([e.data for e in audited])


def test_create_defaults_description_and_project_to_null_and_drops_duplicate_events(
    org: Org,
) -> None:
    body = create(org.api, events=["job.failed", "job.failed", "test.ping"])
    assert body["endpoint"]["description"] is None
    assert body["endpoint"]["projectId"] is None
    assert body["endpoint"]["events"] == ["job.failed", "test.ping"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": HOOK, "events": ["ads.run.exploded"]}, "events"),
        ({"url": HOOK, "events": []}, "events"),
        ({"url": HOOK, "events": ["job.failed"] * 51}, "events"),
        ({"url": HOOK, "events": "job.failed"}, "events"),
        ({"url": HOOK}, "events"),
        ({"events": ["job.failed"]}, "url"),
        ({"url": "http://hooks.example.com/x", "events": ["job.failed"]}, "url"),
        ({"url": "ftp://hooks.example.com/x", "events": ["job.failed"]}, "url"),
        ({"url": HOOK, "events": ["job.failed"], "description": "x" * 501}, "description"),
        ({"url": HOOK, "events": ["job.failed"], "secret": "mine"}, "secret"),
        ({"url": HOOK, "events": ["job.failed"], "projectId": 7}, "projectId"),
    ],
)
def test_bad_create_bodies_are_422_naming_the_field(
    org: Org, payload: dict[str, Any], field: str
) -> None:
    answer = org.api.post("/v1/webhook-endpoints", json=payload)
    assert field_of(answer).split(".")[0] == field
    assert org.api.get("/v1/webhook-endpoints").json()["items"] == []


def test_an_unknown_event_name_is_named_in_the_message(org: Org) -> None:
    answer = org.api.post("/v1/webhook-endpoints", json={"url": HOOK, "events": ["nope"]})
    assert field_of(answer) == "events"
    assert "nope" in answer.json()["error"]["message"]


def test_loopback_http_receivers_are_accepted_when_embedded(org: Org) -> None:
    for url in ("http://localhost:8080/hook", "http://127.0.0.1:9000/hook"):
        assert create(org.api, url=url)["endpoint"]["url"] == url


def test_a_project_of_another_org_or_no_project_is_404(org: Org, other: Org) -> None:
    for project_id in (other.project_id, "00000000-0000-0000-0000-000000000000"):
        answer = org.api.post(
            "/v1/webhook-endpoints",
            json={"url": HOOK, "events": ["job.failed"], "projectId": project_id},
        )
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "NOT_FOUND"


def test_patch_changes_only_the_given_fields(org: Org) -> None:
    endpoint = create(org.api, description="before")["endpoint"]
    path = f"/v1/webhook-endpoints/{endpoint['id']}"

    answer = org.api.patch(path, json={"events": ["job.completed", "job.canceled"]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {**endpoint, "events": ["job.completed", "job.canceled"]}

    answer = org.api.patch(
        path, json={"url": "https://other.example.com/h", "status": "disabled", "description": None}
    )
    assert answer.status_code == 200, answer.text
    changed = answer.json()
    assert changed["url"] == "https://other.example.com/h"
    assert changed["status"] == "disabled"
    assert changed["description"] is None
    assert org.api.get(path).json() == changed

    assert org.api.patch(path, json={"status": "active"}).json()["status"] == "active"
    assert org.api.patch(path, json={}).json() == {**changed, "status": "active"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"projectId": None}, "projectId"),
        ({"signingSecret": "whsec_x"}, "signingSecret"),
        ({"status": "auto_paused"}, "status"),
        ({"status": "paused"}, "status"),
        ({"status": None}, "status"),
        ({"url": None}, "url"),
        ({"url": "http://example.com/h"}, "url"),
        ({"events": None}, "events"),
        ({"events": []}, "events"),
        ({"events": ["job.exploded"]}, "events"),
        ({"description": 5}, "description"),
    ],
)
def test_bad_patches_are_422_and_change_nothing(
    org: Org, payload: dict[str, Any], field: str
) -> None:
    endpoint = create(org.api)["endpoint"]
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    assert field_of(org.api.patch(path, json=payload)).split(".")[0] == field
    assert org.api.get(path).json() == endpoint


def test_an_unknown_endpoint_is_404_before_a_bad_body_is_422(org: Org) -> None:
    answer = org.api.patch("/v1/webhook-endpoints/we_01NOPE", json={"status": "nonsense"})
    assert answer.status_code == 404


def test_delete_is_204_and_the_endpoint_is_gone(org: Org) -> None:
    endpoint = create(org.api)["endpoint"]
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    answer = org.api.delete(path)
    assert answer.status_code == 204
    assert answer.content == b""
    assert org.api.get(path).status_code == 404
    assert org.api.patch(path, json={"status": "active"}).status_code == 404
    assert org.api.delete(path).status_code == 404
    assert org.api.get("/v1/webhook-endpoints").json()["items"] == []


def test_another_orgs_endpoint_is_404_on_every_route(org: Org, other: Org) -> None:
    endpoint = create(org.api)["endpoint"]
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/test"),
        ("POST", "/rotate-secret"),
        ("GET", "/deliveries"),
    ]:
        kwargs: dict[str, Any] = {"json": {"status": "disabled"}} if method == "PATCH" else {}
        answer = other.api.request(method, path + suffix, **kwargs)
        assert answer.status_code == 404, (method, suffix, answer.text)
    assert other.api.get("/v1/webhook-endpoints").json()["items"] == []
    assert org.api.get(path).json() == endpoint


def test_scopes_read_and_write_are_required(
    client: TestClient, settings: Settings, session_factory: sessionmaker[Session], org: Org
) -> None:
    endpoint = create(org.api)["endpoint"]
    reader = make_org(client, settings, session_factory, "Reader", ["webhooks:read"])
    answer = reader.api.post("/v1/webhook-endpoints", json={"url": HOOK, "events": ["job.failed"]})
    assert answer.status_code == 403
    assert answer.json()["error"]["details"] == {"requiredScope": "webhooks:write"}
    assert reader.api.get("/v1/webhook-endpoints").status_code == 200

    writer = make_org(client, settings, session_factory, "Writer", ["webhooks:write"])
    answer = writer.api.get(f"/v1/webhook-endpoints/{endpoint['id']}")
    assert answer.status_code == 403
    assert answer.json()["error"]["details"] == {"requiredScope": "webhooks:read"}


def test_rotate_secret_returns_a_new_secret_once(org: Org) -> None:
    created = create(org.api)
    path = f"/v1/webhook-endpoints/{created['endpoint']['id']}"
    answer = org.api.post(f"{path}/rotate-secret")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["endpoint"] == created["endpoint"]
    assert body["signingSecret"].startswith("whsec_")
    assert body["signingSecret"] != created["signingSecret"]
    assert body["previousSecretExpiresAt"].endswith("Z")
    assert "whsec_" not in org.api.get(path).text


def test_create_with_an_idempotency_key_is_replayed(org: Org) -> None:
    headers = {"Idempotency-Key": "create-hook-1"}
    payload = {"url": HOOK, "events": ["job.failed"]}
    first = org.api.post("/v1/webhook-endpoints", json=payload, headers=headers)
    again = org.api.post("/v1/webhook-endpoints", json=payload, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(org.api.get("/v1/webhook-endpoints").json()["items"]) == 1
    changed = org.api.post(
        "/v1/webhook-endpoints", json={**payload, "events": ["job.completed"]}, headers=headers
    )
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"


def test_lists_page_newest_first_with_cursors_bound_to_the_list(org: Org) -> None:
    ids = [create(org.api)["endpoint"]["id"] for _ in range(3)]
    first = org.api.get("/v1/webhook-endpoints", params={"limit": 2}).json()
    assert [e["id"] for e in first["items"]] == ids[::-1][:2]
    assert first["nextCursor"]
    second = org.api.get(
        "/v1/webhook-endpoints", params={"limit": 2, "cursor": first["nextCursor"]}
    ).json()
    assert [e["id"] for e in second["items"]] == [ids[0]]
    assert second["nextCursor"] is None

    assert field_of(org.api.get("/v1/webhook-endpoints", params={"cursor": "garbage"})) == "cursor"
    assert field_of(org.api.get("/v1/webhook-endpoints", params={"limit": 0})) == "limit"
    assert field_of(org.api.get("/v1/webhook-endpoints", params={"limit": 201})) == "limit"
    # A cursor of the endpoints list means nothing to a deliveries list.
    deliveries = f"/v1/webhook-endpoints/{ids[0]}/deliveries"
    assert field_of(org.api.get(deliveries, params={"cursor": first["nextCursor"]})) == "cursor"
    assert field_of(org.api.get(deliveries, params={"status": "lost"})) == "status"


def test_actions_on_a_disabled_endpoint_are_409(org: Org) -> None:
    endpoint = create(org.api)["endpoint"]
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    org.api.patch(path, json={"status": "disabled"})
    answer = org.api.post(f"{path}/test")
    assert answer.status_code == 409
    assert answer.json()["error"]["details"] == {
        "subcode": "ENDPOINT_NOT_ACTIVE",
        "status": "disabled",
    }


def test_action_routes_refuse_unknown_body_fields(org: Org) -> None:
    endpoint = create(org.api)["endpoint"]
    answer = org.api.post(f"/v1/webhook-endpoints/{endpoint['id']}/test", json={"loud": True})
    assert field_of(answer) == "loud"
    assert org.api.post("/v1/webhook-deliveries/whd_01NOPE/replay").status_code == 404
