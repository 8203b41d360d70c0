"""Rollback through the gate: a change whose outcome backfired is proposed back, once."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import time_machine
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.kit.clock import utcnow
from adpilot.layers.models import Layer
from adpilot.outcomes import rollback, service
from adpilot.outcomes.models import ActionOutcome, Prediction
from adpilot.outcomes.workflows import propose_rollback_workflow
from adpilot.pending.models import PendingAction
from adpilot.webhooks.models import WebhookEvent
from tests.helpers_outcomes import judged_backfired
from tests.helpers_pending import (
    Sandbox,
    active_ad,
    add_action,
    budget_action,
    get_row,
    sync_sandbox,
)
from tests.workflows.test_dispatch import dispatch, live_budget

AFTER_COOLDOWN = dt.timedelta(hours=49)


@pytest.fixture()
def sandbox(
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
    job_runtime: jobs.JobRuntime,
) -> Sandbox:
    return sync_sandbox(settings, session_factory, boot["layers"]["meta_ads"])


def set_axis(session_factory: sessionmaker[Session], layer_id: str, **modes: str) -> None:
    with transaction(session_factory) as session:
        session.execute(
            update(Layer)
            .where(Layer.id == layer_id)
            .values(**{f"default_{axis}": mode for axis, mode in modes.items()})
        )


def reverts_of(session_factory: sessionmaker[Session], pending_id: str) -> list[PendingAction]:
    with session_factory() as session:
        return list(
            session.scalars(
                select(PendingAction).where(PendingAction.rationale.contains(pending_id))
            )
        )


def test_a_rollback_is_never_proposed_twice_for_the_same_change(
    sandbox: Sandbox,
    settings: Settings,
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    pending_id, before, after = budget_action(sandbox, origin="auto")
    assert dispatch(job_runtime, pending_id)["status"] == "dispatched"
    pred_id = judged_backfired(session_factory, pending_id)

    # Inside the cooldown after the change nothing is proposed, and nothing is given up.
    assert rollback.propose(settings, session_factory, pred_id, utcnow())["reason"] == "cooldown"
    assert reverts_of(session_factory, pending_id) == []
    with session_factory() as session:
        assert rollback.candidates(session, utcnow()) == []

    with time_machine.travel(utcnow() + AFTER_COOLDOWN, tick=True):
        now = utcnow()
        with session_factory() as session:
            assert rollback.candidates(session, now) == [pred_id]
        # Two workers at once, the workflow under two ids, the sweep, and a plain repeat.
        answers: list[dict[str, Any]] = []
        threads = [
            threading.Thread(
                target=lambda: answers.append(
                    rollback.propose(settings, session_factory, pred_id, now)
                )
            )
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for wid in ("rollback-a", "rollback-b"):
            job_runtime.enqueue(
                jobs.RUNS_QUEUE, propose_rollback_workflow, pred_id, workflow_id=wid
            )
            job_runtime.wait(wid, timeout=60)
        for wid in service.sweep(session_factory, now):
            job_runtime.wait(wid, timeout=60)
        rollback.propose(settings, session_factory, pred_id, now)

        (revert,) = reverts_of(session_factory, pending_id)
        # Through the gate on the original's axis: tactical is `draft`, so a person decides.
        assert revert.origin == "queued" and revert.status == "pending"
        assert revert.action_type == "update_budget" and revert.axis == "tactical"
        assert revert.current_value == {"dailyBudgetCents": after}
        assert revert.new_value == {"dailyBudgetCents": before}
        assert pending_id in revert.rationale and "Backfired" in revert.rationale
        with session_factory() as session:
            pred = session.get(Prediction, pred_id)
            assert pred is not None and pred.rollback_state == "proposed"
            assert pred.rollback_pending_id == revert.id
            created = [
                e
                for e in session.scalars(
                    select(WebhookEvent).where(WebhookEvent.type == "ads.pending.created")
                )
                if revert.id in e.data["pendingIds"]
            ]
            assert len(created) == 1
            # The revert is followed like any other change once settled.
            followed = session.scalars(
                select(Prediction).where(Prediction.pending_id == revert.id)
            ).one()
            assert followed.reverts_pending_id == pending_id
        # A rollback of a rollback is never proposed.
        assert not rollback.is_candidate(followed, 0.0)


def test_an_auto_axis_sends_the_revert_and_the_prior_budget_is_back(
    sandbox: Sandbox,
    settings: Settings,
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    set_axis(session_factory, sandbox.layer_id, tactical="auto")
    pending_id, before, after = budget_action(sandbox, origin="auto")
    dispatch(job_runtime, pending_id)
    assert live_budget(sandbox) == after
    pred_id = judged_backfired(session_factory, pending_id)
    with time_machine.travel(utcnow() + AFTER_COOLDOWN, tick=True):
        answer = rollback.propose(settings, session_factory, pred_id, utcnow())
        assert answer["state"] == "proposed"
        job_runtime.wait(f"dispatch-{answer['pendingId']}", timeout=60)
        assert get_row(session_factory, answer["pendingId"]).status == "dispatched"
        assert live_budget(sandbox) == before


def test_a_backfired_pause_is_undone_by_enabling_the_ad_again(
    sandbox: Sandbox,
    settings: Settings,
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    set_axis(session_factory, sandbox.layer_id, structural="auto")
    ad = active_ad(sandbox)
    pending_id = add_action(
        session_factory,
        sandbox.layer_id,
        origin="auto",
        action_type="pause_ad",
        entity_type="ad",
        entity_id=ad.id,
        entity_external_id=ad.external_id,
        entity_name=ad.name,
        campaign_id=ad.campaign_id,
        adset_id=ad.adset_id,
        current={"status": "active"},
        new={"status": "paused"},
    )
    dispatch(job_runtime, pending_id)
    assert sandbox.platform().read_state("ad", ad.external_id).status == "paused"
    pred_id = judged_backfired(session_factory, pending_id)
    with time_machine.travel(utcnow() + AFTER_COOLDOWN, tick=True):
        answer = rollback.propose(settings, session_factory, pred_id, utcnow())
        assert answer["state"] == "proposed"
        job_runtime.wait(f"dispatch-{answer['pendingId']}", timeout=60)
        revert = get_row(session_factory, answer["pendingId"])
        assert revert.status == "dispatched" and revert.summary.startswith("Un-pause")
        assert sandbox.platform().read_state("ad", ad.external_id).status == "active"


def test_no_rollback_when_the_axis_is_off_or_the_evidence_is_weak(
    sandbox: Sandbox,
    settings: Settings,
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    pending_id, _before, _after = budget_action(sandbox, origin="auto")
    dispatch(job_runtime, pending_id)
    weak = judged_backfired(session_factory, pending_id, p_true=0.2)
    with time_machine.travel(utcnow() + AFTER_COOLDOWN, tick=True):
        assert rollback.propose(settings, session_factory, weak, utcnow())["state"] is None
        with session_factory() as session:
            assert rollback.candidates(session, utcnow()) == []
        with transaction(session_factory) as session:
            session.execute(
                update(ActionOutcome).where(ActionOutcome.prediction_id == weak).values(p_true=0.01)
            )
        set_axis(session_factory, sandbox.layer_id, tactical="off")
        answer = rollback.propose(settings, session_factory, weak, utcnow())
        assert answer["state"] == "skipped" and "authority_axis_off" in answer["reason"]
        assert reverts_of(session_factory, pending_id) == []
        # Refused once is refused for good: turning the axis on later proposes nothing.
        set_axis(session_factory, sandbox.layer_id, tactical="auto")
        assert rollback.propose(settings, session_factory, weak, utcnow())["state"] == "skipped"
        assert reverts_of(session_factory, pending_id) == []
