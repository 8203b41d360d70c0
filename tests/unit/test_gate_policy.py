"""The gate's pure rules: mode semantics on every axis, the kill switch, who may change what."""

from __future__ import annotations

import itertools

import pytest

from adpilot.gate import policy
from adpilot.platforms.base import ACTION_TYPES, DIRECT_ACTION_TYPES

AXIS_OF = {
    "pause_ad": "structural",
    "pause_adset": "structural",
    "update_budget": "tactical",
    "update_targeting": "tactical",
    "update_schedule": "tactical",
    "push_creative": "creative",
    "replace_creative": "creative",
    "prune_creative": "creative",
    # A person's pause, resume or delete of any entity (direct writes only).
    "update_status": "structural",
}
EXPECTED = {
    "off": ("denied", "authority_axis_off"),
    "draft": ("queued", None),
    "auto": ("dispatch", None),
}


def test_every_action_type_has_the_specified_axis() -> None:
    assert set(policy.ACTION_AXIS) == set(ACTION_TYPES) | set(DIRECT_ACTION_TYPES)
    assert dict(policy.ACTION_AXIS) == AXIS_OF


@pytest.mark.parametrize("action_type", ACTION_TYPES)
@pytest.mark.parametrize("mode", policy.MODES)
def test_the_mode_of_the_actions_axis_decides(action_type: str, mode: str) -> None:
    axis = AXIS_OF[action_type]
    # Every other axis holds a different mode, so only the right axis can explain the outcome.
    others = next(m for m in policy.MODES if m != mode)
    authority = {a: (mode if a == axis else others) for a in policy.AXES}

    decision = policy.decide(action_type, authority, kill_switch_active=False)

    assert (decision.decision, decision.reason) == EXPECTED[mode]
    assert decision.axis == axis
    assert decision.mode == mode


@pytest.mark.parametrize("action_type", ACTION_TYPES)
@pytest.mark.parametrize("mode", policy.MODES)
def test_the_kill_switch_denies_every_write_whatever_the_mode(action_type: str, mode: str) -> None:
    authority = dict.fromkeys(policy.AXES, mode)
    decision = policy.decide(action_type, authority, kill_switch_active=True)
    assert decision.decision == "denied"
    assert decision.reason == "kill_switch_active"
    assert decision.axis == AXIS_OF[action_type]


@pytest.mark.parametrize(("requested", "ceiling"), itertools.product(policy.MODES, repeat=2))
def test_above_ceiling_follows_off_draft_auto(requested: str, ceiling: str) -> None:
    rank = {"off": 0, "draft": 1, "auto": 2}
    over = policy.above_ceiling({"tactical": requested}, dict.fromkeys(policy.AXES, ceiling))
    assert over == (["tactical"] if rank[requested] > rank[ceiling] else [])


def test_overlay_replaces_only_the_given_axes() -> None:
    base = {"creative": "draft", "tactical": "off", "structural": "auto"}
    assert policy.overlay(base, {}) == base
    assert policy.overlay(base, {"tactical": "auto"}) == {
        "creative": "draft",
        "tactical": "auto",
        "structural": "auto",
    }


CEILING = {"creative": "draft", "tactical": "auto", "structural": "off"}


def test_customers_may_change_anything() -> None:
    assert (
        policy.check_policy_change(
            "customer",
            ceiling=CEILING,
            requested_modes={"creative": "auto", "structural": "auto"},
            customer_only_fields=("killSwitchActive", "ceiling"),
        )
        is None
    )


@pytest.mark.parametrize("field", policy.CUSTOMER_ONLY_FIELDS)
def test_partners_may_not_touch_customer_only_settings(field: str) -> None:
    refusal = policy.check_policy_change("partner", ceiling=CEILING, customer_only_fields=(field,))
    assert refusal is not None
    assert refusal.reason == "customer_only"
    assert field in refusal.message


def test_partners_stay_at_or_below_the_ceiling() -> None:
    assert (
        policy.check_policy_change(
            "partner",
            ceiling=CEILING,
            requested_modes={"creative": "draft", "tactical": "auto", "structural": "off"},
        )
        is None
    )
    refusal = policy.check_policy_change(
        "partner", ceiling=CEILING, requested_modes={"creative": "auto", "tactical": "off"}
    )
    assert refusal is not None
    assert refusal.reason == "above_ceiling"
    assert "creative" in refusal.message
    assert "tactical" not in refusal.message


def test_customer_only_outranks_above_ceiling_for_partners() -> None:
    refusal = policy.check_policy_change(
        "partner",
        ceiling=CEILING,
        requested_modes={"structural": "auto"},
        customer_only_fields=("ceiling",),
    )
    assert refusal is not None
    assert refusal.reason == "customer_only"
