"""Optimizer runs end to end through the API and the real durable job engine (SPEC §3)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import time_machine
from sqlalchemy import select, update

from adpilot.db import transaction
from adpilot.layers.models import AdAccount, Layer
from adpilot.layers.schedule import next_run_after
from adpilot.maintenance import fire_due_schedules
from adpilot.pending.models import PendingAction
from adpilot.runs.models import OptimizerRun
from tests.conftest import Api

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
OUTCOMES = {"queued", "dispatched", "dispatch_failed", "denied", "held", "dry_run"}


def trigger(api: Api, boot: dict[str, Any], platform: str = "meta_ads", **body: Any) -> Any:
    return api.post(
        f"/v1/projects/{boot['projectId']}/ads/optimizer/run",
        json={"layerId": boot["layers"][platform], "platform": platform, **body},
    )


def run_to_end(
    api: Api, boot: dict[str, Any], job_runtime: Any, platform: str = "meta_ads", **body: Any
) -> dict[str, Any]:
    response = trigger(api, boot, platform, **body)
    assert response.status_code == 202, response.text
    job_runtime.wait(response.json()["runId"], timeout=60)
    run = api.get(response.json()["runUrl"])
    assert run.status_code == 200
    return dict(run.json())


def test_trigger_answers_202_with_the_job_envelope(
    partner: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    response = trigger(partner, boot)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {
        "jobId",
        "runId",
        "kind",
        "status",
        "stage",
        "locationUrl",
        "runUrl",
        "startedAt",
    }
    assert body["kind"] == "ads_optimizer_run" and body["status"] == "running"
    assert body["stage"] == "queued"
    assert body["jobId"].startswith("job_") and body["runId"].startswith("run_")
    assert body["locationUrl"] == f"/v1/jobs/{body['jobId']}"
    assert body["runUrl"] == f"/v1/projects/{boot['projectId']}/ads/optimizer/runs/{body['runId']}"
    assert ISO_Z.match(body["startedAt"])
    job_runtime.wait(body["runId"], timeout=60)


def test_a_bootstrap_run_completes_with_consistent_changes(
    partner: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    run = run_to_end(partner, boot, job_runtime)
    assert run["status"] == "completed", run["error"]
    assert run["stage"] == "done" and run["progress"] == 1
    assert [s["stage"] for s in run["stages"]] == [
        "queued",
        "syncing",
        "evaluating",
        "gating",
        "dispatching",
        "notifying",
        "done",
    ]
    assert all(s["finishedAt"] for s in run["stages"])
    since = dt.date.fromisoformat(run["window"]["since"])
    until = dt.date.fromisoformat(run["window"]["until"])
    assert (until - since).days == 29 and until < dt.datetime.now(dt.UTC).date()
    summary = run["summary"]
    assert summary["proposed"] == len(run["changes"])
    assert summary["proposed"] == sum(
        summary[k] for k in ("held", "denied", "queued", "dispatched", "dispatchFailed", "dryRun")
    )
    assert summary["entitiesEvaluated"] > 0
    kinds = {c["actionType"] for c in run["changes"] if c["outcome"] == "queued"}
    assert "pause_ad" in kinds and "update_budget" in kinds
    assert kinds & {"push_creative", "replace_creative", "prune_creative"}
    for change in run["changes"]:
        assert change["outcome"] in OUTCOMES
        assert change["platform"] == "meta"
        assert 0 <= change["confidence"] <= 1
        assert change["summary"] and change["rationale"]
        assert (change["pendingId"] is not None) == (change["outcome"] == "queued")
        if change["outcome"] in ("queued", "dispatched"):
            assert change["reason"] is None
        else:
            assert change["reason"]
    pending = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/meta/pending",
        params={"runId": run["runId"], "limit": 200},
    ).json()["items"]
    assert {p["pendingId"] for p in pending} == {
        c["pendingId"] for c in run["changes"] if c["outcome"] == "queued"
    }


def test_every_platform_proposes_what_bootstrap_promises(
    partner: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    for platform in ("tiktok_ads", "apple_ads"):
        run = run_to_end(partner, boot, job_runtime, platform)
        assert run["status"] == "completed", run["error"]
        kinds = {c["actionType"] for c in run["changes"] if c["outcome"] == "queued"}
        assert "update_budget" in kinds, (platform, kinds)
        if platform == "tiktok_ads":
            assert "pause_ad" in kinds
            assert kinds & {"push_creative", "replace_creative", "prune_creative"}
        else:
            assert kinds & {"pause_ad", "pause_adset"}


def test_dry_run_sends_nothing_and_skips_dispatching(
    partner: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    run = run_to_end(partner, boot, job_runtime, dryRun=True)
    assert run["status"] == "completed" and run["dryRun"] is True
    assert "dispatching" not in [s["stage"] for s in run["stages"]]
    assert run["summary"]["queued"] == 0 and run["summary"]["dispatched"] == 0
    assert run["summary"]["dryRun"] > 0
    count = partner.get(f"/v1/projects/{boot['projectId']}/ads/meta/pending/count").json()
    assert count == {"count": 0}


def test_auto_axes_dispatch_at_once_and_kill_switch_denies(
    partner: Api, customer: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    defaults = f"/v1/projects/{boot['projectId']}/ads/meta/defaults"
    patched = customer.patch(
        defaults, json={"defaults": {"creative": "auto", "tactical": "auto", "structural": "auto"}}
    )
    assert patched.status_code == 200, patched.text
    run = run_to_end(partner, boot, job_runtime)
    assert run["summary"]["dispatched"] > 0 and run["summary"]["queued"] == 0
    sent = [c for c in run["changes"] if c["outcome"] == "dispatched"]
    assert all(c["pendingId"] is None and c["reason"] is None for c in sent)

    # Fresh layer (the one above is now in its cooldowns): the kill switch denies every write.
    tiktok_defaults = f"/v1/projects/{boot['projectId']}/ads/tiktok/defaults"
    assert customer.patch(tiktok_defaults, json={"killSwitchActive": True}).status_code == 200
    run = run_to_end(partner, boot, job_runtime, "tiktok_ads")
    assert run["status"] == "completed"
    gated = [c for c in run["changes"] if c["outcome"] != "held"]
    assert gated and all(c["outcome"] == "denied" for c in gated)
    assert all(c["reason"] == "kill_switch_active" for c in gated)


def test_disabled_write_class_is_held_and_never_queued(
    partner: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    layer_id = boot["layers"]["meta_ads"]
    response = partner.patch(
        f"/v1/layers/{layer_id}/optimizer/write-classes", json={"writeClasses": {"pause_ad": False}}
    )
    assert response.status_code == 200, response.text
    run = run_to_end(partner, boot, job_runtime)
    pauses = [c for c in run["changes"] if c["actionType"] == "pause_ad"]
    assert pauses and all(c["outcome"] == "held" for c in pauses)
    assert all(c["reason"] == "write_class_disabled" for c in pauses)


def test_trigger_errors(
    partner: Api, boot: dict[str, Any], job_runtime: Any, session_factory: Any
) -> None:
    path = f"/v1/projects/{boot['projectId']}/ads/optimizer/run"
    meta = boot["layers"]["meta_ads"]
    mismatch = partner.post(path, json={"layerId": meta, "platform": "tiktok_ads"})
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["details"]["fields"][0]["field"] == "platform"
    unknown = partner.post(path, json={"layerId": meta, "platform": "meta_ads", "extra": 1})
    assert unknown.status_code == 422
    assert (
        partner.post(
            path, json={"layerId": meta, "platform": "meta_ads", "dryRun": "yes"}
        ).status_code
        == 422
    )
    assert partner.post(path, json={"platform": "meta_ads"}).status_code == 422
    assert (
        partner.post(path, json={"layerId": "lyr_nope", "platform": "meta_ads"}).status_code == 404
    )

    first = partner.post(path, json={"layerId": meta, "platform": "meta_ads"})
    assert first.status_code == 202
    again = partner.post(path, json={"layerId": meta, "platform": "meta_ads"})
    if again.status_code == 409:  # the first may already have finished on a fast machine
        error = again.json()["error"]
        assert error["details"]["subcode"] == "RUN_IN_PROGRESS"
        assert error["details"]["runId"] == first.json()["runId"]
        assert error["details"]["jobId"] == first.json()["jobId"]
    job_runtime.wait(first.json()["runId"], timeout=60)
    if again.status_code == 202:
        job_runtime.wait(again.json()["runId"], timeout=60)

    with transaction(session_factory) as session:
        session.execute(
            update(AdAccount)
            .where(AdAccount.layer_id == meta)
            .values(disconnected_at=dt.datetime.now(dt.UTC))
        )
    gone = partner.post(path, json={"layerId": meta, "platform": "meta_ads"})
    assert gone.status_code == 409
    assert gone.json()["error"]["details"]["subcode"] == "NO_AD_ACCOUNT"


def test_run_in_progress_is_decided_by_the_database(
    partner: Api, boot: dict[str, Any], session_factory: Any, job_runtime: Any
) -> None:
    """A running run blocks a second trigger even before any worker picked it up."""
    path = f"/v1/projects/{boot['projectId']}/ads/optimizer/run"
    meta = boot["layers"]["meta_ads"]
    first = partner.post(path, json={"layerId": meta, "platform": "meta_ads"}).json()
    second = partner.post(path, json={"layerId": meta, "platform": "meta_ads"})
    with session_factory() as session:
        running = session.scalars(
            select(OptimizerRun).where(
                OptimizerRun.layer_id == meta, OptimizerRun.status == "running"
            )
        ).all()
    assert len(running) <= 1
    job_runtime.wait(first["runId"], timeout=60)
    if second.status_code == 202:
        job_runtime.wait(second.json()["runId"], timeout=60)


def test_jobs_get_with_etag_and_result(
    partner: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    run = run_to_end(partner, boot, job_runtime)
    job = partner.get(f"/v1/jobs/{run['jobId']}")
    assert job.status_code == 200
    body = job.json()
    assert body["status"] == "completed" and body["kind"] == "ads_optimizer_run"
    assert body["result"] == {
        "summary": run["summary"],
        "runUrl": f"/v1/projects/{boot['projectId']}/ads/optimizer/runs/{run['runId']}",
    }
    etag = job.headers["ETag"]
    cached = partner.get(f"/v1/jobs/{run['jobId']}", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    # Weak comparison: a weak tag, a list holding it, or `*` all match; another tag does not.
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        again = partner.get(f"/v1/jobs/{run['jobId']}", headers={"If-None-Match": header})
        assert again.status_code == 304, header
    fresh = partner.get(f"/v1/jobs/{run['jobId']}", headers={"If-None-Match": '"other"'})
    assert fresh.status_code == 200
    assert partner.get("/v1/jobs/job_nope").status_code == 404


def test_cancel_answers(
    partner: Api, boot: dict[str, Any], job_runtime: Any, session_factory: Any
) -> None:
    run = run_to_end(partner, boot, job_runtime)
    done = partner.post(f"/v1/jobs/{run['jobId']}/cancel")
    assert done.status_code == 200
    assert done.json() == {"jobId": run["jobId"], "accepted": False, "reason": "ALREADY_COMPLETED"}

    # A run held in `dispatching` refuses cancellation.
    with transaction(session_factory) as session:
        session.execute(
            update(OptimizerRun)
            .where(OptimizerRun.id == run["runId"])
            .values(status="running", stage="dispatching")
        )
    busy = partner.post(f"/v1/jobs/{run['jobId']}/cancel")
    assert busy.status_code == 409
    assert busy.json()["error"]["details"] == {
        "subcode": "JOB_CANCEL_UNAVAILABLE",
        "stage": "dispatching",
    }


def test_cancel_stops_a_run_at_the_next_stage_boundary(
    partner: Api, boot: dict[str, Any], job_runtime: Any, session_factory: Any
) -> None:
    envelope = trigger(partner, boot).json()
    cancel = partner.post(f"/v1/jobs/{envelope['jobId']}/cancel")
    if cancel.status_code == 202:
        assert cancel.json() == {"jobId": envelope["jobId"], "accepted": True}
        job_runtime.wait(envelope["runId"], timeout=60)
        run = partner.get(envelope["runUrl"]).json()
        assert run["status"] == "canceled"
        assert "dispatching" not in [s["stage"] for s in run["stages"]]
        with session_factory() as session:
            sent = session.scalars(
                select(PendingAction).where(
                    PendingAction.run_id == envelope["runId"], PendingAction.status == "dispatched"
                )
            ).all()
        assert sent == []
        job = partner.get(f"/v1/jobs/{envelope['jobId']}").json()
        assert job["status"] == "canceled"
    else:  # the run raced to completion first
        job_runtime.wait(envelope["runId"], timeout=60)


def test_runs_list_filters_and_pages(partner: Api, boot: dict[str, Any], job_runtime: Any) -> None:
    for platform in ("meta_ads", "tiktok_ads", "apple_ads"):
        run_to_end(partner, boot, job_runtime, platform, dryRun=True)
    path = f"/v1/projects/{boot['projectId']}/ads/optimizer/runs"
    everything = partner.get(path).json()
    assert len(everything["items"]) == 3 and everything["nextCursor"] is None
    started = [r["startedAt"] for r in everything["items"]]
    assert started == sorted(started, reverse=True)
    only_meta = partner.get(path, params={"platform": "meta_ads"}).json()["items"]
    assert [r["platform"] for r in only_meta] == ["meta_ads"]
    two = partner.get(path, params=[("platform", "meta_ads"), ("platform", "apple_ads")]).json()
    comma = partner.get(path, params={"platform": "meta_ads,apple_ads"}).json()
    assert [r["runId"] for r in two["items"]] == [r["runId"] for r in comma["items"]]
    page = partner.get(path, params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["nextCursor"]
    rest = partner.get(path, params={"limit": 2, "cursor": page["nextCursor"]}).json()
    assert len(rest["items"]) == 1 and rest["nextCursor"] is None
    assert (
        partner.get(path, params={"cursor": page["nextCursor"], "status": "completed"}).status_code
        == 422
    )
    assert partner.get(path, params={"cursor": "garbage"}).status_code == 422
    assert partner.get(path, params={"status": "sleeping"}).status_code == 422


def test_layer_schedule_fires_a_scheduled_run_once(
    boot: dict[str, Any], settings: Any, session_factory: Any, job_runtime: Any, partner: Api
) -> None:
    layer_id = boot["layers"]["meta_ads"]
    with session_factory() as session:
        layer = session.get(Layer, layer_id)
        assert layer is not None
        first_slot = layer.next_scheduled_run_at
        assert first_slot is not None
        # The first scheduled run comes a full interval (6 h) after the layer was created.
        assert abs((first_slot - layer.created_at) - dt.timedelta(hours=6)) < dt.timedelta(
            seconds=1
        )
    assert fire_due_schedules(settings, session_factory, dt.datetime.now(dt.UTC)) == []
    later = first_slot + dt.timedelta(minutes=1)
    with time_machine.travel(later, tick=True):
        started = fire_due_schedules(settings, session_factory, later)
        assert len(started) == 3  # the three layers were created together
        # The slot is claimed: a second tick (another worker) starts nothing.
        assert fire_due_schedules(settings, session_factory, later) == []
        for run_id in started:
            job_runtime.wait(run_id, timeout=60)
    with session_factory() as session:
        runs = session.scalars(select(OptimizerRun).where(OptimizerRun.id.in_(started))).all()
        assert sorted(r.layer_id for r in runs) == sorted(boot["layers"].values())
        layer = session.get(Layer, layer_id)
        assert layer is not None and layer.next_scheduled_run_at is not None
        assert layer.next_scheduled_run_at > later + dt.timedelta(hours=5)
    started = [r.id for r in runs if r.layer_id == layer_id]
    run = partner.get(f"/v1/projects/{boot['projectId']}/ads/optimizer/runs/{started[0]}").json()
    assert run["trigger"] == "schedule" and run["status"] == "completed"


def test_schedule_cron_and_off() -> None:
    base = dt.datetime(2026, 11, 22, 10, 17, tzinfo=dt.UTC)
    assert next_run_after(None, base) == base + dt.timedelta(hours=6)
    assert next_run_after("off", base) is None
    assert next_run_after("0 */4 * * *", base) == dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


CREATIVE_ACTIONS = {"push_creative", "replace_creative", "prune_creative"}


def test_bootstrap_promise_holds_across_seeds(
    client: Any, settings: Any, session_factory: Any, job_runtime: Any
) -> None:
    """SPEC §10: a bootstrap account's first run proposes what the quickstart relies on."""
    from adpilot.bootstrap import bootstrap_org

    for seed in (11, 4242, 987_654):
        boot = bootstrap_org(settings, session_factory, name=f"seed {seed}", seed=seed)
        api = Api(client, boot["partnerKey"])
        for platform in ("meta_ads", "tiktok_ads", "apple_ads"):
            run = run_to_end(api, boot, job_runtime, platform)
            kinds = {c["actionType"] for c in run["changes"] if c["outcome"] == "queued"}
            if platform == "apple_ads":
                assert "update_budget" in kinds and kinds & {"pause_ad", "pause_adset"}, kinds
            else:
                assert {"pause_ad", "update_budget"} <= kinds, (seed, platform, kinds)
                assert kinds & CREATIVE_ACTIONS, (seed, platform, kinds)


