"""Shared steps for the dashboard tests (no tests here): sign in through the form, read tokens,
one completed run to look at."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api


def form_value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no {name} field on the page"
    return found.group(1)


def sign_in(client: TestClient, key: str, next_path: str = "/app") -> httpx.Response:
    form = client.get("/app")
    token = form_value(form.text, "signin_token")
    return client.post("/app/sign-in", data={"signin_token": token, "key": key, "next": next_path})


@pytest.fixture()
def run(partner: Api, boot: dict[str, Any], job_runtime: Any) -> dict[str, Any]:
    """One completed Meta run, triggered the way a partner does."""
    response = partner.post(
        f"/v1/projects/{boot['projectId']}/ads/optimizer/run",
        json={"layerId": boot["layers"]["meta_ads"], "platform": "meta_ads"},
    )
    assert response.status_code == 202, response.text
    job_runtime.wait(response.json()["runId"], timeout=60)
    body: dict[str, Any] = partner.get(response.json()["runUrl"]).json()
    assert body["status"] == "completed", body["error"]
    return body


def pending_url(boot: dict[str, Any]) -> str:
    return f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}/pending"


def api_row(partner: Api, boot: dict[str, Any], pending_id: str) -> dict[str, Any]:
    path = f"/v1/projects/{boot['projectId']}/ads/meta/pending/{pending_id}"
    row: dict[str, Any] = partner.get(path).json()
    return row


def queued_ids(run: dict[str, Any]) -> list[str]:
    ids = [c["pendingId"] for c in run["changes"] if c["outcome"] == "queued"]
    assert ids, "the bootstrap account's first run queues proposals (all axes default to draft)"
    return ids
