"""The durable dispatch of approved actions to a sandbox account (SPEC §6.6)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from dbos import DBOS, SetWorkflowID
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.audit.models import AuditEvent
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.entities.models import Ad, AdSet, Campaign
from adpilot.layers.models import AdAccount, CampaignAuthority, Layer
from adpilot.pending import service as pending_service
from adpilot.pending import workflows
from adpilot.pending.models import PendingAction
from adpilot.platforms.base import WriteRequest
from adpilot.platforms.sandbox import writelog
from adpilot.webhooks.models import WebhookEvent
from tests.conftest import Api
from tests.helpers_pending import (
    Sandbox,
    active_ad,
    add_action,
    budget_action,
    budget_holder,
    get_row,
    set_row,
    sync_sandbox,
)


@pytest.fixture()
def sandbox(
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
    job_runtime: jobs.JobRuntime,
) -> Sandbox:
    return sync_sandbox(settings, session_factory, boot["layers"]["meta_ads"])


@DBOS.workflow()
def run_like_parent(pending_ids: list[str]) -> list[dict[str, Any]]:
    """What an optimizer run does in its dispatching stage: one child per action, same ids."""
    handles = []
    for pending_id in pending_ids:
        with SetWorkflowID(workflows.dispatch_workflow_id(pending_id)):
            handles.append(DBOS.start_workflow(workflows.dispatch_workflow, pending_id))
    return [handle.get_result() for handle in handles]


def dispatch(runtime: jobs.JobRuntime, pending_id: str) -> dict[str, Any]:
    """Enqueue the dispatch the way approve does, and wait for it."""
    workflow_id = workflows.dispatch_workflow_id(pending_id)
    runtime.enqueue(
        jobs.DISPATCH_QUEUE, workflows.dispatch_workflow, pending_id, workflow_id=workflow_id
    )
    result: dict[str, Any] = runtime.wait(workflow_id, timeout=60)
    return result


def sends(sandbox: Sandbox, pending_id: str) -> list[str]:
    """The outcomes of every send the platform received under this action's key."""
    return [
        e["outcome"] for e in writelog.entries(sandbox.platform().state()) if e["key"] == pending_id
    ]


def events(session_factory: sessionmaker[Session], event_type: str) -> list[WebhookEvent]:
    with session_factory() as session:
        return list(session.scalars(select(WebhookEvent).where(WebhookEvent.type == event_type)))


def live_budget(sandbox: Sandbox) -> int | None:
    kind, _id, external_id, _name, _cents = budget_holder(sandbox)
    return sandbox.platform().read_state(kind, external_id).daily_budget_cents


def test_approval_is_dispatched_at_once_and_reaches_the_platform(
    partner: Api,
    boot: dict[str, Any],
    sandbox: Sandbox,
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    pending_id, _current, target = budget_action(sandbox, origin="queued")
    path = f"/v1/projects/{boot['projectId']}/ads/meta/pending/{pending_id}"
    assert partner.post(f"{path}/approve", json={}).status_code == 200
    result = job_runtime.wait(workflows.dispatch_workflow_id(pending_id), timeout=60)
    assert result == {"pendingId": pending_id, "status": "dispatched", "reason": None}
    row = partner.get(path).json()
    assert row["status"] == "dispatched" and row["dispatchedAt"] is not None
    assert row["dispatchFailureReason"] is None
    # The market itself changed, once.
    assert live_budget(sandbox) == target
    assert sends(sandbox, pending_id) == ["applied"]
    (event,) = events(session_factory, "approval.dispatched")
    assert event.data == row and event.project_id == boot["projectId"]
    # Local reads show the new budget without waiting for a sync.
    _kind, entity_id, *_ = budget_holder(sandbox)
    with session_factory() as session:
        campaign, adset = session.get(Campaign, entity_id), session.get(AdSet, entity_id)
        cents = (
            campaign.daily_budget_cents if campaign else adset.daily_budget_cents if adset else 0
        )
        assert cents == target
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "pending.dispatched")
        ).one()
        assert audit.data["pendingId"] == pending_id and audit.data["sent"] is True


