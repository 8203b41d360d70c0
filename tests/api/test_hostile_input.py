"""Hostile or odd input is a clear 4xx, and even a bug answers in the envelope (SPEC §2.2)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from adpilot.app import create_app
from adpilot.deps import AppContext
from tests.conftest import Api


def field_of(response: Any) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION"
    assert error["requestId"] == response.headers["X-Request-Id"]
    return str(error["details"]["fields"][0]["field"])


def test_absurdly_nested_json_is_422(partner: Api, boot: dict[str, Any]) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    layer = boot["layers"]["meta_ads"]
    for key in (None, "nested-1"):
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        r = partner.patch(f"/v1/layers/{layer}", content=deep, headers=headers)
        assert field_of(r) == "body"


def test_a_body_nested_past_any_real_request_is_422(partner: Api, boot: dict[str, Any]) -> None:
    layer = boot["layers"]["meta_ads"]
    # Deep enough to pass the JSON parser, far deeper than any body of ours.
    deep: Any = "x"
    for _ in range(900):
        deep = [deep]
    r = partner.patch(f"/v1/layers/{layer}", json={"conversionEvent": deep})
    assert field_of(r).startswith("conversionEvent")
    assert "nested" in r.json()["error"]["message"]


def test_nul_characters_are_refused_wherever_they_appear(
    partner: Api, boot: dict[str, Any]
) -> None:
    layer = boot["layers"]["meta_ads"]
    r = partner.patch(f"/v1/layers/{layer}", json={"conversionEvent": "a\x00b"})
    assert field_of(r) == "conversionEvent"
    r = partner.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/x", "events": ["test.ping"], "description": "\x00"},
    )
    assert field_of(r) == "description"
    assert field_of(partner.get(f"/v1/projects/{boot['projectId']}%00/ads/meta/pending")) == "path"
    r = partner.get(f"/v1/projects/{boot['projectId']}/ads/ads", params={"campaignId": "c\x00"})
    assert field_of(r) == "campaignId"


def test_dates_outside_the_calendar_are_422(partner: Api, boot: dict[str, Any]) -> None:
    project = boot["projectId"]
    metrics = f"/v1/projects/{project}/ads-metrics"
    far = {"scope": "layer", "id": boot["layers"]["meta_ads"], "since": "9999-12-31"}
    assert field_of(partner.get(metrics, params={**far, "until": "9999-12-31"})) == "since"
    early = {"scope": "layer", "id": boot["layers"]["meta_ads"], "until": "0001-01-01"}
    assert field_of(partner.get(metrics, params=early)) == "until"
    assert field_of(partner.get("/v1/audit-log", params={"until": "9999-12-31"})) == "until"
    assert (
        field_of(partner.get("/v1/audit-log", params={"since": "0001-01-01T00:00:00"})) == "since"
    )


def test_a_bug_answers_500_in_the_envelope_with_a_request_id_and_is_counted(
    ctx: AppContext,
) -> None:
    app = create_app(ctx)

    def explode() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/v1/explode")
        assert r.status_code == 500
        error = r.json()["error"]
        assert error["code"] == "INTERNAL"
        assert error["requestId"] == r.headers["X-Request-Id"]
        assert "a bug" not in r.text  # no internals leak
        metrics = client.get("/metrics").text
    assert 'path="/v1/explode",status="500"' in metrics or (
        "/v1/explode" in metrics and 'status="500"' in metrics
    )


def test_a_405_names_the_allowed_methods(partner: Api) -> None:
    r = partner.request("PUT", "/v1/whoami")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in r.headers["Allow"]


def test_a_refusal_of_a_request_that_never_started_is_not_kept(partner: Api) -> None:
    # Deleting an endpoint that does not exist: both answers are a fresh 404, never a replayed
    # success, and the key stays usable for a request that can run.
    key = {"Idempotency-Key": "delete-missing"}
    for _ in range(2):
        r = partner.delete("/v1/webhook-endpoints/we_missing", headers=key)
        assert r.status_code == 404, r.text
        assert "Idempotent-Replayed" not in r.headers
