"""A live TikTok account through adpilot's API, against the fake over loopback: connect, runs,
approvals dispatched to the platform, refusals and expired tokens."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.app import create_app
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.deps import AppContext
from adpilot.fakes.server import RunningFake
from adpilot.layers import service as layers_service
from adpilot.sim.tables import ACTIVE, DELETED, PAUSED
from tests.conftest import Api
from tests.platforms.live_api import approve_and_wait, connect_live, pending_of, run_to_end
from tests.platforms.tiktok_support import market, new_advertiser, shared_fake

API = "/open_api/v1.3"


@pytest.fixture()
def fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


@pytest.fixture()
def project_id(boot: dict[str, Any], session_factory: sessionmaker[Session]) -> str:
    """A project of the bootstrap org with no TikTok layer yet."""
    with transaction(session_factory) as session:
        project = layers_service.create_project(session, boot["organizationId"], "Live TikTok")
        return project.id


def connect(api: Api, project_id: str, advertiser: str, credentials: dict[str, Any]) -> Any:
    return connect_live(api, project_id, "tiktok", advertiser, credentials)


def connected(api: Api, project_id: str, fake: RunningFake) -> tuple[str, dict[str, Any]]:
    advertiser = new_advertiser()
    response = connect(api, project_id, advertiser, fake.credentials_for(advertiser))
    assert response.status_code == 201, response.text
    return advertiser, response.json()


def run(api: Api, project_id: str, layer_id: str, runtime: jobs.JobRuntime) -> dict[str, Any]:
    return run_to_end(api, project_id, layer_id, "tiktok", runtime)


def offer_creatives(api: Api, project_id: str, fake: RunningFake, advertiser: str) -> None:
    """Put the account's idle videos in the creative library (what a customer uploads)."""
    m = market(fake, advertiser)
    running = set(m.ads.creative[m.ads.status == ACTIVE].tolist())
    for k, video in enumerate(m.creatives.id):
        if k in running:
            continue
        body = {
            "name": m.creatives.name[k],
            "pool": "ugc",
            "organicScore": 8.0,
            "assetRefs": {"tiktok": video},
        }
        assert api.post(f"/v1/projects/{project_id}/ads-content", json=body).status_code == 201


def pending(api: Api, project_id: str, run_id: str) -> list[dict[str, Any]]:
    return pending_of(api, project_id, "tiktok", run_id)


def approve(
    api: Api, project_id: str, row: dict[str, Any], runtime: jobs.JobRuntime
) -> dict[str, Any]:
    return approve_and_wait(api, project_id, "tiktok", row["pendingId"], runtime)


def external_id(api: Api, project_id: str, kind: str, entity_id: str) -> str:
    path = {"ad": "ads", "adset": "adsets", "campaign": "campaigns"}[kind]
    rows = api.get(f"/v1/projects/{project_id}/ads/{path}", params={"limit": 200}).json()["items"]
    key = {"ad": "adId", "adset": "adsetId", "campaign": "campaignId"}[kind]
    return str(next(r["externalId"] for r in rows if r[key] == entity_id))


# ------------------------------------------------------------------------------------ connect


def test_connecting_a_live_account_reads_it_and_keeps_the_token_to_itself(
    partner: Api, project_id: str, fake: RunningFake
) -> None:
    advertiser = new_advertiser()
    credentials = fake.credentials_for(advertiser)
    response = connect(partner, project_id, advertiser, credentials)
    assert response.status_code == 201, response.text
    row = response.json()
    account = market(fake, advertiser).account
    assert row["platform"] == "tiktok_ads" and row["externalId"] == advertiser
    assert (row["name"], row["currency"], row["timezone"]) == (
        account.name,
        "USD",
        account.timezone,
    )
    assert row["mode"] == "live" and row["tokenStatus"] == "valid"
    assert row["tokenLastValidatedAt"] is not None
    listed = partner.get(f"/v1/projects/{project_id}/ads/ad-accounts")
    assert credentials["accessToken"] not in response.text + listed.text
    assert "credentials" not in row
    assert [r["adAccountId"] for r in listed.json()["items"]] == [row["adAccountId"]]


