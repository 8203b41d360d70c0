"""Connecting, listing and disconnecting ad accounts (SPEC §7, §8)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.layers import service as layers_service
from tests.conftest import Api

ROW_KEYS = {
    "adAccountId",
    "layerId",
    "platform",
    "externalId",
    "name",
    "currency",
    "timezone",
    "mode",
    "tokenStatus",
    "tokenLastValidatedAt",
    "connectedAt",
}


def pem(key: Any) -> str:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data.decode()


@pytest.fixture()
def bare_project(boot: dict[str, Any], session_factory: sessionmaker[Session]) -> str:
    """A project of the bootstrap org with no layers yet."""
    with transaction(session_factory) as session:
        return layers_service.create_project(session, boot["organizationId"], "Fresh app").id


def accounts_path(project_id: str) -> str:
    return f"/v1/projects/{project_id}/ads/ad-accounts"


def count_rows(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_listing_shows_the_connected_accounts_without_credentials(
    partner: Api, boot: dict[str, Any]
) -> None:
    r = partner.get(accounts_path(boot["projectId"]))
    assert r.status_code == 200
    items = r.json()["items"]
    assert r.json()["nextCursor"] is None
    assert {a["platform"] for a in items} == {"meta_ads", "tiktok_ads", "apple_ads"}
    for account in items:
        assert set(account) == ROW_KEYS
        assert account["layerId"] == boot["layers"][account["platform"]]
        assert account["mode"] == "sandbox"
        assert account["tokenStatus"] == "valid"
        assert account["connectedAt"].endswith("Z")
    assert "credentials" not in r.text


def test_a_sandbox_connection_creates_the_layer(partner: Api, bare_project: str) -> None:
    r = partner.post(
        accounts_path(bare_project),
        json={
            "platform": "tiktok_ads",
            "externalId": "7001",
            "name": "My TikTok",
            "mode": "sandbox",
            # A sandbox needs no credentials: any sent are ignored, never stored.
            "credentials": {"accessToken": "ignored"},
        },
    )
    assert r.status_code == 201, r.text
    account = r.json()
    assert set(account) == ROW_KEYS
    assert account["platform"] == "tiktok_ads"
    assert account["externalId"] == "7001"
    assert account["name"] == "My TikTok"
    assert account["currency"] == "USD"
    assert account["adAccountId"].startswith("aac_")
    assert account["layerId"].startswith("lyr_")

    defaults = partner.get(f"/v1/projects/{bare_project}/ads/tiktok/defaults")
    assert defaults.status_code == 200
    assert defaults.json()["layerId"] == account["layerId"]
    layer = partner.get(f"/v1/layers/{account['layerId']}").json()
    assert layer["adAccountId"] == account["adAccountId"]
    listed = partner.get(accounts_path(bare_project)).json()["items"]
    assert [a["adAccountId"] for a in listed] == [account["adAccountId"]]


def test_the_short_platform_spelling_is_accepted_too(partner: Api, bare_project: str) -> None:
    r = partner.post(
        accounts_path(bare_project),
        json={"platform": "apple", "externalId": "4000123", "mode": "sandbox"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["platform"] == "apple_ads"


def test_a_layer_holds_one_account_unless_replaced(partner: Api, boot: dict[str, Any]) -> None:
    path = accounts_path(boot["projectId"])
    old = next(a for a in partner.get(path).json()["items"] if a["platform"] == "meta_ads")
    layer_path = f"/v1/layers/{boot['layers']['meta_ads']}"
    partner.patch(layer_path, json={"targetCpaCents": 650})

    body = {"platform": "meta_ads", "externalId": "act_2000000002", "mode": "sandbox"}
    r = partner.post(path, json=body)
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "CONFLICT"
    assert error["details"]["subcode"] == "LAYER_HAS_AD_ACCOUNT"

    r = partner.post(path, json={**body, "replace": True})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["adAccountId"] != old["adAccountId"]
    assert new["layerId"] == old["layerId"]
    listed = [a["adAccountId"] for a in partner.get(path).json()["items"]]
    assert new["adAccountId"] in listed
    assert old["adAccountId"] not in listed
    # The swap keeps the layer's settings.
    layer = partner.get(layer_path).json()
    assert layer["targetCpaCents"] == 650
    assert layer["adAccountId"] == new["adAccountId"]


def test_malformed_connections_name_the_field(partner: Api, bare_project: str) -> None:
    rsa_key = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    apple = {"clientId": "c", "teamId": "t", "keyId": "k"}
    cases = [
        (
            {"platform": "meta_ads", "externalId": "123456", "credentials": {"accessToken": "x"}},
            "externalId",
        ),
        (
            {"platform": "tiktok_ads", "externalId": "adv-1", "credentials": {"accessToken": "x"}},
            "externalId",
        ),
        ({"platform": "meta_ads", "externalId": "act_1"}, "credentials"),
        (
            {"platform": "meta_ads", "externalId": "act_1", "credentials": {}},
            "credentials.accessToken",
        ),
        (
            {"platform": "meta_ads", "externalId": "act_1", "credentials": {"accessToken": 5}},
            "credentials.accessToken",
        ),
        (
            {
                "platform": "tiktok_ads",
                "externalId": "7",
                "credentials": {"accessToken": "x", "pw": 1},
            },
            "credentials.pw",
        ),
        (
            {"platform": "apple_ads", "externalId": "4", "credentials": apple},
            "credentials.privateKeyPem",
        ),
        (
            {
                "platform": "apple_ads",
                "externalId": "4",
                "credentials": {**apple, "privateKeyPem": "not a key"},
            },
            "credentials.privateKeyPem",
        ),
        (
            {
                "platform": "apple_ads",
                "externalId": "4",
                "credentials": {**apple, "privateKeyPem": rsa_key},
            },
            "credentials.privateKeyPem",
        ),
        ({"platform": "snapchat", "externalId": "1", "mode": "sandbox"}, "platform"),
        ({"platform": "meta_ads", "externalId": "act_1", "mode": "test"}, "mode"),
        (
            {"platform": "meta_ads", "externalId": "act_1", "mode": "sandbox", "replace": "yes"},
            "replace",
        ),
        ({"platform": "meta_ads", "mode": "sandbox"}, "externalId"),
    ]
    for body, field in cases:
        r = partner.post(accounts_path(bare_project), json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["details"]["fields"][0]["field"] == field, body


def test_disconnecting_an_account(partner: Api, boot: dict[str, Any]) -> None:
    path = accounts_path(boot["projectId"])
    apple = next(a for a in partner.get(path).json()["items"] if a["platform"] == "apple_ads")

    r = partner.delete(f"{path}/{apple['adAccountId']}")
    assert r.status_code == 204
    assert r.content == b""
    assert apple["adAccountId"] not in [a["adAccountId"] for a in partner.get(path).json()["items"]]
    assert partner.get(f"/v1/layers/{apple['layerId']}").json()["adAccountId"] is None
    # The layer stays, but has nothing to optimize.
    run = partner.post(
        f"/v1/projects/{boot['projectId']}/ads/optimizer/run",
        json={"layerId": apple["layerId"], "platform": "apple_ads"},
    )
    assert run.status_code == 409
    assert run.json()["error"]["details"]["subcode"] == "NO_AD_ACCOUNT"

    again = partner.delete(f"{path}/{apple['adAccountId']}")
    assert again.status_code == 404
    assert partner.delete(f"{path}/aac_01NOSUCHACCOUNT").status_code == 404


def library_refs(partner: Api, project_id: str, platform: str) -> set[str]:
    items = partner.get(f"/v1/projects/{project_id}/ads-content", params={"limit": 200}).json()
    return {ref for e in items["items"] if (ref := e["assetRefs"].get(platform))}


def test_a_sandbox_accounts_creatives_leave_the_library_with_it(
    partner: Api, boot: dict[str, Any]
) -> None:
    path = accounts_path(boot["projectId"])
    before = {p: library_refs(partner, boot["projectId"], p) for p in ("meta", "apple")}
    assert before["meta"] and before["apple"]

    apple = next(a for a in partner.get(path).json()["items"] if a["platform"] == "apple_ads")
    assert partner.delete(f"{path}/{apple['adAccountId']}").status_code == 204
    # Its creatives exist only in its simulated market: no account of the layer can use them.
    assert library_refs(partner, boot["projectId"], "apple") == set()
    assert library_refs(partner, boot["projectId"], "meta") == before["meta"]

    # A replacing sandbox brings its own creatives instead of the old ones.
    body = {"platform": "meta_ads", "externalId": "act_3000000003", "mode": "sandbox"}
    r = partner.post(path, json={**body, "replace": True})
    assert r.status_code == 201, r.text
    after = library_refs(partner, boot["projectId"], "meta")
    assert after and not (after & before["meta"])


def test_accounts_of_another_org_are_invisible(
    partner: Api,
    boot: dict[str, Any],
    client: Any,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    other = bootstrap_org(settings, session_factory, name="Other org")
    assert partner.get(accounts_path(other["projectId"])).status_code == 404
    other_api = Api(client, other["partnerKey"])
    theirs = other_api.get(accounts_path(other["projectId"])).json()["items"][0]
    r = partner.delete(f"{accounts_path(boot['projectId'])}/{theirs['adAccountId']}")
    assert r.status_code == 404
    r = partner.delete(f"{accounts_path(other['projectId'])}/{theirs['adAccountId']}")
    assert r.status_code == 404
    assert len(other_api.get(accounts_path(other["projectId"])).json()["items"]) == 3
