"""The authority gate's pure decision: which axis an action is on, and what its mode means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AXES = ("creative", "tactical", "structural")
MODES = ("off", "draft", "auto")
MODE_RANK = {"off": 0, "draft": 1, "auto": 2}

ACTION_AXIS = {
    "pause_ad": "structural",
    "pause_adset": "structural",
    "update_budget": "tactical",
    "update_targeting": "tactical",
    "update_schedule": "tactical",
    "push_creative": "creative",
    "replace_creative": "creative",
    "prune_creative": "creative",
}

Decision = Literal["denied", "queued", "dispatch"]


@dataclass(frozen=True)
class GateDecision:
    decision: Decision
    axis: str
    mode: str | None  # None when the kill switch decided
    reason: str | None  # authority_axis_off | kill_switch_active | None


def decide(action_type: str, authority: dict[str, str], kill_switch_active: bool) -> GateDecision:
    """`off` denies, `draft` queues for a person, `auto` sends; the kill switch denies all."""
    axis = ACTION_AXIS[action_type]
    if kill_switch_active:
        return GateDecision("denied", axis, None, "kill_switch_active")
    mode = authority[axis]
    if mode == "off":
        return GateDecision("denied", axis, mode, "authority_axis_off")
    if mode == "draft":
        return GateDecision("queued", axis, mode, None)
    return GateDecision("dispatch", axis, mode, None)


def above_ceiling(requested: dict[str, str], ceiling: dict[str, str]) -> list[str]:
    """The axes where `requested` goes above the customer's ceiling."""
    return [axis for axis, mode in requested.items() if MODE_RANK[mode] > MODE_RANK[ceiling[axis]]]
