"""A person's direct writes through the authority gate: off, draft, auto and the kill switch."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.audit.models import AuditEvent
from adpilot.auth import service as auth_service
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.entities.models import Ad, AdSet, Campaign
from adpilot.gate.models import Verdict
from adpilot.pending import workflows
from adpilot.pending.models import PendingAction
from adpilot.platforms.sandbox import writelog
from tests.conftest import Api
from tests.helpers_pending import Sandbox, active_ad, budget_holder, sync_sandbox


@pytest.fixture()
def sandbox(
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
    job_runtime: jobs.JobRuntime,
) -> Sandbox:
    return sync_sandbox(settings, session_factory, boot["layers"]["meta_ads"])


def base(boot: dict[str, Any], platform: str = "meta") -> str:
    return f"/v1/projects/{boot['projectId']}/ads/{platform}"


def set_mode(api: Api, boot: dict[str, Any], axis: str, mode: str, platform: str = "meta") -> None:
    r = api.patch(f"{base(boot, platform)}/defaults", json={"defaults": {axis: mode}})
    assert r.status_code == 200, r.text


def budget_path(boot: dict[str, Any], sandbox: Sandbox) -> tuple[str, int, str, str]:
    kind, entity_id, external_id, _name, cents = budget_holder(sandbox)
    collection = "campaigns" if kind == "campaign" else "adsets"
    return f"{base(boot)}/{collection}/{entity_id}/budget", cents, kind, external_id


def wait_job(api: Api, runtime: jobs.JobRuntime, job_id: str) -> dict[str, Any]:
    """Wait for a direct write's dispatch and return its job envelope."""
    job = api.get(f"/v1/jobs/{job_id}").json()
    runtime.wait(workflows.dispatch_workflow_id(job["result"]["pendingId"]), timeout=60)
    return dict(api.get(f"/v1/jobs/{job_id}").json())


def row_of(factory: sessionmaker[Session], job_id: str) -> PendingAction:
    with factory() as session:
        row = session.scalars(select(PendingAction).where(PendingAction.job_id == job_id)).one()
        session.expunge(row)
        return row