def test_refused_credentials_answer_422_and_store_nothing(
    partner: Api, project_id: str, fake: RunningFake
) -> None:
    response = connect(partner, project_id, new_advertiser(), {"accessToken": "act.not-a-token"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "PLATFORM_REJECTED"
    assert error["details"]["platformCode"] == "40105"
    listed = partner.get(f"/v1/projects/{project_id}/ads/ad-accounts").json()["items"]
    assert listed == []


def test_a_token_for_another_advertiser_is_refused(
    partner: Api, project_id: str, fake: RunningFake
) -> None:
    token = fake.credentials_for(new_advertiser())
    response = connect(partner, project_id, new_advertiser(), token)
    assert response.status_code == 422
    assert response.json()["error"]["details"]["platformCode"] == "40106"


def test_an_unreachable_platform_answers_502(
    settings: Settings,
    session_factory: sessionmaker[Session],
    job_runtime: jobs.JobRuntime,
    boot: dict[str, Any],
    project_id: str,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    offline = settings.model_copy(update={"tiktok_base_url": f"http://127.0.0.1:{closed_port}"})
    ctx = AppContext(settings=offline, session_factory=session_factory, jobs=job_runtime)
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        api = Api(client, boot["partnerKey"])
        response = connect(api, project_id, new_advertiser(), {"accessToken": "act.x"})
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "PLATFORM_ERROR"
        assert api.get(f"/v1/projects/{project_id}/ads/ad-accounts").json()["items"] == []


# ------------------------------------------------------------------------------------ runs


def test_a_run_proposes_from_live_data_and_approvals_reach_the_platform(
    partner: Api, project_id: str, fake: RunningFake, job_runtime: jobs.JobRuntime
) -> None:
    advertiser, account = connected(partner, project_id, fake)
    offer_creatives(partner, project_id, fake, advertiser)
    result = run(partner, project_id, account["layerId"], job_runtime)
    assert result["status"] == "completed", result["error"]
    assert result["summary"]["entitiesEvaluated"] > 0
    rows = pending(partner, project_id, result["runId"])
    kinds = {r["actionType"] for r in rows}
    assert {"pause_ad", "update_budget"} <= kinds, kinds
    for row in rows:
        detail = row["proposedAction"]["detail"]
        assert detail["method"] == "POST" and detail["path"].startswith(f"{API}/")
        assert detail["body"]["advertiser_id"] == advertiser

    # A pause goes out as TikTok's status update and the ad stops in the platform.
    pause = next(r for r in rows if r["actionType"] == "pause_ad")
    assert pause["proposedAction"]["detail"]["path"] == f"{API}/ad/status/update/"
    ad_id = external_id(partner, project_id, "ad", pause["entityId"])
    assert pause["proposedAction"]["detail"]["body"]["ad_ids"] == [ad_id]
    done = approve(partner, project_id, pause, job_runtime)
    assert done["status"] == "dispatched", done["dispatchFailureReason"]
    m = market(fake, advertiser)
    assert m.ads.status[m.index_of("ad", ad_id)] == PAUSED

    # A budget change lands in cents-exact major units.
    budget = next(r for r in rows if r["actionType"] == "update_budget")
    done = approve(partner, project_id, budget, job_runtime)
    assert done["status"] == "dispatched", done["dispatchFailureReason"]
    kind = budget["entityType"]
    holder = external_id(partner, project_id, kind, budget["entityId"])
    table = m.campaigns if kind == "campaign" else m.adsets
    assert int(table.budget[m.index_of(kind, holder)]) == budget["newValue"]["dailyBudgetCents"]

    # Every other kind proposed goes out and lands as well.
    for kind in ("push_creative", "replace_creative", "update_targeting", "update_schedule"):
        row = next((r for r in rows if r["actionType"] == kind), None)
        if row is None:
            continue
        if kind == "push_creative":
            # A push fills the slot this run's removals free: they go out first, or it is stale.
            for removal in rows:
                if removal["actionType"] in ("pause_ad", "prune_creative") and removal is not pause:
                    approve(partner, project_id, removal, job_runtime)
        done = approve(partner, project_id, row, job_runtime)
        assert done["status"] == "dispatched", (kind, done["dispatchFailureReason"])
        body = row["proposedAction"]["detail"]["body"]
        if kind == "push_creative":
            adset_id = external_id(partner, project_id, "adset", row["entityId"])
            video = body["creatives"][0]["video_id"]
            s = m.index_of("adset", adset_id)
            running = m.ads.creative[(m.ads.adset == s) & (m.ads.status == ACTIVE)]
            assert video in {m.creatives.id[k] for k in running}
        elif kind == "replace_creative":
            a = m.index_of("ad", body["creatives"][0]["ad_id"])
            assert m.creatives.id[int(m.ads.creative[a])] == body["creatives"][0]["video_id"]


def test_a_platform_refusal_ends_the_dispatch_with_its_code_and_message(
    partner: Api, project_id: str, fake: RunningFake, job_runtime: jobs.JobRuntime
) -> None:
    advertiser, account = connected(partner, project_id, fake)
    result = run(partner, project_id, account["layerId"], job_runtime)
    assert result["status"] == "completed", result["error"]
    row = next(
        r for r in pending(partner, project_id, result["runId"]) if r["actionType"] == "pause_ad"
    )
    path = row["proposedAction"]["detail"]["path"]
    fake.world.inject("40002", path=path, message="The ad is under review and cannot be changed.")
    done = approve(partner, project_id, row, job_runtime)
    assert done["status"] == "dispatch_failed"
    assert done["dispatchFailureReason"] == (
        "The ad is under review and cannot be changed. (code 40002)"
    )
    m = market(fake, advertiser)
    ad_id = external_id(partner, project_id, "ad", row["entityId"])
    assert m.ads.status[m.index_of("ad", ad_id)] == ACTIVE


@pytest.mark.parametrize(
    ("how", "status", "said"),
    [("expire", "expired", "has expired"), ("revoke", "invalid", "has been revoked")],
)
def test_a_token_failing_mid_life_fails_the_run_and_marks_the_account(
    partner: Api,
    project_id: str,
    fake: RunningFake,
    job_runtime: jobs.JobRuntime,
    how: str,
    status: str,
    said: str,
) -> None:
    advertiser, account = connected(partner, project_id, fake)
    token = fake.credentials_for(advertiser)["accessToken"]
    if how == "expire":
        fake.world.expire_token(token)
    else:
        fake.world.revoke_token(token)
    result = run(partner, project_id, account["layerId"], job_runtime)
    assert result["status"] == "failed"
    assert result["error"]["code"] == "PLATFORM_AUTH_FAILED"
    assert said in result["error"]["message"]  # TikTok's own words
    (row,) = partner.get(f"/v1/projects/{project_id}/ads/ad-accounts").json()["items"]
    assert row["tokenStatus"] == status


def test_a_run_after_a_removed_ad_sees_it_deleted(
    partner: Api, project_id: str, fake: RunningFake, job_runtime: jobs.JobRuntime
) -> None:
    advertiser, account = connected(partner, project_id, fake)
    m = market(fake, advertiser)
    gone = int(np.flatnonzero(m.ads.status == ACTIVE)[0])
    with fake.world.lock:
        m.ads.status[gone] = DELETED
    result = run(partner, project_id, account["layerId"], job_runtime)
    assert result["status"] == "completed", result["error"]
    ads = partner.get(f"/v1/projects/{project_id}/ads/ads", params={"limit": 200}).json()
    statuses = {r["externalId"]: r["status"] for r in ads["items"]}
    assert statuses[m.ads.id[gone]] == "deleted"
    assert len(statuses) == len(m.ads.id)
