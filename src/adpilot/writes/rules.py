"""The guardrails a person's direct write meets (pure): budget step, cooldowns, platform minimum.

A person's change skips the optimizer's evidence rules (age, spend, class, confidence): the
person is the evidence. What still applies is what protects the account from a slip of the hand
(a budget step larger than the layer allows, a second budget or targeting change inside the
cooldown) and the platform's own limits, which nobody can override.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from adpilot.engine.text import money
from adpilot.engine.types import EngineSettings

# Action types a person may only repeat on one entity after the cooldown (by anyone's change).
COOLED = {"update_budget": "budget", "update_targeting": "tactical", "update_schedule": "tactical"}


@dataclass(frozen=True)
class EarlierChange:
    """An earlier change of the same entity that still counts (queued, approved or sent)."""

    action_type: str
    at: dt.datetime


def below_platform_minimum(
    platform: str, entity_type: str, cents: int, currency: str, st: EngineSettings
) -> str | None:
    """The platform refuses budgets under its minimum; never overridable."""
    minimum = st.min_daily_budget(platform, entity_type)
    if cents < minimum:
        return (
            f"is below the platform's minimum daily budget of {money(minimum, currency)} "
            f"for a {entity_type}"
        )
    return None


def budget_step_refusal(
    current: int | None, new: int, currency: str, st: EngineSettings
) -> str | None:
    """`budget_step: …` when the change exceeds the layer's step limits (fraction and amount)."""
    if current is None or current <= 0:
        return None
    step = abs(new - current)
    if step > st.budget_max_step_cents:
        return (
            f"budget_step: a change of {money(step, currency)} is above the "
            f"{money(st.budget_max_step_cents, currency)} limit per change"
        )
    if step > current * st.budget_max_step_fraction:
        return (
            f"budget_step: a change of {step / current:.0%} is above the "
            f"{st.budget_max_step_fraction:.0%} limit per change"
        )
    return None


def cooldown_refusal(
    action_type: str, earlier: Iterable[EarlierChange], now: dt.datetime, st: EngineSettings
) -> str | None:
    """`cooldown: …` when the same kind of change was made within the layer's cooldown."""
    kind = COOLED.get(action_type)
    if kind is None:
        return None
    hours = st.cooldown_budget_hours if kind == "budget" else st.cooldown_structural_hours
    limit = dt.timedelta(hours=hours)
    for change in earlier:
        if change.action_type == action_type and now - change.at < limit:
            ago = (now - change.at).total_seconds() / 3600
            what = action_type.removeprefix("update_")
            return f"cooldown: {what} changed {ago:.0f}h ago ({hours:g}h {kind} cooldown)"
    return None
