"""A live Meta account end to end through adpilot's API, the job engine and the real Meta client
talking to the fake Graph API over loopback: connect, run, approve, dispatch, failures."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.app import create_app
from adpilot.db import transaction
from adpilot.deps import AppContext
from adpilot.entities.models import Ad, AdDailyMetric
from adpilot.fakes.server import RunningFake
from adpilot.layers import service as layers_service
from adpilot.layers.models import AdAccount
from adpilot.sim import reports
from adpilot.sim.market import Market
from tests.conftest import Api
from tests.platforms import live_api
from tests.platforms.live_api import connect_live, pending_of
from tests.platforms.meta_support import calls, new_account, shared_fake, truth


@pytest.fixture()
def meta(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


@pytest.fixture()
def project(boot: dict[str, Any], session_factory: sessionmaker[Session]) -> dict[str, Any]:
    """A project of the bootstrap org without layers (so no sandbox creatives in its library);
    `connect` fills in its Meta layer."""
    with transaction(session_factory) as session:
        project_id = layers_service.create_project(session, boot["organizationId"], "Live app").id
    return {"projectId": project_id, "layers": {}}


def connect(api: Api, project: dict[str, Any], account: str, credentials: dict[str, Any]) -> Any:
    response = connect_live(api, project["projectId"], "meta", account, credentials, replace=True)
    if response.status_code == 201:
        project["layers"]["meta_ads"] = response.json()["layerId"]
    return response


def market_of(meta: RunningFake, account: str) -> Market:
    with meta.world.lock:
        return meta.world.market(account)


def add_library(api: Api, project: dict[str, Any], market: Market) -> None:
    """The customer's creative library: the account's unused creatives, usable by push/replace."""
    for creative in reports.creatives_data(market):
        if creative.running_in_adsets or creative.safety_failed:
            continue
        response = api.post(
            f"/v1/projects/{project['projectId']}/ads-content",
            json={
                "name": creative.name,
                "pool": creative.pool,
                "organicScore": creative.organic_score,
                "assetRefs": {"meta": creative.external_id},
            },
        )
        assert response.status_code == 201, response.text


def run_to_end(api: Api, project: dict[str, Any], runtime: jobs.JobRuntime) -> dict[str, Any]:
    layer_id = project["layers"]["meta_ads"]
    return live_api.run_to_end(api, project["projectId"], layer_id, "meta", runtime)


def pending(api: Api, project: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    return pending_of(api, project["projectId"], "meta", run_id)


def first_proposal(
    api: Api, project: dict[str, Any], live: dict[str, Any], *action_types: str
) -> tuple[dict[str, Any], str]:
    """The run's first pending action of one of `action_types`, and the Graph node its request
    targets."""
    row = next(
        r for r in pending(api, project, live["run"]["runId"]) if r["actionType"] in action_types
    )
    return row, row["proposedAction"]["detail"]["path"].rsplit("/", 1)[1]


def approve_and_wait(
    api: Api, project: dict[str, Any], runtime: jobs.JobRuntime, pending_id: str
) -> dict[str, Any]:
    return live_api.approve_and_wait(api, project["projectId"], "meta", pending_id, runtime)


def count_accounts(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(AdAccount)) or 0)


# --- connecting -----------------------------------------------------------------------------


def test_connecting_a_live_account_reads_it_and_keeps_the_token_secret(
    partner: Api, project: dict[str, Any], meta: RunningFake, session_factory: sessionmaker[Session]
) -> None:
    account = new_account()
    credentials = meta.credentials_for(account)
    response = connect(partner, project, account, credentials)
    assert response.status_code == 201, response.text
    row = response.json()
    assert row["mode"] == "live" and row["externalId"] == account
    assert (row["currency"], row["timezone"], row["tokenStatus"]) == ("USD", "UTC", "valid")
    assert row["name"] == f"Test meta account {account}"  # the account's name as Meta shows it
    assert "credentials" not in row and credentials["accessToken"] not in response.text
    listed = partner.get(f"/v1/projects/{project['projectId']}/ads/ad-accounts")
    assert credentials["accessToken"] not in listed.text
    with session_factory() as session:
        stored = session.get(AdAccount, row["adAccountId"])
        assert stored is not None and stored.credentials_encrypted
        assert credentials["accessToken"] not in str(stored.credentials_encrypted)
    # One cheap read proved the token (the sync the connect starts reads after it).
    assert [(c.method, c.path) for c in meta.world.calls][:1] == [("GET", f"/v26.0/{account}")]


def test_refused_credentials_answer_422_and_store_nothing(
    partner: Api, project: dict[str, Any], meta: RunningFake, session_factory: sessionmaker[Session]
) -> None:
    account = new_account()
    credentials = meta.credentials_for(account)
    meta.world.expire_token(credentials["accessToken"])
    before = count_accounts(session_factory)
    response = connect(partner, project, account, credentials)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "PLATFORM_REJECTED"
    assert error["details"]["platformCode"] == "190/463"
    assert "expired" in error["message"]
    assert count_accounts(session_factory) == before
    wrong_secret = connect(
        partner, project, account, {**meta.credentials_for(account), "appSecret": "x"}
    )
    assert wrong_secret.status_code == 422
    assert wrong_secret.json()["error"]["details"]["platformCode"] == "100"
    assert count_accounts(session_factory) == before


def test_an_unreachable_platform_answers_502(
    ctx: AppContext,
    boot: dict[str, Any],
    project: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    # Port 9 (discard) is closed on loopback: the connection is refused at once.
    settings = ctx.settings.model_copy(update={"meta_base_url": "http://127.0.0.1:9"})
    unreachable = AppContext(settings=settings, session_factory=session_factory, jobs=ctx.jobs)
    before = count_accounts(session_factory)
    with TestClient(create_app(unreachable), raise_server_exceptions=False) as client:
        api = Api(client, boot["partnerKey"])
        response = connect(api, project, new_account(), {"accessToken": "EAAx"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "PLATFORM_ERROR"
    assert count_accounts(session_factory) == before


def test_an_unavailable_platform_answers_502_after_retries(
    partner: Api, project: dict[str, Any], meta: RunningFake
) -> None:
    account = new_account()
    meta.world.inject("http_503", path=f"{account}?", count=10)
    response = connect(partner, project, account, meta.credentials_for(account))
    assert response.status_code == 502 and response.json()["error"]["code"] == "PLATFORM_ERROR"
    assert len(meta.world.calls) == 4  # one try, three retries


# --- running, approving, dispatching ---------------------------------------------------------


@pytest.fixture()
def live(
    partner: Api, project: dict[str, Any], meta: RunningFake, job_runtime: jobs.JobRuntime
) -> dict[str, Any]:
    """A live account connected to a fresh project's Meta layer, with a creative library,
    and one completed optimizer run."""
    account = new_account()
    credentials = meta.credentials_for(account)
    assert connect(partner, project, account, credentials).status_code == 201
    market = market_of(meta, account)
    add_library(partner, project, market)
    run = run_to_end(partner, project, job_runtime)
    return {"account": account, "market": market, "run": run, "credentials": credentials}


def test_a_run_syncs_the_live_account_and_queues_real_meta_requests(
    partner: Api, project: dict[str, Any], meta: RunningFake, live: dict[str, Any]
) -> None:
    run, market, account = live["run"], live["market"], live["account"]
    assert run["status"] == "completed", run["error"]
    ads = partner.get(
        f"/v1/projects/{project['projectId']}/ads/ads",
        params={"platforms": "meta_ads", "limit": 200},
    ).json()["items"]
    assert {a["externalId"] for a in ads} == set(market.ads.id)
    rows = pending(partner, project, run["runId"])
    kinds = {r["actionType"] for r in rows}
    # The live market is drawn anew for each account: a loser may be an ad or a whole ad set.
    assert "update_budget" in kinds and kinds & {"pause_ad", "pause_adset"}
    assert kinds & {"push_creative", "replace_creative", "prune_creative"}
    by_id = {a["adId"]: a["externalId"] for a in ads}
    for row in rows:
        detail = row["proposedAction"]["detail"]
        assert detail["method"] == "POST" and detail["path"].startswith("/v26.0/")
        if row["actionType"] == "pause_ad":
            assert detail == {
                "method": "POST",
                "path": f"/v26.0/{by_id[row['entityId']]}",
                "params": {"status": "PAUSED"},
            }
        if row["actionType"] == "update_budget":
            assert detail["params"] == {"daily_budget": str(row["newValue"]["dailyBudgetCents"])}
        if row["actionType"] == "push_creative":
            assert detail["path"] == f"/v26.0/{account}/ads"
            assert json.loads(detail["params"]["creative"])["creative_id"] in market.creatives.id
    # Nothing was written before approval: only reads so far.
    assert {c.method for c in meta.world.calls_to(account)} == {"GET"}


def test_an_approved_budget_change_reaches_the_live_account(
    partner: Api,
    project: dict[str, Any],
    meta: RunningFake,
    live: dict[str, Any],
    job_runtime: jobs.JobRuntime,
) -> None:
    market: Market = live["market"]
    row, node = first_proposal(partner, project, live, "update_budget")
    settled = approve_and_wait(partner, project, job_runtime, row["pendingId"])
    assert settled["status"] == "dispatched", settled["dispatchFailureReason"]
    kind = "campaign" if row["entityType"] == "campaign" else "adset"
    with meta.world.lock:
        table = market.campaigns if kind == "campaign" else market.adsets
        assert int(table.budget[market.index_of(kind, node)]) == row["newValue"]["dailyBudgetCents"]
    posts = calls(meta.world, f"/{node}", "POST")
    assert len(posts) == 1
    assert (
        posts[0].query["daily_budget"] == row["proposedAction"]["detail"]["params"]["daily_budget"]
    )


def test_a_platform_refusal_fails_the_dispatch_with_its_code_and_message(
    partner: Api,
    project: dict[str, Any],
    meta: RunningFake,
    live: dict[str, Any],
    job_runtime: jobs.JobRuntime,
) -> None:
    # The live market is drawn anew for each account: a loser may be an ad or a whole ad set.
    row, node = first_proposal(partner, project, live, "pause_ad", "pause_adset")
    kind = "ad" if row["actionType"] == "pause_ad" else "adset"
    meta.world.inject(
        "100",
        path=f"/{node}?",
        method="POST",
        subcode=1487390,
        message="(#100) Ad is in a state that cannot be paused",
    )
    settled = approve_and_wait(partner, project, job_runtime, row["pendingId"])
    assert settled["status"] == "dispatch_failed"
    reason = settled["dispatchFailureReason"]
    assert "(#100) Ad is in a state that cannot be paused" in reason and "100/1487390" in reason
    assert len(calls(meta.world, f"/{node}", "POST")) == 1  # a refusal is not retried
    with meta.world.lock:
        market: Market = live["market"]
        assert market.status_of(kind, node) == "active"


def test_a_lost_answer_is_recognised_and_the_write_is_not_sent_twice(
    partner: Api,
    project: dict[str, Any],
    meta: RunningFake,
    live: dict[str, Any],
    job_runtime: jobs.JobRuntime,
) -> None:
    row, node = first_proposal(partner, project, live, "pause_ad", "pause_adset")
    kind = "ad" if row["actionType"] == "pause_ad" else "adset"
    meta.world.inject("2", path=f"/{node}?", method="POST", after_apply=True)
    settled = approve_and_wait(partner, project, job_runtime, row["pendingId"])
    assert settled["status"] == "dispatched"
    assert len(calls(meta.world, f"/{node}", "POST")) == 1
    with meta.world.lock:
        assert live["market"].status_of(kind, node) == "paused"


def test_an_expired_token_fails_the_run_and_marks_the_account(
    partner: Api, project: dict[str, Any], meta: RunningFake, job_runtime: jobs.JobRuntime
) -> None:
    account = new_account()
    credentials = meta.credentials_for(account)
    assert connect(partner, project, account, credentials).status_code == 201
    meta.world.expire_token(credentials["accessToken"])
    run = run_to_end(partner, project, job_runtime)
    assert run["status"] == "failed"
    assert run["error"]["code"] == "PLATFORM_AUTH_FAILED"
    accounts = partner.get(f"/v1/projects/{project['projectId']}/ads/ad-accounts").json()["items"]
    live = next(a for a in accounts if a["externalId"] == account)
    assert live["tokenStatus"] == "expired"


def test_the_layers_conversion_event_decides_what_counts_as_a_conversion(
    partner: Api,
    project: dict[str, Any],
    meta: RunningFake,
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    account = new_account()
    assert connect(partner, project, account, meta.credentials_for(account)).status_code == 201
    layer_id = project["layers"]["meta_ads"]
    patched = partner.patch(f"/v1/layers/{layer_id}", json={"conversionEvent": "link_click"})
    assert patched.status_code == 200, patched.text
    run = run_to_end(partner, project, job_runtime)
    assert run["status"] == "completed", run
    since = dt.date.fromisoformat(run["window"]["since"])
    until = dt.date.fromisoformat(run["window"]["until"])
    expected = {
        (m.ad_external_id, m.date): m for m in truth(meta.world, account, since, until).metrics
    }
    with session_factory() as session:
        stored = session.execute(
            select(Ad.external_id, AdDailyMetric.date, AdDailyMetric.conversions)
            .join(Ad, Ad.id == AdDailyMetric.ad_id)
            .where(AdDailyMetric.layer_id == layer_id)
        ).all()
    # The fake reports link clicks as 90% of clicks; installs are no longer counted.
    assert stored and all(
        conversions == round(expected[(external_id, day)].clicks * 0.9)
        for external_id, day, conversions in stored
    )
    assert sum(row.conversions for row in stored) != sum(e.conversions for e in expected.values())