def test_stale_live_value_fails_the_dispatch_and_names_both_values(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    pending_id, current, _target = budget_action(sandbox, origin="queued", approve=True)
    kind, _id, external_id, _name, _cents = budget_holder(sandbox)
    # Someone changed the budget in the platform's own UI after the proposal was made.
    sandbox.platform().apply(
        WriteRequest(
            "update_budget",
            kind,
            external_id,
            {},
            {"dailyBudgetCents": current + 1234},
            "manual",
        )
    )
    result = dispatch(job_runtime, pending_id)
    reason = f"stale: live dailyBudgetCents is {current + 1234}, expected {current}"
    assert result == {"pendingId": pending_id, "status": "dispatch_failed", "reason": reason}
    assert get_row(session_factory, pending_id).dispatch_failure_reason == reason
    assert sends(sandbox, pending_id) == []
    assert live_budget(sandbox) == current + 1234
    (event,) = events(session_factory, "approval.dispatch_failed")
    assert event.data["pendingId"] == pending_id
    assert event.data["dispatchFailureReason"] == reason


def test_kill_switch_at_dispatch_time_stops_the_write(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    pending_id, current, _target = budget_action(sandbox)
    with transaction(session_factory) as session:
        session.execute(
            update(Layer).where(Layer.id == sandbox.layer_id).values(kill_switch_active=True)
        )
    result = dispatch(job_runtime, pending_id)
    assert (result["status"], result["reason"]) == ("dispatch_failed", "kill_switch_active")
    assert sends(sandbox, pending_id) == [] and live_budget(sandbox) == current


def test_axis_turned_off_at_dispatch_time_stops_the_write(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    pending_id, current, _target = budget_action(sandbox)
    with transaction(session_factory) as session:
        session.execute(
            update(Layer).where(Layer.id == sandbox.layer_id).values(default_tactical="off")
        )
    result = dispatch(job_runtime, pending_id)
    assert (result["status"], result["reason"]) == ("dispatch_failed", "authority_axis_off")
    assert sends(sandbox, pending_id) == [] and live_budget(sandbox) == current


def test_a_pinned_campaign_block_decides_over_the_defaults(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    ad = active_ad(sandbox)
    pending_id = add_action(
        session_factory,
        sandbox.layer_id,
        origin="auto",
        action_type="pause_ad",
        entity_type="ad",
        entity_id=ad.id,
        entity_external_id=ad.external_id,
        campaign_id=ad.campaign_id,
        adset_id=ad.adset_id,
        current={"status": "active"},
        new={"status": "paused"},
    )
    with transaction(session_factory) as session:
        session.add(
            CampaignAuthority(
                campaign_id=ad.campaign_id,
                layer_id=sandbox.layer_id,
                creative="auto",
                tactical="auto",
                structural="off",
                modified_at=ad.created_at,
                modified_by=None,
            )
        )
    result = dispatch(job_runtime, pending_id)
    assert (result["status"], result["reason"]) == ("dispatch_failed", "authority_axis_off")


def test_transient_errors_are_retried_and_the_write_lands_once(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    pending_id, _current, target = budget_action(sandbox)
    platform = sandbox.platform()
    platform.inject_fault("transient", 2)
    platform.inject_fault("transient", 1, op="read")
    result = dispatch(job_runtime, pending_id)
    assert result["status"] == "dispatched"
    assert sends(sandbox, pending_id) == ["transient", "transient", "applied"]
    assert writelog.write_count(sandbox.platform(), pending_id) == 1
    assert live_budget(sandbox) == target
    assert get_row(session_factory, pending_id).dispatch_attempts == 3


def test_rate_limit_signal_is_honoured(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    pending_id, _current, _target = budget_action(sandbox)
    sandbox.platform().inject_fault("rate_limited", 1, retry_after=1.5)
    started = time.monotonic()
    assert dispatch(job_runtime, pending_id)["status"] == "dispatched"
    # The ladder's first step is 0.05 s here; the platform asked for 1.5 s.
    assert time.monotonic() - started >= 1.5
    assert writelog.write_count(sandbox.platform(), pending_id) == 1


def test_transient_errors_past_the_retry_ladder_fail_the_dispatch(
    sandbox: Sandbox,
    job_runtime: jobs.JobRuntime,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    pending_id, current, _target = budget_action(sandbox)
    attempts = len(settings.dispatch_retry_delays) + 1
    sandbox.platform().inject_fault("transient", attempts + 3)
    result = dispatch(job_runtime, pending_id)
    assert result["status"] == "dispatch_failed"
    assert result["reason"] == (
        f"platform error after {attempts} attempts: "
        "An unexpected error has occurred. Please retry your request later. (code 2)"
    )
    assert sends(sandbox, pending_id) == ["transient"] * attempts
    assert live_budget(sandbox) == current


def test_a_permanent_refusal_fails_with_the_platform_message_and_code(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    pending_id, _current, _target = budget_action(sandbox, origin="queued", approve=True)
    sandbox.platform().inject_fault(
        "rejected", code="1885272", message="The daily budget is too low for this bid"
    )
    result = dispatch(job_runtime, pending_id)
    reason = "The daily budget is too low for this bid (code 1885272)"
    assert (result["status"], result["reason"]) == ("dispatch_failed", reason)
    # Never retried.
    assert sends(sandbox, pending_id) == ["rejected"]
    (event,) = events(session_factory, "approval.dispatch_failed")
    assert event.data["dispatchFailureReason"] == reason


def test_an_auth_failure_marks_the_account_and_fails_the_row(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    pending_id, _current, _target = budget_action(sandbox)
    sandbox.platform().inject_fault("auth_expired")
    result = dispatch(job_runtime, pending_id)
    assert result["status"] == "dispatch_failed"
    assert result["reason"].startswith("platform auth failed: Error validating access token")
    with session_factory() as session:
        account = session.get(AdAccount, sandbox.account.id)
        assert account is not None and account.token_status == "expired"


def test_a_lost_response_is_recognised_by_reading_the_live_value(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    """The platform applied the write but the answer was lost: the retry must not send again."""
    pending_id, _current, target = budget_action(sandbox)
    sandbox.platform().inject_fault("lost_response")
    assert dispatch(job_runtime, pending_id)["status"] == "dispatched"
    assert sends(sandbox, pending_id) == ["lost_response"]
    assert live_budget(sandbox) == target


def test_a_crash_after_the_platform_write_does_not_send_twice(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    """As if a worker died between the platform's answer and our status update."""
    pending_id, _current, target = budget_action(sandbox)
    with session_factory() as session:
        row = session.get(PendingAction, pending_id)
        assert row is not None
        write = pending_service.write_request_for(row)
    set_row(session_factory, pending_id, dispatch_attempts=1)
    sandbox.platform().apply(write)
    assert dispatch(job_runtime, pending_id)["status"] == "dispatched"
    assert sends(sandbox, pending_id) == ["applied"]
    assert live_budget(sandbox) == target
    with session_factory() as session:
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "pending.dispatched")
        ).one()
        assert audit.data["sent"] is False


def test_replaying_the_dispatch_never_sends_twice(
    sandbox: Sandbox,
    job_runtime: jobs.JobRuntime,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    pending_id, _current, _target = budget_action(sandbox, origin="queued", approve=True)
    first = dispatch(job_runtime, pending_id)
    assert first["status"] == "dispatched"
    # The same workflow id again, the step again (inside and outside a workflow), a bare attempt.
    assert dispatch(job_runtime, pending_id) == first
    assert workflows.dispatch_attempt_step(pending_id, 0)["status"] == "dispatched"
    again = workflows.attempt_dispatch(settings, session_factory, pending_id, 0)
    assert again["status"] == "dispatched"
    assert sends(sandbox, pending_id) == ["applied"]
    assert len(events(session_factory, "approval.dispatched")) == 1


def test_a_settled_row_is_never_moved_again(
    sandbox: Sandbox, session_factory: sessionmaker[Session]
) -> None:
    pending_id, _current, _target = budget_action(sandbox)
    now = get_row(session_factory, pending_id).created_at
    with transaction(session_factory) as session:
        assert pending_service.mark_dispatch_failed(session, pending_id, now=now, reason="x")
    with transaction(session_factory) as session:
        assert pending_service.mark_dispatched(session, pending_id, now=now, sent=True) is None
        assert (
            pending_service.mark_dispatch_failed(session, pending_id, now=now, reason="y") is None
        )
        assert not pending_service.claim_attempt(session, pending_id, now)
    row = get_row(session_factory, pending_id)
    assert (row.status, row.dispatch_failure_reason) == ("dispatch_failed", "x")


def test_pause_ad_is_sent_and_mirrored_locally(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    ad = active_ad(sandbox)
    pending_id = add_action(
        session_factory,
        sandbox.layer_id,
        origin="auto",
        action_type="pause_ad",
        entity_type="ad",
        entity_id=ad.id,
        entity_external_id=ad.external_id,
        campaign_id=ad.campaign_id,
        adset_id=ad.adset_id,
        current={"status": "active"},
        new={"status": "paused"},
    )
    assert dispatch(job_runtime, pending_id)["status"] == "dispatched"
    assert sandbox.platform().read_state("ad", ad.external_id).status == "paused"
    with session_factory() as session:
        local = session.get(Ad, ad.id)
        assert local is not None and local.status == "paused"


def test_pushed_creative_shows_up_in_the_local_ads(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    platform = sandbox.platform()
    with session_factory() as session:
        adset = session.scalars(
            select(AdSet).where(AdSet.layer_id == sandbox.layer_id, AdSet.status == "active")
        ).first()
        assert adset is not None
    state = platform.read_state("adset", adset.external_id)
    creative = next(
        c
        for c in platform.list_creatives()
        if c.external_id not in state.active_creative_external_ids and not c.safety_failed
    )
    context = {
        "campaignExternalId": None,
        "adsetExternalId": adset.external_id,
        "adsContentId": "adc_01TESTCONTENT",
        "creativeExternalId": creative.external_id,
        "creativeName": creative.name,
    }
    pending_id = add_action(
        session_factory,
        sandbox.layer_id,
        origin="auto",
        action_type="push_creative",
        entity_type="adset",
        entity_id=adset.id,
        entity_external_id=adset.external_id,
        campaign_id=adset.campaign_id,
        adset_id=adset.id,
        current={"activeAds": state.active_ads},
        new={"adsContentId": "adc_01TESTCONTENT", "activeAds": (state.active_ads or 0) + 1},
        write_context=context,
    )
    assert dispatch(job_runtime, pending_id)["status"] == "dispatched"
    (entry,) = [e for e in writelog.entries(platform.state()) if e["key"] == pending_id]
    created = entry["result"]["created_external_id"]
    with session_factory() as session:
        ad = session.scalars(select(Ad).where(Ad.external_id == created)).one()
        assert ad.adset_id == adset.id and ad.campaign_id == adset.campaign_id
        assert ad.status == "active" and ad.ads_content_id == "adc_01TESTCONTENT"
        assert ad.creative_external_id == creative.external_id and ad.name == creative.name
    live = platform.read_state("adset", adset.external_id)
    assert creative.external_id in live.active_creative_external_ids


def test_a_run_joining_an_approvals_dispatch_sends_once(
    sandbox: Sandbox, job_runtime: jobs.JobRuntime, session_factory: sessionmaker[Session]
) -> None:
    approved, _current, target = budget_action(sandbox)
    ad = active_ad(sandbox)
    auto = add_action(
        session_factory,
        sandbox.layer_id,
        origin="auto",
        action_type="pause_ad",
        entity_type="ad",
        entity_id=ad.id,
        entity_external_id=ad.external_id,
        current={"status": "active"},
        new={"status": "paused"},
    )
    # The approval's dispatch is already queued when the run starts its children.
    job_runtime.enqueue(
        jobs.DISPATCH_QUEUE,
        workflows.dispatch_workflow,
        approved,
        workflow_id=workflows.dispatch_workflow_id(approved),
    )
    with SetWorkflowID(f"test-run-{approved}"):
        handle = DBOS.start_workflow(run_like_parent, [approved, auto])
    results = handle.get_result()
    assert [r["status"] for r in results] == ["dispatched", "dispatched"]
    assert sends(sandbox, approved) == ["applied"] and sends(sandbox, auto) == ["applied"]
    assert live_budget(sandbox) == target


class AnswerLost:
    """A platform whose first send lands but then fails with an error nobody classified."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def apply(self, write: WriteRequest) -> Any:
        result = self.inner.apply(write)
        if not self.failed:
            self.failed = True
            raise RuntimeError("connection reset by peer")
        return result


def test_an_unclassified_adapter_error_is_retried_after_reading_the_live_value(
    sandbox: Sandbox, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    pending_id, _current, target = budget_action(sandbox)
    platform = AnswerLost(sandbox.platform())

    def opener(*_args: Any) -> Any:
        return platform

    first = workflows.attempt_dispatch(settings, session_factory, pending_id, 0, opener=opener)
    assert (
        first["status"] == "approved" and first["retryInSec"] == settings.dispatch_retry_delays[0]
    )
    assert first["reason"] == "RuntimeError: connection reset by peer"
    second = workflows.attempt_dispatch(settings, session_factory, pending_id, 1, opener=opener)
    assert second["status"] == "dispatched"
    assert sends(sandbox, pending_id) == ["applied"] and live_budget(sandbox) == target
