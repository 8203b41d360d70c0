"""The layer's goal reaches the engine through a real optimizer run and shows in its rationales."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.db import transaction
from adpilot.pending.models import PendingAction
from adpilot.runs.stages import REMOVALS
from tests.conftest import Api
from tests.workflows.test_runs import run_to_end


def _budget_rationales(run: dict[str, Any]) -> list[str]:
    assert run["status"] == "completed", run["error"]
    return [c["rationale"] for c in run["changes"] if c["actionType"] == "update_budget"]


def test_a_conversion_value_layers_run_judges_every_budget_against_the_value(
    partner: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    layer = f"/v1/layers/{boot['layers']['meta_ads']}"
    r = partner.patch(layer, json={"goal": {"type": "conversion_value", "valueCents": 4500}})
    assert r.status_code == 200, r.text
    rationales = _budget_rationales(run_to_end(partner, boot, job_runtime, dryRun=True))
    assert rationales
    for text in rationales:
        assert "goal: conversions worth $45.00 each" in text
        assert "a conversion is worth" in text and "next conversion costs about" in text


def test_a_target_cpa_layers_run_states_the_target_and_the_projected_blend(
    partner: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    layer = f"/v1/layers/{boot['layers']['meta_ads']}"
    r = partner.patch(layer, json={"goal": {"type": "target_cpa", "targetCpaCents": 3000}})
    assert r.status_code == 200, r.text
    rationales = _budget_rationales(run_to_end(partner, boot, job_runtime, dryRun=True))
    assert rationales
    for text in rationales:
        assert "goal: a blended CPA at or under the $30.00 target" in text
        assert "projected blended CPA after this run's budget moves" in text


def test_an_auto_run_sends_its_removals_before_anything_that_may_count_on_their_slots(
    partner: Api,
    customer: Api,
    boot: dict[str, Any],
    job_runtime: Any,
    session_factory: sessionmaker[Session],
) -> None:
    defaults = f"/v1/projects/{boot['projectId']}/ads/meta/defaults"
    patched = customer.patch(
        defaults, json={"defaults": {"creative": "auto", "tactical": "auto", "structural": "auto"}}
    )
    assert patched.status_code == 200, patched.text
    run = run_to_end(partner, boot, job_runtime)
    assert run["status"] == "completed", run["error"]
    with transaction(session_factory) as session:
        rows = list(
            session.scalars(
                select(PendingAction).where(PendingAction.layer_id == boot["layers"]["meta_ads"])
            )
        )
    assert all(r.status == "dispatched" for r in rows), [r.dispatch_failure_reason for r in rows]
    removals = [r for r in rows if r.action_type in REMOVALS]
    others = [r for r in rows if r.action_type not in REMOVALS]
    assert removals and any(r.action_type == "push_creative" for r in others)
    # A push's current value counts this run's removals: their slots are free before it goes.
    last_removal = max(r.dispatched_at for r in removals if r.dispatched_at)
    assert all(r.dispatched_at and r.dispatched_at >= last_removal for r in others)