def test_a_budget_change_under_draft_queues_a_pending_row_that_says_a_partner_asked(
    partner: Api, boot: dict[str, Any], sandbox: Sandbox, session_factory: sessionmaker[Session]
) -> None:
    path, cents, kind, _ext = budget_path(boot, sandbox)
    r = partner.patch(path, json={"dailyBudgetCents": cents + 500, "note": "launch week"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and body["pendingId"].startswith("pa_")
    assert body["jobId"].startswith("job_") and body["verdictId"].startswith("ver_")

    pending = partner.get(f"{base(boot)}/pending/{body['pendingId']}").json()
    assert pending["origin"] == "partner" and pending["runId"] is None
    assert pending["actionType"] == "update_budget" and pending["entityType"] == kind
    assert pending["currentValue"] == {"dailyBudgetCents": cents}
    assert pending["newValue"] == {"dailyBudgetCents": cents + 500}
    assert pending["rationale"] == "launch week"
    assert pending["proposedAction"]["detail"]["params"] == {"daily_budget": str(cents + 500)}
    assert pending["expiresAt"] > pending["createdAt"]
    # Nothing reached the platform before approval.
    assert sandbox.platform().read_state(kind, _ext).daily_budget_cents == cents

    with session_factory() as session:
        verdict = session.get(Verdict, body["verdictId"])
        assert verdict is not None and verdict.decision == "queued"
        assert verdict.actor and verdict.actor["actorType"] == "partner"
        kinds = set(session.scalars(select(AuditEvent.event_type)))
    assert {"gate.verdict.queued", "direct_write.requested"} <= kinds
    job = partner.get(f"/v1/jobs/{body['jobId']}").json()
    assert job["kind"] == "ads_direct_write" and job["status"] == "running"
    cancel = partner.post(f"/v1/jobs/{body['jobId']}/cancel")
    assert cancel.status_code == 409
    assert cancel.json()["error"]["details"]["subcode"] == "JOB_CANCEL_UNAVAILABLE"


def test_an_approved_direct_write_is_dispatched_like_any_other_pending_action(
    partner: Api,
    boot: dict[str, Any],
    sandbox: Sandbox,
    job_runtime: jobs.JobRuntime,
) -> None:
    path, cents, kind, external_id = budget_path(boot, sandbox)
    queued = partner.patch(path, json={"dailyBudgetCents": cents + 300}).json()
    approved = partner.post(f"{base(boot)}/pending/{queued['pendingId']}/approve", json={})
    assert approved.status_code == 200, approved.text
    job = wait_job(partner, job_runtime, queued["jobId"])
    assert job["status"] == "completed" and job["result"]["status"] == "dispatched"
    assert sandbox.platform().read_state(kind, external_id).daily_budget_cents == cents + 300


def test_a_budget_change_under_auto_is_dispatched_once_and_shows_in_the_lists(
    partner: Api,
    boot: dict[str, Any],
    sandbox: Sandbox,
    job_runtime: jobs.JobRuntime,
) -> None:
    set_mode(partner, boot, "tactical", "auto")
    path, cents, kind, external_id = budget_path(boot, sandbox)
    r = partner.patch(path, json={"dailyBudgetCents": cents + 700})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "dispatched" and "pendingId" not in r.json()
    job = wait_job(partner, job_runtime, r.json()["jobId"])
    assert job["status"] == "completed", job
    pending_id = job["result"]["pendingId"]
    assert sandbox.platform().read_state(kind, external_id).daily_budget_cents == cents + 700
    sent = [e for e in writelog.entries(sandbox.platform().state()) if e["key"] == pending_id]
    assert [e["outcome"] for e in sent] == ["applied"]
    # Sent by the gate, not awaiting anyone: not a pending action in the list.
    listed = partner.get(f"{base(boot)}/pending", params={"status": "dispatched"}).json()
    assert pending_id not in [i["pendingId"] for i in listed["items"]]
    collection = "campaigns" if kind == "campaign" else "adsets"
    rows = partner.get(f"/v1/projects/{boot['projectId']}/ads/{collection}").json()["items"]
    id_key = "campaignId" if kind == "campaign" else "adsetId"
    mine = next(x for x in rows if x["externalId"] == external_id)
    assert mine["dailyBudgetCents"] == cents + 700, mine[id_key]


def test_an_axis_set_to_off_refuses_the_write_and_records_the_verdict(
    partner: Api, boot: dict[str, Any], sandbox: Sandbox, session_factory: sessionmaker[Session]
) -> None:
    set_mode(partner, boot, "tactical", "off")
    path, cents, _kind, _ext = budget_path(boot, sandbox)
    r = partner.patch(path, json={"dailyBudgetCents": cents + 100})
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "AUTHORITY_DENIED"
    assert error["details"]["reason"] == "authority_axis_off"
    with session_factory() as session:
        verdict = session.get(Verdict, error["details"]["verdictId"])
        assert verdict is not None and verdict.decision == "denied"
        assert session.scalars(select(PendingAction)).first() is None


def test_the_kill_switch_refuses_every_direct_write(
    partner: Api, customer: Api, boot: dict[str, Any], sandbox: Sandbox
) -> None:
    set_mode(partner, boot, "structural", "auto")
    r = customer.patch(f"{base(boot)}/defaults", json={"killSwitchActive": True})
    assert r.status_code == 200, r.text
    ad = active_ad(sandbox)
    r = partner.post(f"{base(boot)}/ads/{ad.id}/pause")
    assert r.status_code == 403, r.text
    assert r.json()["error"]["details"]["reason"] == "kill_switch_active"


def test_a_budget_step_above_the_limit_is_denied_unless_a_customer_overrides_it(
    partner: Api,
    customer: Api,
    boot: dict[str, Any],
    sandbox: Sandbox,
    job_runtime: jobs.JobRuntime,
) -> None:
    path, cents, _kind, _ext = budget_path(boot, sandbox)
    big = cents * 3
    r = partner.patch(path, json={"dailyBudgetCents": big})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "denied" and r.json()["reason"].startswith("budget_step:")
    assert partner.get(f"/v1/jobs/{r.json()['jobId']}").json()["status"] == "failed"

    refused = partner.patch(path, json={"dailyBudgetCents": big, "overrideGuardrails": True})
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["reason"] == "customer_only"

    allowed = customer.patch(path, json={"dailyBudgetCents": big, "overrideGuardrails": True})
    assert allowed.status_code == 202 and allowed.json()["status"] == "queued", allowed.text


def test_a_second_budget_change_inside_the_cooldown_is_denied(
    partner: Api, boot: dict[str, Any], sandbox: Sandbox
) -> None:
    path, cents, _kind, _ext = budget_path(boot, sandbox)
    first = partner.patch(path, json={"dailyBudgetCents": cents + 100})
    assert first.json()["status"] == "queued"
    # Awaiting a decision, it is not a change yet: a second one may be queued beside it.
    beside = partner.patch(path, json={"dailyBudgetCents": cents + 150})
    assert beside.json()["status"] == "queued"
    approve = f"{base(boot)}/pending/{first.json()['pendingId']}/approve"
    assert partner.post(approve, json={}).status_code == 200
    second = partner.patch(path, json={"dailyBudgetCents": cents + 200})
    assert second.status_code == 202
    assert second.json()["status"] == "denied"
    assert second.json()["reason"].startswith("cooldown:")


def test_a_budget_needs_exactly_one_amount_on_the_entity_that_holds_it(
    partner: Api, boot: dict[str, Any], sandbox: Sandbox, session_factory: sessionmaker[Session]
) -> None:
    path, cents, kind, _ext = budget_path(boot, sandbox)
    both = partner.patch(path, json={"dailyBudgetCents": cents, "lifetimeBudgetCents": cents})
    assert both.status_code == 422
    assert both.json()["error"]["details"]["fields"][0]["field"] == "dailyBudgetCents"
    neither = partner.patch(path, json={})
    assert neither.status_code == 422
    tiny = partner.patch(path, json={"dailyBudgetCents": 1})
    assert tiny.status_code == 422 and "minimum" in tiny.text
    text = partner.patch(path, json={"dailyBudgetCents": "900"})
    assert text.status_code == 422
    with session_factory() as session:
        if kind == "campaign":
            other = session.scalars(
                select(AdSet)
                .where(AdSet.campaign_id.in_(select(Campaign.id)))
                .join(Campaign, Campaign.id == AdSet.campaign_id)
                .where(Campaign.budget_mode == "campaign", AdSet.layer_id == sandbox.layer_id)
            ).first()
            other_path = f"{base(boot)}/adsets/{other.id}/budget" if other else None
        else:
            camp = session.scalars(
                select(Campaign).where(
                    Campaign.layer_id == sandbox.layer_id, Campaign.budget_mode == "adset"
                )
            ).first()
            other_path = f"{base(boot)}/campaigns/{camp.id}/budget" if camp else None
    assert other_path is not None
    r = partner.patch(other_path, json={"dailyBudgetCents": cents})
    assert r.status_code == 409 and r.json()["error"]["details"]["subcode"] == "NOT_BUDGET_HOLDER"


def test_writes_under_another_platform_or_project_are_not_found(
    partner: Api, boot: dict[str, Any], sandbox: Sandbox
) -> None:
    path, cents, _kind, _ext = budget_path(boot, sandbox)
    other = path.replace("/ads/meta/", "/ads/tiktok/")
    assert partner.patch(other, json={"dailyBudgetCents": cents}).status_code == 404
    bad = path.replace("/ads/meta/", "/ads/myspace/")
    assert partner.patch(bad, json={"dailyBudgetCents": cents}).status_code == 422
    missing = f"{base(boot)}/campaigns/cmp_00000000000000000000000000/budget"
    assert partner.patch(missing, json={"dailyBudgetCents": cents}).status_code == 404


def test_pause_resume_and_delete_under_auto_reach_the_platform_and_stay_listed(
    partner: Api,
    boot: dict[str, Any],
    sandbox: Sandbox,
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    set_mode(partner, boot, "structural", "auto")
    with session_factory() as session:
        campaign = session.scalars(
            select(Campaign)
            .where(Campaign.layer_id == sandbox.layer_id, Campaign.status == "active")
            .order_by(Campaign.id)
        ).first()
        assert campaign is not None
        session.expunge(campaign)
    where = f"{base(boot)}/campaigns/{campaign.id}"
    platform = sandbox.platform()

    paused = partner.post(f"{where}/pause")
    assert paused.status_code == 202 and paused.json()["status"] == "dispatched", paused.text
    assert wait_job(partner, job_runtime, paused.json()["jobId"])["status"] == "completed"
    assert platform.read_state("campaign", campaign.external_id).status == "paused"

    resumed = partner.post(f"{where}/resume", json={})
    assert wait_job(partner, job_runtime, resumed.json()["jobId"])["status"] == "completed"
    assert platform.read_state("campaign", campaign.external_id).status == "active"

    deleted = partner.delete(where)
    assert deleted.status_code == 202, deleted.text
    assert wait_job(partner, job_runtime, deleted.json()["jobId"])["status"] == "completed"
    assert platform.read_state("campaign", campaign.external_id).status == "deleted"
    listed = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/campaigns", params={"status": "deleted"}
    ).json()["items"]
    assert campaign.id in [c["campaignId"] for c in listed]
    again = partner.post(f"{where}/resume")
    assert (
        again.status_code == 409 and again.json()["error"]["details"]["subcode"] == "ENTITY_DELETED"
    )


def test_pausing_an_ad_under_draft_is_an_approvable_pause_ad(
    partner: Api, boot: dict[str, Any], sandbox: Sandbox
) -> None:
    ad = active_ad(sandbox)
    r = partner.post(f"{base(boot)}/ads/{ad.id}/pause")
    assert r.status_code == 202 and r.json()["status"] == "queued", r.text
    row = partner.get(f"{base(boot)}/pending/{r.json()['pendingId']}").json()
    assert row["actionType"] == "pause_ad" and row["newValue"] == {"status": "paused"}
    listed = partner.get(f"{base(boot)}/pending", params={"actionType": "pause_ad"}).json()
    assert r.json()["pendingId"] in [i["pendingId"] for i in listed["items"]]


def test_targeting_and_schedule_changes_reach_the_platform_under_auto(
    partner: Api,
    boot: dict[str, Any],
    sandbox: Sandbox,
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    set_mode(partner, boot, "tactical", "auto")
    ad = active_ad(sandbox)
    with session_factory() as session:
        adset = session.get(AdSet, ad.adset_id)
        assert adset is not None
        external_id = adset.external_id
    where = f"{base(boot)}/adsets/{ad.adset_id}"
    geo = partner.patch(f"{where}/targeting", json={"geo": ["us", "CA"]})
    assert geo.status_code == 202 and geo.json()["status"] == "dispatched", geo.text
    hours = partner.patch(f"{where}/schedule", json={"dayparts": [8, 9, 10, 11]})
    assert hours.status_code == 202 and hours.json()["status"] == "dispatched", hours.text
    wait_job(partner, job_runtime, geo.json()["jobId"])
    wait_job(partner, job_runtime, hours.json()["jobId"])
    state = sandbox.platform().read_state("adset", external_id)
    assert sorted(state.targeting["geo"]) == ["CA", "US"]  # type: ignore[index]
    assert state.schedule["dayparts"] == [8, 9, 10, 11]  # type: ignore[index]
    bad = partner.patch(f"{where}/schedule", json={"dayparts": [25]})
    assert bad.status_code == 422


def test_creative_push_replace_and_prune_on_an_ad_under_auto(
    partner: Api,
    boot: dict[str, Any],
    sandbox: Sandbox,
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    set_mode(partner, boot, "creative", "auto")
    ad = active_ad(sandbox)
    running = {
        c
        for c in sandbox.platform()
        .read_state("adset", _adset_ext(session_factory, ad))
        .active_creative_external_ids
    }
    spares = [
        c for c in sandbox.platform().list_creatives()
        if c.external_id not in running and not c.safety_failed
    ][:2]  # fmt: skip
    assert len(spares) == 2
    content_ids = []
    for n, spare in enumerate(spares):
        content = partner.post(
            f"/v1/projects/{boot['projectId']}/ads-content",
            json={"name": f"Spare {n}", "pool": "manual", "organicScore": 5.0,
                  "assetRefs": {"meta": spare.external_id}},
        )  # fmt: skip
        assert content.status_code == 201, content.text
        content_ids.append(content.json()["adsContentId"])
    where = f"{base(boot)}/ads/{ad.id}/creative"

    pushed = partner.post(where, json={"adsContentId": content_ids[0]})
    assert pushed.status_code == 202 and pushed.json()["status"] == "dispatched", pushed.text
    job = wait_job(partner, job_runtime, pushed.json()["jobId"])
    assert job["status"] == "completed", job
    state = sandbox.platform().read_state("adset", _adset_ext(session_factory, ad))
    assert spares[0].external_id in state.active_creative_external_ids
    again = partner.post(where, json={"adsContentId": content_ids[0]})
    assert again.status_code == 409

    replaced = partner.request("PUT", where, json={"adsContentId": content_ids[1]})
    assert replaced.status_code == 202, replaced.text
    assert wait_job(partner, job_runtime, replaced.json()["jobId"])["status"] == "completed"
    live = sandbox.platform().read_state("ad", ad.external_id)
    assert live.creative_external_id == spares[1].external_id
    unknown = partner.request("PUT", where, json={"adsContentId": "adc_nope"})
    assert unknown.status_code == 422

    pruned = partner.delete(where)
    assert pruned.status_code == 202, pruned.text
    assert wait_job(partner, job_runtime, pruned.json()["jobId"])["status"] == "completed"
    assert sandbox.platform().read_state("ad", ad.external_id).status == "deleted"


def _adset_ext(factory: sessionmaker[Session], ad: Ad) -> str:
    with factory() as session:
        adset = session.get(AdSet, ad.adset_id)
        assert adset is not None
        return adset.external_id


def test_the_direct_write_routes_need_their_scope(
    client: Any, boot: dict[str, Any], sandbox: Sandbox, settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    with transaction(session_factory) as session:
        key = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=boot["organizationId"],
            scopes=["ads:read"],
        )
    reader = Api(client, key.key)
    path, cents, _kind, _ext = budget_path(boot, sandbox)
    r = reader.patch(path, json={"dailyBudgetCents": cents + 100})
    assert r.status_code == 403
    assert r.json()["error"]["details"]["requiredScope"] == "ads:write:direct"
