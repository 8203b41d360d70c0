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
    # A person's pause, resume or delete of a campaign, ad set or ad: a structural change.
    "update_status": "structural",
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


# Settings on a layer's defaults that only the customer may change (SPEC §5.2).
CUSTOMER_ONLY_FIELDS = ("killSwitchActive", "ceiling")


@dataclass(frozen=True)
class Refusal:
    """Why the gate refuses a change to authority settings (an AUTHORITY_DENIED answer)."""

    reason: Literal["customer_only", "above_ceiling"]
    message: str


def overlay(base: dict[str, str], changes: dict[str, str]) -> dict[str, str]:
    """`base` with the given axes replaced; axes not in `changes` keep their mode."""
    return {axis: changes.get(axis, base[axis]) for axis in AXES}


def check_policy_change(
    actor_type: str,
    *,
    ceiling: dict[str, str],
    requested_modes: dict[str, str] | None = None,
    customer_only_fields: tuple[str, ...] = (),
) -> Refusal | None:
    """May this actor make this change? Customers may set anything; partners stay below the ceiling.

    `requested_modes` are only the axes the caller sent: axes carried over unchanged (from the
    defaults, say) were set by someone else and are not this caller's doing.
    """
    if actor_type == "customer":
        return None
    if customer_only_fields:
        names = " and ".join(customer_only_fields)
        return Refusal("customer_only", f"Only a customer key may change {names}.")
    over = above_ceiling(requested_modes or {}, ceiling)
    if over:
        detail = ", ".join(f"{axis} (ceiling {ceiling[axis]})" for axis in over)
        return Refusal(
            "above_ceiling",
            f"A partner key cannot set an axis above the customer's ceiling: {detail}.",
        )
    return None
