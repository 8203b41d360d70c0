"""Which proposals a narrower job keeps, and its cap on new creatives per ad set."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from adpilot.runs import scope


def proposal(action_type: str, entity_id: str, confidence: float) -> Any:
    return SimpleNamespace(action_type=action_type, entity_id=entity_id, confidence=confidence)


def test_a_disable_underperforming_job_keeps_only_pauses() -> None:
    job = scope.make_scope(scope.DISABLE_UNDERPERFORMING)
    assert scope.in_scope(job, proposal("pause_ad", "ad_1", 0.9))
    assert not scope.in_scope(job, proposal("update_budget", "cmp_1", 0.9))
    assert scope.in_scope(None, proposal("update_budget", "cmp_1", 0.9))


def test_the_content_refresh_cap_keeps_the_most_confident_pushes_per_ad_set() -> None:
    job = scope.make_scope(scope.CONTENT_REFRESH, 2)
    pushes = [proposal("push_creative", "adg_1", c) for c in (0.6, 0.9, 0.7)]
    other = proposal("push_creative", "adg_2", 0.5)
    held_before = proposal("push_creative", "adg_1", 0.99)
    everything = [*pushes, other, held_before]
    over = scope.over_creative_cap(job, everything, {id(held_before): "cooldown"})
    assert over == {id(pushes[0])}
    assert scope.make_scope(scope.CONTENT_REFRESH)["maxNewCreatives"] == 3
