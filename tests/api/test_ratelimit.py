"""Rate limits (SPEC §2.5): per-key read, write and job buckets, their headers and the 429."""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterator
from itertools import cycle
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from adpilot.app import create_app
from adpilot.auth import service as auth_service
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.deps import AppContext
from tests.conftest import Api

REDIS_TEST_URL = os.environ.get("ADPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RATE_HEADERS = (
    "X-RateLimit-Endpoint-Class",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)


def standard_key(
    factory: sessionmaker[Session], settings: Settings, org_id: str, scopes: list[str] | None = None
) -> str:
    with transaction(factory) as session:
        issued = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=org_id,
            scopes=scopes or ["*"],
            rate_limit_tier="standard",
        )
    return issued.key


@pytest.fixture()
def standard(
    client: TestClient, boot: dict[str, Any], settings: Settings, session_factory: Any
) -> Api:
    return Api(client, standard_key(session_factory, settings, boot["organizationId"]))


def cheap_writes(boot: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Write-class requests answered by a 404 after one lookup: PATCH, DELETE and a small POST."""
    project = boot["projectId"]
    return cycle(
        [
            ("PATCH", "/v1/layers/lyr_00000000-0000-0000-0000-000000000000"),
            ("DELETE", f"/v1/projects/{project}/ads/ad-accounts/aac_01JZZZZZZZZZZZZZZZZZZZZZZZ"),
            ("POST", "/v1/jobs/job_01JZZZZZZZZZZZZZZZZZZZZZZZ/cancel"),
        ]
    )


def spend_writes(api: Api, boot: dict[str, Any], count: int) -> list[httpx.Response]:
    writes = cheap_writes(boot)
    return [api.request(*next(writes), json={}) for _ in range(count)]


def trigger_path(boot: dict[str, Any]) -> str:
    return f"/v1/projects/{boot['projectId']}/ads/optimizer/run"


def assert_rate_limited(response: httpx.Response, endpoint_class: str, limit: int) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMITED"
    assert error["requestId"] == response.headers["X-Request-Id"]
    assert endpoint_class in error["message"] and str(limit) in error["message"]
    assert error["details"] == {"endpointClass": endpoint_class, "limit": limit}
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Endpoint-Class"] == endpoint_class
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_reads_carry_the_headers_and_count_down(partner: Api) -> None:
    before = time.time()
    first = partner.get("/v1/whoami")
    second = partner.get("/v1/whoami")
    after = time.time()
    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Endpoint-Class"] == "read"
        assert response.headers["X-RateLimit-Limit"] == "6000"  # the bootstrap keys are `partner`
        # The window frees its first slot a minute after the first request.
        assert math.floor(before) + 60 <= int(response.headers["X-RateLimit-Reset"])
        assert int(response.headers["X-RateLimit-Reset"]) <= math.ceil(after) + 60
    assert first.headers["X-RateLimit-Remaining"] == "5999"
    assert second.headers["X-RateLimit-Remaining"] == "5998"


def test_a_standard_key_may_make_60_writes_a_minute(standard: Api, boot: dict[str, Any]) -> None:
    answers = spend_writes(standard, boot, 60)
    # Error answers count, and carry the headers, as long as the key was valid.
    assert {r.status_code for r in answers} == {404}
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == [
        str(n) for n in range(59, -1, -1)
    ]
    assert {r.headers["X-RateLimit-Endpoint-Class"] for r in answers} == {"write"}
    assert {r.headers["X-RateLimit-Limit"] for r in answers} == {"60"}
    # PATCH, DELETE and the small POST share the one bucket.
    for refused in spend_writes(standard, boot, 3):
        assert_rate_limited(refused, "write", 60)


def test_the_61st_write_waits_until_the_first_leaves_the_window(
    standard: Api, boot: dict[str, Any]
) -> None:
    answers = spend_writes(standard, boot, 61)
    refused = answers[-1]
    assert_rate_limited(refused, "write", 60)
    # A fresh key spends its whole allowance at once, so the next slot frees a minute after the
    # first request: Retry-After points at X-RateLimit-Reset.
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert reset == int(answers[0].headers["X-RateLimit-Reset"])
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_a_standard_key_may_start_20_jobs_a_minute_and_invalid_triggers_count(
    standard: Api, boot: dict[str, Any]
) -> None:
    # An empty body is refused with 422 after the quota is spent, so it is a cheap job request.
    answers = [standard.post(trigger_path(boot), json={}) for _ in range(20)]
    assert {r.status_code for r in answers} == {422}
    assert {r.headers["X-RateLimit-Endpoint-Class"] for r in answers} == {"job"}
    assert answers[-1].headers["X-RateLimit-Remaining"] == "0"
    valid = {"layerId": boot["layers"]["meta_ads"], "platform": "meta_ads", "dryRun": True}
    assert_rate_limited(standard.post(trigger_path(boot), json=valid), "job", 20)
    # Cancelling a job is a small POST: it spends the write bucket, not the job bucket.
    cancel = standard.post("/v1/jobs/job_01JZZZZZZZZZZZZZZZZZZZZZZZ/cancel")
    assert cancel.status_code == 404
    assert cancel.headers["X-RateLimit-Endpoint-Class"] == "write"
    assert cancel.headers["X-RateLimit-Remaining"] == "59"


def test_reads_are_unaffected_when_writes_are_exhausted(
    standard: Api, boot: dict[str, Any]
) -> None:
    spend_writes(standard, boot, 61)
    read = standard.get(f"/v1/projects/{boot['projectId']}/ads/optimizer/runs")
    assert read.status_code == 200
    assert read.headers["X-RateLimit-Endpoint-Class"] == "read"
    assert read.headers["X-RateLimit-Limit"] == "120"
    assert read.headers["X-RateLimit-Remaining"] == "119"


def test_buckets_belong_to_one_key(
    client: TestClient,
    standard: Api,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: Any,
) -> None:
    spend_writes(standard, boot, 61)
    same_org = Api(client, standard_key(session_factory, settings, boot["organizationId"]))
    other = spend_writes(same_org, boot, 1)[0]
    assert other.status_code == 404
    assert other.headers["X-RateLimit-Remaining"] == "59"


def test_unauthenticated_requests_are_not_counted(
    client: TestClient, standard: Api, boot: dict[str, Any]
) -> None:
    method, path = next(cheap_writes(boot))
    bad_secret = standard.headers["Authorization"][:-4] + "AAAA"
    for headers in ({}, {"Authorization": bad_secret}, {"Authorization": "Basic x"}):
        refused = client.request(method, path, headers=headers, json={})
        assert refused.status_code == 401
        assert not any(h in refused.headers for h in RATE_HEADERS)
    assert standard.request(method, path, json={}).headers["X-RateLimit-Remaining"] == "59"


def test_the_limit_answers_before_scope_path_and_body_errors(
    client: TestClient, boot: dict[str, Any], settings: Settings, session_factory: Any
) -> None:
    reader = Api(
        client, standard_key(session_factory, settings, boot["organizationId"], ["ads:read"])
    )
    denied = spend_writes(reader, boot, 60)
    assert {r.json()["error"]["code"] for r in denied} == {"FORBIDDEN_SCOPE"}
    assert denied[-1].headers["X-RateLimit-Remaining"] == "0"
    # Over the limit, a request that would be 403 (scope), 404 or 422 is answered 429.
    assert_rate_limited(reader.patch("/v1/layers/lyr_missing", json={"x": 1}), "write", 60)


def test_an_idempotent_replay_still_counts(standard: Api) -> None:
    path = "/v1/webhook-endpoints"
    body = {"url": "http://127.0.0.1:9/hook", "events": ["test.ping"]}
    headers = {"Idempotency-Key": "create-once"}
    first = standard.post(path, json=body, headers=headers)
    replay = standard.post(path, json=body, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    assert first.headers["X-RateLimit-Remaining"] == "59"
    assert replay.headers["X-RateLimit-Remaining"] == "58"


def test_the_openapi_document_names_the_job_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    trigger = paths["/v1/projects/{projectId}/ads/optimizer/run"]["post"]
    assert trigger["x-rate-limit-class"] == "job"
    assert trigger["requestBody"]["required"] is True


# --- distributed mode: buckets shared through Redis ----------------------------------------------


@pytest.fixture()
def redis_prefix() -> Iterator[str]:
    """A key prefix unique to this test; only keys under it are removed afterwards.

    The test runs only when `ADPILOT_TEST_REDIS_URL` is set (always under CI, see the Makefile);
    then an unreachable Redis fails it.
    """
    server = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        server.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_TEST_URL} is unreachable: {exc}")
    prefix = f"adpilot-test-{uuid.uuid4().hex}"
    try:
        yield prefix
    finally:
        stale = list(server.scan_iter(match=f"{prefix}*"))
        if stale:
            server.delete(*stale)
        server.close()


@pytest.mark.redis
def test_api_processes_share_buckets_through_redis(
    ctx: AppContext, boot: dict[str, Any], settings: Settings, redis_prefix: str
) -> None:
    distributed = settings.model_copy(
        update={"redis_url": REDIS_TEST_URL, "rate_limit_key_prefix": redis_prefix}
    )
    key = standard_key(ctx.session_factory, settings, boot["organizationId"])
    apps = [
        create_app(AppContext(settings=distributed, session_factory=ctx.session_factory))
        for _ in range(2)
    ]
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
        first, second = Api(one, key), Api(two, key)
        half = spend_writes(first, boot, 30)
        assert half[-1].headers["X-RateLimit-Remaining"] == "30"
        rest = spend_writes(second, boot, 30)
        assert rest[0].headers["X-RateLimit-Remaining"] == "29"
        assert rest[-1].headers["X-RateLimit-Remaining"] == "0"
        assert_rate_limited(spend_writes(first, boot, 1)[0], "write", 60)
        assert_rate_limited(spend_writes(second, boot, 1)[0], "write", 60)
        # The shared bucket is the key's write bucket only.
        assert first.get("/v1/whoami").headers["X-RateLimit-Remaining"] == "119"
    server = redis.Redis.from_url(REDIS_TEST_URL)
    assert list(server.scan_iter(match=f"{redis_prefix}*"))
    server.close()
