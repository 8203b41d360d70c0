"""Entity syncs outside optimizer runs: on connect, on a fresh bootstrap, and on each layer's
cadence, each a durable job of kind `ads_sync` announced by `ads.sync.completed`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.deps import AppContext
from adpilot.entities.models import Campaign
from adpilot.kit.clock import utcnow
from adpilot.layers.models import Layer
from adpilot.runs.models import Job, OptimizerRun
from adpilot.syncs import service as syncs
from adpilot.syncs.models import EntitySync
from adpilot.webhooks.models import WebhookEvent
from tests.conftest import Api


def syncs_of(factory: sessionmaker[Session], layer_id: str) -> list[EntitySync]:
    with factory() as session:
        return list(
            session.scalars(
                select(EntitySync)
                .where(EntitySync.layer_id == layer_id)
                .order_by(EntitySync.started_at)
            )
        )


def settle(ctx: AppContext, layer_id: str) -> EntitySync:
    """Wait for the layer's latest sync job to finish; returns it."""
    latest = syncs_of(ctx.session_factory, layer_id)[-1]
    assert ctx.jobs.wait(latest.id, timeout=60) in ("completed", "failed")
    return syncs_of(ctx.session_factory, layer_id)[-1]


def test_connecting_an_account_lists_its_campaigns_before_any_run(
    ctx: AppContext, partner: Api, boot: dict[str, Any]
) -> None:
    project, layer = boot["projectId"], boot["layers"]["meta_ads"]
    campaigns = f"/v1/projects/{project}/ads/campaigns"
    assert partner.get(campaigns).json()["items"] == []
    connected = partner.post(
        f"/v1/projects/{project}/ads/ad-accounts",
        json={
            "platform": "meta_ads",
            "externalId": "act_2000000002",
            "mode": "sandbox",
            "replace": True,
        },
    )
    assert connected.status_code == 201, connected.text
    sync = settle(ctx, layer)
    assert (sync.trigger, sync.status) == ("connect", "completed")
    assert sync.counts is not None and sync.counts["campaigns"] > 0
    listed = partner.get(campaigns).json()["items"]
    assert len(listed) == sync.counts["campaigns"]
    assert partner.get(f"/v1/projects/{project}/ads/ads").json()["items"]
    # Pinning a campaign's authority needs no run first.
    pinned = partner.patch(
        f"/v1/projects/{project}/ads/meta/campaigns/{listed[0]['campaignId']}/authority",
        json={"authority": {"tactical": "auto"}},
    )
    assert pinned.status_code == 200, pinned.text
    with ctx.session_factory() as session:
        assert session.scalar(select(OptimizerRun.id).where(OptimizerRun.layer_id == layer)) is None

    job = partner.get(f"/v1/jobs/{sync.job_id}").json()
    assert job["kind"] == "ads_sync" and job["status"] == "completed"
    assert job["layerId"] == layer and job["result"]["counts"] == sync.counts
    with ctx.session_factory() as session:
        events = session.scalars(
            select(WebhookEvent).where(WebhookEvent.type == "ads.sync.completed")
        ).all()
    assert [e.data["syncId"] for e in events] == [sync.id]
    assert events[0].data["counts"] == sync.counts


def test_a_sync_job_cannot_be_canceled_and_says_so(
    ctx: AppContext, partner: Api, boot: dict[str, Any]
) -> None:
    project, layer = boot["projectId"], boot["layers"]["meta_ads"]
    connected = partner.post(
        f"/v1/projects/{project}/ads/ad-accounts",
        json={
            "platform": "meta_ads",
            "externalId": "act_2000000003",
            "mode": "sandbox",
            "replace": True,
        },
    )
    assert connected.status_code == 201, connected.text
    sync = settle(ctx, layer)
    done = partner.post(f"/v1/jobs/{sync.job_id}/cancel", json={})
    assert done.status_code == 200, done.text
    assert done.json()["reason"] == "ALREADY_COMPLETED"
    with transaction(ctx.session_factory) as session:
        session.execute(update(Job).where(Job.id == sync.job_id).values(status="running"))
    running = partner.post(f"/v1/jobs/{sync.job_id}/cancel", json={})
    assert running.status_code == 409, running.text
    error = running.json()["error"]
    assert error["details"]["subcode"] == "JOB_CANCEL_UNAVAILABLE"
    assert "ads_sync" in error["message"]


def test_a_fresh_sandbox_bootstrap_syncs_every_layer(
    ctx: AppContext, settings: Settings, client: Any
) -> None:
    fresh = bootstrap_org(settings, ctx.session_factory, name="Fresh org", seed=20261122)
    api = Api(client, fresh["partnerKey"])
    for long_name, layer in fresh["layers"].items():
        sync = settle(ctx, layer)
        assert (sync.trigger, sync.status) == ("connect", "completed"), sync.error
        every = api.get(f"/v1/projects/{fresh['projectId']}/ads/campaigns").json()["items"]
        listed = [c for c in every if c["layerId"] == layer and c["platform"] == long_name]
        assert listed and len(listed) == (sync.counts or {})["campaigns"]


