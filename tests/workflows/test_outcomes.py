"""Outcomes end to end: a sandbox account, real runs and dispatches, the clock moved forward."""

from __future__ import annotations

import datetime as dt
from typing import Any

import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.db import transaction
from adpilot.layers.models import Layer
from adpilot.outcomes import judge, service
from adpilot.outcomes.follow import due_at, lag_curve
from adpilot.outcomes.models import ActionOutcome, Prediction
from adpilot.webhooks.models import WebhookDelivery, WebhookEvent
from tests.conftest import Api
from tests.workflows.test_runs import run_to_end


def sweep(
    job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session], now: dt.datetime
) -> list[str]:
    """The maintenance tick's outcome sweep, waiting for what it enqueued."""
    enqueued = service.sweep(session_factory, now)
    for wid in enqueued:
        job_runtime.wait(wid, timeout=60)
    return enqueued


def prediction_of(session_factory: sessionmaker[Session], pending_id: str) -> Prediction:
    with session_factory() as session:
        pred = session.scalars(select(Prediction).where(Prediction.pending_id == pending_id)).one()
        session.expunge(pred)
        return pred


def outcomes_of(session_factory: sessionmaker[Session], prediction_id: str) -> list[ActionOutcome]:
    with session_factory() as session:
        return list(
            session.scalars(
                select(ActionOutcome).where(ActionOutcome.prediction_id == prediction_id)
            )
        )


def approve_one_budget_move(
    api: Api, boot: dict[str, Any], job_runtime: Any
) -> tuple[dict[str, Any], str]:
    run = run_to_end(api, boot, job_runtime)
    queued = [c for c in run["changes"] if c["outcome"] == "queued"]
    budget = next(c for c in queued if c["actionType"] == "update_budget")
    base = f"/v1/projects/{boot['projectId']}/ads/meta/pending"
    assert api.post(f"{base}/{budget['pendingId']}/approve", json={}).status_code == 200
    job_runtime.wait(f"dispatch-{budget['pendingId']}", timeout=60)
    rejected = next(c for c in queued if c["pendingId"] != budget["pendingId"])
    answer = api.post(f"{base}/{rejected['pendingId']}/reject", json={"reason": "not now"})
    assert answer.status_code == 200, answer.text
    return run, budget["pendingId"]


