"""Direct writes on live accounts: what a partner changes by hand lands in each platform's
wire-format fake (Meta Graph, TikTok Business, Apple Ads) once the gate lets it through."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.entities.models import Ad, AdSet, Campaign
from adpilot.fakes.server import RunningFake
from adpilot.pending import workflows
from adpilot.sim.market import Market
from tests.conftest import Api
from tests.platforms import apple_support, meta_support, tiktok_support
from tests.platforms.live_api import connect_live, run_to_end

ACCOUNT_IDS = {
    "meta": meta_support.new_account,
    "tiktok": tiktok_support.new_advertiser,
    "apple": apple_support.new_account_id,
}
OFF = {"creative": "off", "tactical": "off", "structural": "off"}


@pytest.fixture(params=["meta", "tiktok", "apple"])
def live(
    request: pytest.FixtureRequest,
    fake_platforms: dict[str, RunningFake],
    partner: Api,
    boot: dict[str, Any],
    job_runtime: jobs.JobRuntime,
) -> dict[str, Any]:
    """A live account on the platform's fake, synced by one run that could write nothing."""
    platform = str(request.param)
    fake = fake_platforms[platform]
    account = ACCOUNT_IDS[platform]()
    answer = connect_live(
        partner, boot["projectId"], platform, account, fake.credentials_for(account), replace=True
    )
    assert answer.status_code == 201, answer.text
    layer_id = answer.json()["layerId"]
    defaults = f"/v1/projects/{boot['projectId']}/ads/{platform}/defaults"
    assert partner.patch(defaults, json={"defaults": OFF}).status_code == 200
    run = run_to_end(partner, boot["projectId"], layer_id, platform, job_runtime)
    assert run["status"] == "completed", run
    return {"platform": platform, "fake": fake, "account": account, "layerId": layer_id}


def set_mode(api: Api, boot: dict[str, Any], platform: str, axis: str, mode: str) -> None:
    path = f"/v1/projects/{boot['projectId']}/ads/{platform}/defaults"
    assert api.patch(path, json={"defaults": {axis: mode}}).status_code == 200


def market(live: dict[str, Any]) -> Market:
    world = live["fake"].world
    with world.lock:
        return Market.from_state(world.market(live["account"]).to_state())


def wait(api: Api, runtime: jobs.JobRuntime, job_id: str) -> dict[str, Any]:
    job = api.get(f"/v1/jobs/{job_id}").json()
    runtime.wait(workflows.dispatch_workflow_id(job["result"]["pendingId"]), timeout=90)
    return dict(api.get(f"/v1/jobs/{job_id}").json())


def holder(factory: sessionmaker[Session], layer_id: str) -> tuple[str, str, str, int]:
    """(collection, our id, external id, daily cents) of an active budget holder."""
    with factory() as session:
        campaign = session.scalars(
            select(Campaign)
            .where(
                Campaign.layer_id == layer_id,
                Campaign.status == "active",
                Campaign.budget_mode == "campaign",
                Campaign.daily_budget_cents.is_not(None),
            )
            .order_by(Campaign.id)
        ).first()
        if campaign is not None and campaign.daily_budget_cents:
            return "campaigns", campaign.id, campaign.external_id, campaign.daily_budget_cents
        adset = session.scalars(
            select(AdSet)
            .join(Campaign, Campaign.id == AdSet.campaign_id)
            .where(
                AdSet.layer_id == layer_id,
                AdSet.status == "active",
                Campaign.budget_mode == "adset",
                AdSet.daily_budget_cents.is_not(None),
            )
            .order_by(AdSet.id)
        ).first()
        assert adset is not None and adset.daily_budget_cents
        return "adsets", adset.id, adset.external_id, adset.daily_budget_cents


def test_a_budget_changed_by_hand_under_auto_lands_on_the_platform(
    live: dict[str, Any],
    partner: Api,
    boot: dict[str, Any],
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    platform = live["platform"]
    set_mode(partner, boot, platform, "tactical", "auto")
    collection, entity_id, external_id, cents = holder(session_factory, live["layerId"])
    new = cents + max(100, cents // 10)
    path = f"/v1/projects/{boot['projectId']}/ads/{platform}/{collection}/{entity_id}/budget"
    answer = partner.patch(path, json={"dailyBudgetCents": new})
    assert answer.status_code == 202 and answer.json()["status"] == "dispatched", answer.text
    job = wait(partner, job_runtime, answer.json()["jobId"])
    assert job["status"] == "completed", job
    m = market(live)
    kind = "campaign" if collection == "campaigns" else "adset"
    table = m.campaigns if kind == "campaign" else m.adsets
    assert int(table.budget[m.index_of(kind, external_id)]) == new


def test_a_campaign_paused_by_hand_under_draft_lands_once_approved(
    live: dict[str, Any],
    partner: Api,
    boot: dict[str, Any],
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    platform = live["platform"]
    set_mode(partner, boot, platform, "structural", "draft")
    with session_factory() as session:
        campaign = session.scalars(
            select(Campaign)
            .where(Campaign.layer_id == live["layerId"], Campaign.status == "active")
            .order_by(Campaign.id)
        ).first()
        assert campaign is not None
        campaign_id, external_id = campaign.id, campaign.external_id
    base = f"/v1/projects/{boot['projectId']}/ads/{platform}"
    answer = partner.post(f"{base}/campaigns/{campaign_id}/pause")
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
    assert market(live).status_of("campaign", external_id) == "active"
    approved = partner.post(f"{base}/pending/{answer.json()['pendingId']}/approve", json={})
    assert approved.status_code == 200, approved.text
    job = wait(partner, job_runtime, answer.json()["jobId"])
    assert job["status"] == "completed", job
    assert market(live).status_of("campaign", external_id) == "paused"


def test_an_ad_deleted_by_hand_under_auto_is_deleted_on_the_platform_and_still_listed(
    live: dict[str, Any],
    partner: Api,
    boot: dict[str, Any],
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    platform = live["platform"]
    set_mode(partner, boot, platform, "structural", "auto")
    with session_factory() as session:
        ad = session.scalars(
            select(Ad).where(Ad.layer_id == live["layerId"], Ad.status == "active").order_by(Ad.id)
        ).first()
        assert ad is not None
        ad_id, external_id = ad.id, ad.external_id
    answer = partner.delete(f"/v1/projects/{boot['projectId']}/ads/{platform}/ads/{ad_id}")
    assert answer.status_code == 202 and answer.json()["status"] == "dispatched", answer.text
    job = wait(partner, job_runtime, answer.json()["jobId"])
    assert job["status"] == "completed", job
    assert market(live).status_of("ad", external_id) == "deleted"
    listed = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/ads", params={"status": "deleted"}
    ).json()["items"]
    assert ad_id in [a["adId"] for a in listed]
