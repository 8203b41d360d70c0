"""Cross-cutting rules (SPEC §2.1-2.4): keys, scopes, tenancy, request ids, idempotency, lists,
strict bodies and the order in which errors answer."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from adpilot.auth import service as auth_service
from adpilot.auth.models import Organization
from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.layers import service as layers_service
from tests.conftest import Api

NO_PROJECT = "00000000-0000-0000-0000-000000000000"


def issue_key(
    factory: sessionmaker[Session], settings: Settings, org_id: str, scopes: list[str]
) -> auth_service.IssuedKey:
    with transaction(factory) as session:
        return auth_service.create_api_key(
            session, secret_key=settings.secret_key, organization_id=org_id, scopes=scopes
        )


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["requestId"] == response.headers["X-Request-Id"]
    assert error["message"]
    return error


def defaults_path(boot: dict[str, Any], project_id: str | None = None) -> str:
    return f"/v1/projects/{project_id or boot['projectId']}/ads/meta/defaults"


@pytest.fixture()
def library(boot: dict[str, Any], session_factory: sessionmaker[Session]) -> str:
    """The creative library of a fresh project of the bootstrap org: empty, unlike the library
    of a project with sandbox accounts (they seed their creatives into it)."""
    with transaction(session_factory) as session:
        project = layers_service.create_project(session, boot["organizationId"], "Creatives")
    return f"/v1/projects/{project.id}/ads-content"


# --- 2.1 authentication, scopes, tenancy ---------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer adp_live_abcdefghijklmnop_" + "x" * 43},
        {"X-Api-Key": "adp_test_abcdefghijklmnop_" + "y" * 43},
    ],
)
def test_missing_malformed_or_unknown_keys_are_401(
    client: TestClient, boot: dict[str, Any], headers: dict[str, str]
) -> None:
    r = client.get(defaults_path(boot), headers=headers)
    error_of(r, 401, "UNAUTHENTICATED")


def test_a_tampered_secret_is_401(client: TestClient, boot: dict[str, Any]) -> None:
    key: str = boot["partnerKey"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    r = client.get(defaults_path(boot), headers={"Authorization": f"Bearer {tampered}"})
    error_of(r, 401, "UNAUTHENTICATED")


def test_x_api_key_is_accepted(client: TestClient, boot: dict[str, Any]) -> None:
    r = client.get(defaults_path(boot), headers={"X-Api-Key": boot["partnerKey"]})
    assert r.status_code == 200
    assert r.json()["layerId"] == boot["layers"]["meta_ads"]


def test_a_killed_key_and_a_suspended_org_answer_503(
    client: TestClient,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    victim = issue_key(session_factory, settings, boot["organizationId"], ["*"])
    api = Api(client, victim.key)
    assert api.get(defaults_path(boot)).status_code == 200
    with transaction(session_factory) as session:
        auth_service.kill_key(session, victim.api_key.id)
    error = error_of(api.get(defaults_path(boot)), 503, "KILL_SWITCH")
    assert error["details"]["scope"] == "key"
    # Other keys of the org keep working.
    assert Api(client, boot["partnerKey"]).get(defaults_path(boot)).status_code == 200

    with transaction(session_factory) as session:
        org = session.get(Organization, boot["organizationId"])
        assert org is not None
        org.suspended = True
    error = error_of(Api(client, boot["partnerKey"]).get(defaults_path(boot)), 503, "KILL_SWITCH")
    assert error["details"]["scope"] == "org"


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("PATCH", "/v1/projects/{p}/ads/meta/defaults", "ads:write:policy"),
        ("POST", "/v1/projects/{p}/ads/ad-accounts", "ads:write:connect"),
        ("POST", "/v1/projects/{p}/ads-content", "ads:write:creative"),
        ("GET", "/v1/audit-log", "audit:read"),
    ],
)
def test_a_key_without_the_routes_scope_is_403(
    client: TestClient,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
    method: str,
    path: str,
    scope: str,
) -> None:
    narrow = Api(
        client, issue_key(session_factory, settings, boot["organizationId"], ["ads:read"]).key
    )
    r = narrow.request(method, path.format(p=boot["projectId"]), json={})
    error = error_of(r, 403, "FORBIDDEN_SCOPE")
    assert error["details"]["requiredScope"] == scope
    # A key holding exactly that scope gets past the check.
    exact = Api(client, issue_key(session_factory, settings, boot["organizationId"], [scope]).key)
    assert exact.request(method, path.format(p=boot["projectId"]), json={}).status_code != 403


def test_another_orgs_project_is_404_never_403(
    client: TestClient,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    other = bootstrap_org(settings, session_factory, name="Other org")
    partner = Api(client, boot["partnerKey"])
    theirs = other["projectId"]
    for method, path in [
        ("GET", f"/v1/projects/{theirs}/ads/meta/defaults"),
        ("PATCH", f"/v1/projects/{theirs}/ads/meta/defaults"),
        ("GET", f"/v1/projects/{theirs}/ads/ad-accounts"),
        ("POST", f"/v1/projects/{theirs}/ads/ad-accounts"),
        ("GET", f"/v1/projects/{theirs}/ads/campaigns"),
        ("GET", f"/v1/projects/{theirs}/ads-content"),
        ("POST", f"/v1/projects/{theirs}/ads-content"),
        ("GET", f"/v1/layers/{other['layers']['meta_ads']}"),
    ]:
        r = partner.request(method, path, json={"defaults": {"tactical": "auto"}})
        error_of(r, 404, "NOT_FOUND")
    # Nothing changed on their side.
    mine = Api(client, other["partnerKey"]).get(f"/v1/projects/{theirs}/ads/meta/defaults")
    assert mine.json()["defaults"]["tactical"] == "draft"


# --- 2.2 envelope, request ids, error order ------------------------------------------------------


def test_every_response_carries_a_request_id(partner: Api, boot: dict[str, Any]) -> None:
    responses = [
        partner.get(defaults_path(boot)),
        partner.get("/v1/no-such-route"),
        partner.patch(defaults_path(boot), json={"defaults": {"tactical": "maybe"}}),
        partner.client.get(defaults_path(boot)),
        partner.client.get("/healthz"),
    ]
    request_ids = [r.headers.get("X-Request-Id") for r in responses]
    assert all(rid and rid.startswith("req_") for rid in request_ids)
    assert len(set(request_ids)) == len(request_ids)
    for r in responses:
        if r.status_code >= 400:
            assert r.json()["error"]["requestId"] == r.headers["X-Request-Id"]


def test_errors_answer_in_the_specified_order(
    client: TestClient,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    bad_body = {"defaults": {"tactical": "maybe"}}
    narrow = Api(
        client, issue_key(session_factory, settings, boot["organizationId"], ["ads:read"]).key
    )
    partner = Api(client, boot["partnerKey"])

    # 401 before 403: no key at all, on a route the key would lack the scope for.
    error_of(client.patch(defaults_path(boot, NO_PROJECT), json=bad_body), 401, "UNAUTHENTICATED")
    # 403 scope before 404: a valid key without the scope, on a project that does not exist.
    error_of(narrow.patch(defaults_path(boot, NO_PROJECT), json=bad_body), 403, "FORBIDDEN_SCOPE")
    # 404 before 422: the path's project does not exist and the body is bad.
    error_of(partner.patch(defaults_path(boot, NO_PROJECT), json=bad_body), 404, "NOT_FOUND")
    # 422 before the gate's 403: a partner's bad kill-switch value is a validation error.
    r = partner.patch(defaults_path(boot), json={"killSwitchActive": "on"})
    error_of(r, 422, "VALIDATION")
    error_of(
        partner.patch(defaults_path(boot), json={"killSwitchActive": True}), 403, "AUTHORITY_DENIED"
    )


def test_bodies_that_are_not_json_objects_are_422(partner: Api, boot: dict[str, Any]) -> None:
    for raw in (b"{not json", b"[1, 2]", b"", b'"text"'):
        r = partner.patch(
            defaults_path(boot), content=raw, headers={"Content-Type": "application/json"}
        )
        error = error_of(r, 422, "VALIDATION")
        assert error["details"]["fields"][0]["field"] == "body"


def test_request_bodies_use_strict_json_types(
    partner: Api, boot: dict[str, Any], library: str
) -> None:
    cases = [
        (library, "POST", {"name": "x", "safetyFailed": "false"}, "safetyFailed"),
        (library, "POST", {"name": "x", "organicScore": "5"}, "organicScore"),
        (library, "POST", {"name": 5}, "name"),
        (defaults_path(boot), "PATCH", {"killSwitchActive": 1}, "killSwitchActive"),
        (
            f"/v1/layers/{boot['layers']['meta_ads']}",
            "PATCH",
            {"creativeSlots": "3"},
            "creativeSlots",
        ),
        (
            f"/v1/layers/{boot['layers']['meta_ads']}",
            "PATCH",
            {"creativeSlots": True},
            "creativeSlots",
        ),
    ]
    for path, method, body, field in cases:
        error = error_of(partner.request(method, path, json=body), 422, "VALIDATION")
        assert error["details"]["fields"][0]["field"] == field, body
        assert field in error["message"]


def test_an_unknown_field_in_a_patch_is_422(partner: Api, boot: dict[str, Any]) -> None:
    r = partner.patch(defaults_path(boot), json={"defaults": {"tactical": "auto"}, "dryRun": True})
    error = error_of(r, 422, "VALIDATION")
    assert error["details"]["fields"] == [{"field": "dryRun", "problem": "unknown field"}]
    assert partner.get(defaults_path(boot)).json()["defaults"]["tactical"] == "draft"


def test_ops_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/v1/projects/{projectId}/ads/{platform}/defaults",
        "/v1/projects/{projectId}/ads/{platform}/campaigns/{campaignId}/authority",
        "/v1/layers/{layerId}/optimizer/write-classes",
        "/v1/layers/{layerId}",
        "/v1/projects/{projectId}/ads/ad-accounts",
        "/v1/projects/{projectId}/ads/campaigns",
        "/v1/projects/{projectId}/ads-metrics",
        "/v1/projects/{projectId}/ads-content",
        "/v1/audit-log",
    ):
        assert path in paths, path
    # Bodies parsed by the routes themselves are still documented.
    patch = paths["/v1/projects/{projectId}/ads/{platform}/defaults"]["patch"]
    body = patch["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"defaults", "killSwitchActive", "ceiling"}
    # Nested bodies are inlined: no reference may dangle inside the document.
    assert "#/$defs/" not in spec.text
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    # Every asset the page loads is served by adpilot itself: the docs work offline.
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


# --- 2.3 idempotency -----------------------------------------------------------------------------


def test_a_repeated_key_replays_the_first_answer_byte_for_byte(
    partner: Api, boot: dict[str, Any], library: str
) -> None:
    headers = {"Idempotency-Key": "create-entry-1"}
    first = partner.post(library, json={"name": "Once", "pool": "ugc"}, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = partner.post(library, json={"name": "Once", "pool": "ugc"}, headers=headers)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert len(partner.get(library).json()["items"]) == 1


def test_bodies_are_compared_as_parsed_json(
    partner: Api, boot: dict[str, Any], library: str
) -> None:
    headers = {"Idempotency-Key": "order-insensitive", "Content-Type": "application/json"}
    first = partner.post(library, content=b'{"name":"Spaced","organicScore":5}', headers=headers)
    again = partner.post(
        library,
        content=b'{\n  "organicScore" : 5,\n  "name" : "Spaced"\n}',
        headers=headers,
    )
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == first.content
    assert len(partner.get(library).json()["items"]) == 1


def test_the_same_key_for_a_different_request_is_a_conflict(
    partner: Api, boot: dict[str, Any], library: str
) -> None:
    headers = {"Idempotency-Key": "reused"}
    assert partner.post(library, json={"name": "A"}, headers=headers).status_code == 201
    error_of(
        partner.post(library, json={"name": "B"}, headers=headers),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    # Another path with the same key is a different request too.
    r = partner.patch(defaults_path(boot), json={"defaults": {"tactical": "auto"}}, headers=headers)
    error_of(r, 409, "IDEMPOTENCY_CONFLICT")
    assert partner.get(defaults_path(boot)).json()["defaults"]["tactical"] == "draft"
    assert [e["name"] for e in partner.get(library).json()["items"]] == ["A"]


def test_a_refusal_is_replayed_too(partner: Api, customer: Api, boot: dict[str, Any]) -> None:
    headers = {"Idempotency-Key": "kill-attempt"}
    body = {"killSwitchActive": True}
    first = partner.patch(defaults_path(boot), json=body, headers=headers)
    error_of(first, 403, "AUTHORITY_DENIED")
    again = partner.patch(defaults_path(boot), json=body, headers=headers)
    assert again.status_code == 403
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"


def test_patches_honour_idempotency_keys(partner: Api, boot: dict[str, Any]) -> None:
    path = f"/v1/layers/{boot['layers']['meta_ads']}/optimizer/write-classes"
    headers = {"Idempotency-Key": "wc-1"}
    first = partner.patch(path, json={"writeClasses": {"pause_ad": False}}, headers=headers)
    # A change made in between is not undone by the replay.
    partner.patch(path, json={"writeClasses": {"pause_ad": True}})
    again = partner.patch(path, json={"writeClasses": {"pause_ad": False}}, headers=headers)
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert partner.get(path).json()["writeClasses"]["pause_ad"] is True


def test_without_a_key_every_call_runs_fresh(
    partner: Api, boot: dict[str, Any], library: str
) -> None:
    partner.post(library, json={"name": "Twice"})
    partner.post(library, json={"name": "Twice"})
    assert len(partner.get(library).json()["items"]) == 2


def test_a_malformed_idempotency_key_is_422(
    partner: Api, boot: dict[str, Any], library: str
) -> None:
    r = partner.post(library, json={"name": "x"}, headers={"Idempotency-Key": "k" * 256})
    error_of(r, 422, "VALIDATION")
    assert partner.get(library).json()["items"] == []


# --- 2.4 lists -----------------------------------------------------------------------------------


def test_cursors_are_opaque_signed_and_bound_to_filters(
    partner: Api, boot: dict[str, Any], library: str
) -> None:
    for i in range(3):
        partner.post(library, json={"name": f"E{i}", "pool": "ugc"})
    page = partner.get(library, params={"limit": 1, "pool": "ugc"}).json()
    cursor = page["nextCursor"]
    assert isinstance(cursor, str) and cursor

    # limit may change between pages.
    rest = partner.get(library, params={"limit": 5, "pool": "ugc", "cursor": cursor})
    assert [e["name"] for e in rest.json()["items"]] == ["E1", "E0"]
    # Other filters with the cursor → 422.
    r = partner.get(library, params={"pool": "manual", "cursor": cursor})
    assert error_of(r, 422, "VALIDATION")["details"]["fields"][0]["field"] == "cursor"
    # Malformed and tampered cursors → 422.
    for bad in ("%%%", "abc", cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")):
        r = partner.get(library, params={"pool": "ugc", "cursor": bad})
        error_of(r, 422, "VALIDATION")


def test_repeated_and_comma_separated_filters_are_equal(
    partner: Api, boot: dict[str, Any], library: str
) -> None:
    for pool in ("ugc", "manual", "generated"):
        partner.post(library, json={"name": pool, "pool": pool})
    comma = partner.get(library, params={"pool": "ugc,manual"}).json()
    repeated = partner.get(library, params=[("pool", "ugc"), ("pool", "manual")]).json()
    assert comma == repeated
    assert {e["name"] for e in comma["items"]} == {"ugc", "manual"}
    # A cursor made under one spelling works under the other.
    first = partner.get(library, params={"pool": "ugc,manual", "limit": 1}).json()
    rest = partner.get(
        library,
        params=[("pool", "manual"), ("pool", "ugc"), ("cursor", first["nextCursor"])],
    )
    assert rest.status_code == 200
    assert len(rest.json()["items"]) == 1


def test_request_bodies_may_not_smuggle_types_through_json_strings(
    partner: Api, boot: dict[str, Any]
) -> None:
    raw = json.dumps(
        {"platform": "meta_ads", "externalId": "act_1", "mode": "sandbox", "replace": "true"}
    )
    r = partner.post(
        f"/v1/projects/{boot['projectId']}/ads/ad-accounts",
        content=raw.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert error_of(r, 422, "VALIDATION")["details"]["fields"][0]["field"] == "replace"