def test_a_sent_change_is_judged_only_once_its_attribution_window_has_matured(
    partner: Api,
    boot: dict[str, Any],
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    layer_id = boot["layers"]["meta_ads"]
    hook = partner.post(
        "/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/adpilot", "events": ["ads.action.evaluated"]},
    )
    assert hook.status_code == 201, hook.text
    endpoint_id = hook.json()["endpoint"]["id"]
    _run, pending_id = approve_one_budget_move(partner, boot, job_runtime)
    sweep(job_runtime, session_factory, dt.datetime.now(dt.UTC))
    pred = prediction_of(session_factory, pending_id)
    assert pred.sent and pred.disposition == "dispatched" and pred.status == "following"
    # The proposal-time forecasts travelled with it.
    assert {"judged", "noChange", "change"} <= set(pred.evidence["forecast"])
    with session_factory() as session:
        layer = session.get(Layer, layer_id)
        assert layer is not None
        lag = lag_curve(layer)
    due = due_at(pred.started_at, 7, lag)
    assert pred.next_due_at == due
    # Seven whole days from the day it was sent, plus a week for the conversions to come in.
    assert due >= pred.started_at + dt.timedelta(days=13)

    # An hour before the window matures, with freshly synced data: not judged.
    with time_machine.travel(due - dt.timedelta(hours=1), tick=True):
        run_to_end(partner, boot, job_runtime)
        assert sweep(job_runtime, session_factory, due - dt.timedelta(hours=1)) == []
        # Forced through the job engine's step anyway: it refuses immature data.
        with transaction(session_factory) as session:
            assert judge.judge(session, pred.id, 7, due - dt.timedelta(hours=1)) is None
    assert outcomes_of(session_factory, pred.id) == []

    # Past maturity, but the stored figures were read before it: still not judged.
    with time_machine.travel(due + dt.timedelta(hours=1), tick=True):
        for wid in sweep(job_runtime, session_factory, due + dt.timedelta(hours=1)):
            assert not wid.startswith(f"outcome-{pred.id}") or not outcomes_of(
                session_factory, pred.id
            )
        assert outcomes_of(session_factory, pred.id) == []

        # A sync after maturity: now it is judged, once.
        run_to_end(partner, boot, job_runtime)
        now = due + dt.timedelta(hours=2)
        sweep(job_runtime, session_factory, now)
        (outcome,) = outcomes_of(session_factory, pred.id)
        assert outcome.horizon_days == 7 and outcome.as_of >= due
        assert outcome.verdict in ("worked", "no_effect", "backfired", "inconclusive")
        assert outcome.detail["reason"]
        # Sweeping and judging again changes nothing and sends nothing more.
        sweep(job_runtime, session_factory, now + dt.timedelta(minutes=1))
        with transaction(session_factory) as session:
            again = judge.judge(session, pred.id, 7, now + dt.timedelta(minutes=2))
        assert again is not None and again["verdict"] == outcome.verdict
        assert len(outcomes_of(session_factory, pred.id)) == 1

        with session_factory() as session:
            events = [
                e
                for e in session.scalars(
                    select(WebhookEvent).where(WebhookEvent.type == "ads.action.evaluated")
                )
                if e.data["evaluationId"] == pred.id
            ]
            assert len(events) == 1
            assert events[0].data["verdict"] == outcome.verdict
            assert events[0].data["pendingId"] == pending_id
            deliveries = session.scalars(
                select(WebhookDelivery).where(
                    WebhookDelivery.event_id == events[0].id,
                    WebhookDelivery.endpoint_id == endpoint_id,
                )
            ).all()
            assert len(deliveries) == 1

        # The row shows its outcome; the layer's list has it, filters apply.
        row = partner.get(f"/v1/projects/{boot['projectId']}/ads/meta/pending/{pending_id}").json()
        assert row["outcome"]["verdict"] == outcome.verdict
        assert row["outcome"]["horizonDays"] == 7 and row["outcome"]["sent"] is True
        (shown,) = row["outcome"]["outcomes"]
        assert {"predictedConversions", "observedConversions", "counterfactualConversions"} <= set(
            shown
        )
        assert {"effectLow", "effectHigh", "reason", "pTrue"} <= set(shown)
        listed = partner.get(f"/v1/layers/{layer_id}/outcomes", params={"sent": "true"}).json()
        assert pending_id in [i["pendingId"] for i in listed["items"]]
        other = "worked" if outcome.verdict != "worked" else "backfired"
        filtered = partner.get(f"/v1/layers/{layer_id}/outcomes", params={"verdict": other})
        assert pending_id not in [i["pendingId"] for i in filtered.json()["items"]]
        unsent = partner.get(f"/v1/layers/{layer_id}/outcomes", params={"sent": "false"}).json()
        assert unsent["items"], "predictions not sent are followed too"
        assert {i["disposition"] for i in unsent["items"]} <= {
            "rejected",
            "expired",
            "held",
            "denied",
            "dry_run",
            "dispatch_failed",
        }
        assert all(
            i["verdict"] in ("confirmed", "refuted", "inconclusive") for i in unsent["items"]
        )
        bad = partner.get(f"/v1/layers/{layer_id}/outcomes", params={"verdict": "great"})
        assert bad.status_code == 422 and "verdict" in bad.text
        calibration = partner.get(f"/v1/layers/{layer_id}/outcomes/calibration").json()
        assert calibration["overall"]["count"] >= 1
        assert len(calibration["overall"]["bins"]) == 10
        summary = partner.get(f"/v1/layers/{layer_id}/outcomes/summary").json()
        assert summary["changes"] >= 1


def test_the_pending_list_shows_no_outcome_before_evaluation(
    partner: Api, boot: dict[str, Any], job_runtime: jobs.JobRuntime
) -> None:
    run = run_to_end(partner, boot, job_runtime)
    assert any(c["outcome"] == "queued" for c in run["changes"])
    items = partner.get(f"/v1/projects/{boot['projectId']}/ads/meta/pending").json()["items"]
    assert items and all(i["outcome"] is None for i in items)


def test_the_judged_horizons_follow_the_configured_days(
    partner: Api,
    boot: dict[str, Any],
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    run = run_to_end(partner, boot, job_runtime)
    service.sweep(session_factory, dt.datetime.now(dt.UTC), horizons=[21, 3])
    with session_factory() as session:
        preds = session.scalars(select(Prediction).where(Prediction.run_id == run["runId"])).all()
        layer = session.get(Layer, boot["layers"]["meta_ads"])
        assert layer is not None
        lag = lag_curve(layer)
    assert len(preds) == len(run["changes"])
    for pred in preds:
        assert pred.horizons == [3, 21]
        if pred.status == "following":  # not sent: followed from when it was proposed
            assert pred.next_due_at == due_at(pred.started_at, 3, lag)
        else:  # queued rows wait for a decision
            assert pred.status == "waiting" and pred.next_due_at is None