def test_an_approved_pause_reaches_the_account_and_the_next_run_sees_it(
    partner: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    run = run_to_end(partner, boot, job_runtime)
    pause = next(
        c for c in run["changes"] if c["actionType"] == "pause_ad" and c["outcome"] == "queued"
    )
    base = f"/v1/projects/{boot['projectId']}/ads/meta/pending/{pause['pendingId']}"
    approved = partner.post(f"{base}/approve", json={"comment": "agreed"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved" and approved.json()["dispatched"] is False
    job_runtime.wait(f"dispatch-{pause['pendingId']}", timeout=30)
    row = partner.get(base).json()
    assert row["status"] == "dispatched" and ISO_Z.match(row["dispatchedAt"])

    nxt = run_to_end(partner, boot, job_runtime)
    assert nxt["status"] == "completed"
    ads = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/ads", params={"platforms": "meta", "limit": 200}
    ).json()["items"]
    paused = next(a for a in ads if a["adId"] == pause["entityId"])
    assert paused["status"] == "paused"  # read back from the platform by the second run's sync
    assert not [
        c
        for c in nxt["changes"]
        if c["entityId"] == pause["entityId"] and c["actionType"] == "pause_ad"
    ]


def test_a_token_failing_mid_run_fails_the_run_and_marks_the_account(
    partner: Api, boot: dict[str, Any], job_runtime: Any, session_factory: Any
) -> None:
    from adpilot.platforms.registry import DbSandboxStore
    from adpilot.platforms.sandbox import faults

    layer = boot["layers"]["meta_ads"]
    with session_factory() as session:
        account_id = session.scalars(select(AdAccount.id).where(AdAccount.layer_id == layer)).one()
    faults.inject_fault(DbSandboxStore(session_factory), account_id, "auth_expired", op="read")
    run = run_to_end(partner, boot, job_runtime)
    assert run["status"] == "failed"
    assert run["error"]["code"] == "PLATFORM_AUTH_FAILED"
    assert run["changes"] == [] and run["finishedAt"] is not None
    accounts = partner.get(f"/v1/projects/{boot['projectId']}/ads/ad-accounts").json()["items"]
    meta = next(a for a in accounts if a["layerId"] == layer)
    assert meta["tokenStatus"] == "expired"
    job = partner.get(f"/v1/jobs/{run['jobId']}").json()
    assert job["status"] == "failed" and job["error"]["code"] == "PLATFORM_AUTH_FAILED"


def test_a_run_canceled_after_gating_never_sends_its_auto_actions(
    partner: Api,
    customer: Api,
    boot: dict[str, Any],
    settings: Any,
    session_factory: Any,
    job_runtime: Any,
    monkeypatch: Any,
) -> None:
    """Drive the stages by hand so the cancel lands exactly between gating and dispatching."""
    from adpilot.maintenance import requeue_lost_work
    from adpilot.runs import service as runs_service
    from adpilot.runs import stages

    monkeypatch.setattr(runs_service, "enqueue_run", lambda run_id: None)
    defaults = f"/v1/projects/{boot['projectId']}/ads/meta/defaults"
    auto = {"creative": "auto", "tactical": "auto", "structural": "auto"}
    assert customer.patch(defaults, json={"defaults": auto}).status_code == 200
    envelope = trigger(partner, boot).json()
    ctx = stages.StageContext(settings, session_factory)
    run_id = envelope["runId"]
    for stage, work in (
        ("syncing", stages.sync),
        ("evaluating", stages.evaluate_run),
        ("gating", stages.gate_run),
    ):
        assert stages.begin_stage(ctx, run_id, stage)
        work(ctx, run_id)

    cancel = partner.post(f"/v1/jobs/{envelope['jobId']}/cancel")
    assert cancel.status_code == 202
    assert not stages.begin_stage(ctx, run_id, "dispatching")

    run = partner.get(envelope["runUrl"]).json()
    assert run["status"] == "canceled"
    withdrawn = [c for c in run["changes"] if c["outcome"] == "dispatch_failed"]
    assert withdrawn and all(c["reason"] == stages.CANCELED_BEFORE_DISPATCH for c in withdrawn)
    assert all("_autoId" not in c for c in run["changes"])
    summary = run["summary"]
    assert summary["proposed"] == sum(
        summary[k] for k in ("held", "denied", "queued", "dispatched", "dispatchFailed", "dryRun")
    )
    # The sweep that re-enqueues approved actions finds nothing of this run to send.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    requeue_lost_work(session_factory, later)
    with session_factory() as session:
        rows = session.scalars(select(PendingAction).where(PendingAction.run_id == run_id)).all()
    assert rows and all(row.status == "dispatch_failed" for row in rows)


def test_a_dropped_database_connection_inside_a_stage_is_retried_not_fatal(
    partner: Api, boot: dict[str, Any], job_runtime: Any, monkeypatch: Any
) -> None:
    from sqlalchemy.exc import OperationalError

    from adpilot.runs import stages

    real_evaluate, real_gate = stages.evaluate_run, stages.gate_run
    dropped: list[str] = []

    def drop_once(name: str, real: Any) -> Any:
        def stage(*args: Any) -> Any:
            if name not in dropped:
                dropped.append(name)
                raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
            return real(*args)

        return stage

    monkeypatch.setattr(stages, "evaluate_run", drop_once("evaluate", real_evaluate))
    monkeypatch.setattr(stages, "gate_run", drop_once("gate", real_gate))
    run = run_to_end(partner, boot, job_runtime)
    assert dropped == ["evaluate", "gate"]
    assert run["status"] == "completed", run["error"]
    assert run["changes"]
