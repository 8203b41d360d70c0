"""A layer's goal: what a PATCH asks for, how the layer shows it and what the engine gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adpilot import errors
from adpilot.engine.types import Goal
from adpilot.layers.models import Layer
from adpilot.layers.schemas import LayerSettingsPatch


@dataclass(frozen=True)
class GoalColumns:
    """The two columns a goal is stored in; at most one is set (neither: the pool's CPA)."""

    target_cpa_cents: int | None
    conversion_value_cents: int | None


def _amount(goal: Any, name: str) -> int | None:
    value: int | None = getattr(goal, name)
    return value


def goal_from_patch(patch: LayerSettingsPatch) -> GoalColumns | None:
    """The columns a PATCH sets, or None when it leaves the goal alone; refuses (422, naming
    the field) a goal without its amount, with the other type's amount, or contradicted by a
    top-level `targetCpaCents`."""
    given = patch.given()
    top = patch.target_cpa_cents
    if "goal" not in given:
        if "target_cpa_cents" in given:
            # `targetCpaCents` alone keeps meaning a target CPA goal.
            return GoalColumns(top, None)
        return None
    goal = patch.goal
    if goal is None:
        return GoalColumns(top, None)
    target = _amount(goal, "target_cpa_cents")
    value = _amount(goal, "value_cents")
    if goal.type == "target_cpa":
        if value is not None:
            raise errors.validation("goal.valueCents", "is not part of a target_cpa goal")
        if target is None:
            raise errors.validation("goal.targetCpaCents", "is required for a target_cpa goal")
        if "target_cpa_cents" in given and top != target:
            raise errors.validation(
                "targetCpaCents", "must equal goal.targetCpaCents when both are sent"
            )
        return GoalColumns(target, None)
    if target is not None:
        raise errors.validation("goal.targetCpaCents", "is not part of a conversion_value goal")
    if value is None:
        raise errors.validation("goal.valueCents", "is required for a conversion_value goal")
    if top is not None:
        raise errors.validation("targetCpaCents", "does not apply to a conversion_value goal")
    return GoalColumns(None, value)


def goal_view(layer: Layer) -> dict[str, Any]:
    """`{"type": "conversion_value", "valueCents": N}` or `{"type": "target_cpa",
    "targetCpaCents": N}` (null: the spend-weighted CPA of the account's own ads)."""
    if layer.conversion_value_cents:
        return {"type": "conversion_value", "valueCents": layer.conversion_value_cents}
    return {"type": "target_cpa", "targetCpaCents": layer.target_cpa_cents}


def engine_goal(layer: Layer) -> Goal | None:
    """The goal the engine judges this layer's budgets against (None: the pool's CPA)."""
    if layer.conversion_value_cents:
        return Goal.conversion_value(layer.conversion_value_cents)
    if layer.target_cpa_cents:
        return Goal.target_cpa(layer.target_cpa_cents)
    return None
