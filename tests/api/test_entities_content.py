"""The creative library: create, list and override entries (SPEC §7)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from adpilot.auth import service as auth_service
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.layers import service as layers_service
from tests.conftest import Api

ROW_KEYS = {
    "adsContentId",
    "name",
    "pool",
    "organicScore",
    "safetyFailed",
    "override",
    "assetRefs",
    "createdAt",
    "updatedAt",
}


@pytest.fixture()
def library(boot: dict[str, Any], session_factory: sessionmaker[Session]) -> str:
    """The creative library path of a fresh project of the bootstrap org (sandbox connections
    seed their creatives into their project's library, so that one is never empty)."""
    with transaction(session_factory) as session:
        project = layers_service.create_project(session, boot["organizationId"], "Creatives")
    return f"/v1/projects/{project.id}/ads-content"


def field_of(response: Any) -> str:
    assert response.status_code == 422, response.text
    field: str = response.json()["error"]["details"]["fields"][0]["field"]
    return field


def test_creating_an_entry_returns_the_row(partner: Api, library: str) -> None:
    r = partner.post(
        library,
        json={
            "name": "Summer UGC 01",
            "pool": "ugc",
            "organicScore": 7.5,
            "assetRefs": {"meta_ads": "2384000001", "tiktok": "v0200abc"},
        },
    )
    assert r.status_code == 201, r.text
    row = r.json()
    assert set(row) == ROW_KEYS
    assert row["adsContentId"].startswith("adc_")
    assert row["name"] == "Summer UGC 01"
    assert row["pool"] == "ugc"
    assert row["organicScore"] == 7.5
    assert row["safetyFailed"] is False
    assert row["override"] is None
    assert row["assetRefs"] == {"meta": "2384000001", "tiktok": "v0200abc"}
    assert row["createdAt"] == row["updatedAt"]
    assert row["createdAt"].endswith("Z")

    listed = partner.get(library).json()
    assert listed["items"] == [row]
    assert listed["nextCursor"] is None


def test_defaults_for_a_minimal_entry(partner: Api, library: str) -> None:
    r = partner.post(library, json={"name": "Hand-made banner", "organicScore": 4})
    assert r.status_code == 201, r.text
    assert r.json()["pool"] == "manual"
    assert r.json()["organicScore"] == 4.0
    assert r.json()["assetRefs"] == {}


def test_override_forces_an_entry_in_or_out_and_null_clears_it(partner: Api, library: str) -> None:
    created = partner.post(library, json={"name": "Low score", "organicScore": 1.0})
    entry = f"{library}/{created.json()['adsContentId']}"

    r = partner.patch(entry, json={"override": "include"})
    assert r.status_code == 200, r.text
    assert r.json()["override"] == "include"
    assert partner.get(library).json()["items"][0]["override"] == "include"

    assert partner.patch(entry, json={"override": "exclude"}).json()["override"] == "exclude"
    r = partner.patch(entry, json={"override": None})
    assert r.json()["override"] is None
    assert r.json()["updatedAt"] >= r.json()["createdAt"]


def test_invalid_entries_are_422(partner: Api, library: str) -> None:
    cases = [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "pool": "stock"}, "pool"),
        ({"name": "x", "organicScore": 11}, "organicScore"),
        ({"name": "x", "organicScore": -1}, "organicScore"),
        ({"name": "x", "organicScore": "7"}, "organicScore"),
        ({"name": "x", "safetyFailed": "false"}, "safetyFailed"),
        ({"name": "x", "override": "maybe"}, "override"),
        ({"name": "x", "assetRefs": {"snapchat": "1"}}, "assetRefs.snapchat"),
        ({"name": "x", "score": 5}, "score"),
    ]
    for body, field in cases:
        assert field_of(partner.post(library, json=body)).startswith(field), body
    assert partner.get(library).json()["items"] == []


def test_patching_an_entry(partner: Api, library: str) -> None:
    created = partner.post(library, json={"name": "Entry"})
    entry = f"{library}/{created.json()['adsContentId']}"
    assert field_of(partner.patch(entry, json={})) == "override"
    assert field_of(partner.patch(entry, json={"override": "always"})) == "override"
    assert field_of(partner.patch(entry, json={"override": None, "name": "New"})) == "name"
    r = partner.patch(f"{library}/adc_01NOSUCHENTRY", json={"override": "maybe"})
    assert r.status_code == 404


def test_the_list_filters_by_pool_and_pages_newest_first(partner: Api, library: str) -> None:
    made = [
        partner.post(library, json={"name": f"E{i}", "pool": pool}).json()
        for i, pool in enumerate(["ugc", "generated", "ugc", "manual"])
    ]
    r = partner.get(library, params={"pool": "ugc"})
    assert [e["name"] for e in r.json()["items"]] == ["E2", "E0"]
    r = partner.get(library, params={"pool": "ugc,manual"})
    assert [e["name"] for e in r.json()["items"]] == ["E3", "E2", "E0"]

    first = partner.get(library, params={"limit": 3}).json()
    assert [e["name"] for e in first["items"]] == ["E3", "E2", "E1"]
    rest = partner.get(library, params={"limit": 3, "cursor": first["nextCursor"]})
    assert [e["adsContentId"] for e in rest.json()["items"]] == [made[0]["adsContentId"]]
    assert rest.json()["nextCursor"] is None
    assert field_of(partner.get(library, params={"pool": "stock"})) == "pool"


def test_writes_need_the_creative_scope(
    client: Any,
    boot: dict[str, Any],
    library: str,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        reader = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=boot["organizationId"],
            scopes=["ads:read"],
        )
    api = Api(client, reader.key)
    r = api.post(library, json={"name": "Nope"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "FORBIDDEN_SCOPE"
    assert r.json()["error"]["details"]["requiredScope"] == "ads:write:creative"
    assert api.get(library).status_code == 200
