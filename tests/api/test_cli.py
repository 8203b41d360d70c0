"""The operator CLI: `adpilot bootstrap --json` and `adpilot keys create|list|kill` (SPEC §10),
run against their own embedded database and checked through the HTTP API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adpilot.app import create_app
from adpilot.cli import app as cli
from adpilot.config import Settings
from adpilot.db import make_engine, make_session_factory
from adpilot.deps import AppContext

runner = CliRunner()


@pytest.fixture()
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ADPILOT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("ADPILOT_DATABASE_URL", raising=False)
    return tmp_path


def invoke(*args: str) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def api_for(var_dir: Path) -> TestClient:
    settings = Settings(var_dir=var_dir)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    return TestClient(create_app(AppContext(settings=settings, session_factory=factory)))


def test_bootstrap_prints_exactly_one_json_object(var_dir: Path) -> None:
    out = invoke("bootstrap", "--json", "--name", "Acme").stdout
    boot = json.loads(out)  # the whole of stdout is one JSON object
    assert set(boot) == {"organizationId", "projectId", "layers", "partnerKey", "customerKey"}
    assert boot["organizationId"].startswith("org_")
    assert set(boot["layers"]) == {"meta_ads", "tiktok_ads", "apple_ads"}
    assert all(layer.startswith("lyr_") for layer in boot["layers"].values())
    client = api_for(var_dir)
    for actor in ("partner", "customer"):
        me = client.get("/v1/whoami", headers={"Authorization": f"Bearer {boot[actor + 'Key']}"})
        assert me.status_code == 200
        assert me.json()["organizationName"] == "Acme"
        assert me.json()["actorType"] == actor
        # Only the customer manages the org's keys over the API (`*` never implies it).
        scopes = ["*", "keys:admin"] if actor == "customer" else ["*"]
        assert me.json()["scopes"] == scopes and me.json()["rateLimitTier"] == "partner"
    again = json.loads(invoke("bootstrap", "--json").stdout)
    assert again["organizationId"] != boot["organizationId"]  # each call makes a new org


def test_keys_create_list_and_kill(var_dir: Path) -> None:
    boot = json.loads(invoke("bootstrap", "--json").stdout)
    org = boot["organizationId"]
    created = json.loads(
        invoke(
            "keys",
            "create",
            "--org",
            org,
            "--scopes",
            "ads:read,jobs:read",
            "--actor-type",
            "customer",
            "--tier",
            "pilot",
            "--name",
            "reporting",
            "--json",
        ).stdout
    )
    assert created["organizationId"] == org
    assert created["scopes"] == ["ads:read", "jobs:read"]
    assert created["actorType"] == "customer" and created["rateLimitTier"] == "pilot"
    assert created["key"].startswith("adp_live_")
    client = api_for(var_dir)
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/v1/whoami", headers=headers).json()["apiKeyId"] == created["apiKeyId"]
    # A scope the key lacks is a 403 naming it.
    denied = client.post(
        f"/v1/projects/{boot['projectId']}/ads/optimizer/run", headers=headers, json={}
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["details"]["requiredScope"] == "ads:write:optimizer_trigger"

    listed = json.loads(invoke("keys", "list", "--org", org, "--json").stdout)
    assert created["apiKeyId"] in {k["apiKeyId"] for k in listed}
    assert all("key" not in k for k in listed)  # secrets are never shown again

    invoke("keys", "kill", created["apiKeyId"])
    killed = client.get("/v1/whoami", headers=headers)
    assert killed.status_code == 503
    assert killed.json()["error"]["code"] == "KILL_SWITCH"
    assert killed.json()["error"]["details"] == {"scope": "key"}


def test_keys_create_refuses_bad_input(var_dir: Path) -> None:
    boot = json.loads(invoke("bootstrap", "--json").stdout)
    bad_scope = runner.invoke(
        cli, ["keys", "create", "--org", boot["organizationId"], "--scopes", "ads:everything"]
    )
    assert bad_scope.exit_code == 2 and "unknown scopes" in bad_scope.output
    no_org = runner.invoke(cli, ["keys", "create", "--org", "org_nope", "--scopes", "*"])
    assert no_org.exit_code == 2 and "does not exist" in no_org.output
    assert runner.invoke(cli, ["keys", "kill", "key_nope"]).exit_code == 2