def test_the_cadence_keeps_entities_current_between_runs(
    ctx: AppContext, settings: Settings
) -> None:
    fresh = bootstrap_org(settings, ctx.session_factory, name="Cadence org", seed=20261122)
    layer = fresh["layers"]["tiktok_ads"]
    first = settle(ctx, layer)
    with ctx.session_factory() as session:
        next_at = session.scalar(select(Layer.next_sync_at).where(Layer.id == layer))
    assert next_at is not None and next_at - first.started_at >= dt.timedelta(hours=5, minutes=59)
    # Our copy drifts from the platform (as it would after changes made in the platform's UI).
    with transaction(ctx.session_factory) as session:
        session.execute(
            update(Campaign).where(Campaign.layer_id == layer).values(status="archived")
        )
    now = utcnow()
    started = syncs.fire_due_syncs(ctx.session_factory, now + dt.timedelta(hours=7))
    assert len(started) == 3  # every layer of the org was due
    again = settle(ctx, layer)
    assert (again.trigger, again.status) == ("schedule", "completed")
    with ctx.session_factory() as session:
        statuses = set(session.scalars(select(Campaign.status).where(Campaign.layer_id == layer)))
        next_at = session.scalar(select(Layer.next_sync_at).where(Layer.id == layer))
        runs = session.scalar(select(OptimizerRun.id).where(OptimizerRun.layer_id == layer))
    assert "archived" not in statuses
    assert next_at is not None and next_at > now + dt.timedelta(hours=12)
    assert runs is None  # syncing started no optimizer run
    # The slot is taken: firing again at the same moment starts nothing.
    assert syncs.fire_due_syncs(ctx.session_factory, now + dt.timedelta(hours=7)) == []


def test_a_layer_with_a_running_optimizer_run_is_left_to_that_run(
    ctx: AppContext, partner: Api, boot: dict[str, Any]
) -> None:
    layer = boot["layers"]["apple_ads"]
    with transaction(ctx.session_factory) as session:
        session.execute(update(Layer).values(next_sync_at=None))
        session.execute(update(Layer).where(Layer.id == layer).values(next_sync_at=utcnow()))
    triggered = partner.post(
        f"/v1/projects/{boot['projectId']}/ads/optimizer/run",
        json={"layerId": layer, "platform": "apple_ads"},
    )
    assert triggered.status_code == 202, triggered.text
    with ctx.session_factory() as session:
        running = session.scalar(select(OptimizerRun.status).where(OptimizerRun.layer_id == layer))
    if running == "running":
        assert syncs.fire_due_syncs(ctx.session_factory, utcnow()) == []
    ctx.jobs.wait(triggered.json()["runId"], timeout=60)


def test_the_sync_cadence_is_a_layer_setting(partner: Api, boot: dict[str, Any]) -> None:
    path = f"/v1/layers/{boot['layers']['meta_ads']}"
    view = partner.get(path).json()
    assert view["syncSchedule"] is None and view["nextSyncAt"]
    changed = partner.patch(path, json={"syncSchedule": "30 */12 * * *"}).json()
    assert changed["syncSchedule"] == "30 */12 * * *"
    assert changed["nextSyncAt"].endswith(":30:00Z") or ":30:00" in changed["nextSyncAt"]
    off = partner.patch(path, json={"syncSchedule": "off"}).json()
    assert off["syncSchedule"] == "off" and off["nextSyncAt"] is None
    refused = partner.patch(path, json={"syncSchedule": "*/5 * * * *"})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["fields"][0]["field"] == "syncSchedule"
    back = partner.patch(path, json={"syncSchedule": None}).json()
    assert back["syncSchedule"] is None and back["nextSyncAt"]


def test_a_sync_left_unqueued_is_picked_up_by_the_sweep_of_lost_work(
    ctx: AppContext, partner: Api, boot: dict[str, Any], monkeypatch: Any
) -> None:
    """A process without the job engine (the `bootstrap` command) or a crash between commit and
    enqueue leaves a sync recorded but unqueued: the workers' sweep, every few seconds, runs it."""
    from adpilot.maintenance import requeue_lost_work

    project, layer = boot["projectId"], boot["layers"]["meta_ads"]
    monkeypatch.setattr(syncs, "enqueue_sync", lambda sync_id: None)
    connected = partner.post(
        f"/v1/projects/{project}/ads/ad-accounts",
        json={
            "platform": "meta_ads",
            "externalId": "act_2000000002",
            "mode": "sandbox",
            "replace": True,
        },
    )
    assert connected.status_code == 201, connected.text
    monkeypatch.undo()
    lost = syncs_of(ctx.session_factory, layer)[-1]
    assert lost.status == "running"
    # Within the grace a sync may still be on its way to the queue: left alone.
    grace = dt.timedelta(seconds=5)
    assert requeue_lost_work(ctx.session_factory, utcnow(), grace) == 0
    later = utcnow() + dt.timedelta(seconds=30)
    assert requeue_lost_work(ctx.session_factory, later, grace) == 1
    sync = settle(ctx, layer)
    assert (sync.id, sync.status) == (lost.id, "completed"), sync.error
    # Once the engine knows it, the sweep does not offer it again.
    assert requeue_lost_work(ctx.session_factory, later, grace) == 0
