"""The layer's goal reaches the engine through a real optimizer run and shows in its rationales."""

from __future__ import annotations

from typing import Any

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
