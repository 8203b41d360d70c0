"""The sandbox's record of every write it received, kept in the state for idempotency and tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from adpilot.platforms.base import WriteRequest

Outcome = Literal["applied", "replayed", "lost_response", "rejected", "transient", "auth"]
# Outcomes where the platform accepted the write: each counts as one send that went through.
ACCEPTED: frozenset[str] = frozenset({"applied", "replayed", "lost_response"})
# Outcomes that changed the market (a replay does not).
CHANGED: frozenset[str] = frozenset({"applied", "lost_response"})
MAX_ENTRIES = 5000


class HasState(Protocol):
    def state(self) -> dict[str, Any]: ...


def entries(target: Mapping[str, Any] | HasState) -> list[dict[str, Any]]:
    state = target if isinstance(target, Mapping) else target.state()
    return list(state.get("writes", []))


def record(
    state: dict[str, Any],
    write: WriteRequest,
    at: dt.datetime,
    outcome: Outcome,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    entry: dict[str, Any] = {
        "key": write.idempotency_key,
        "action_type": write.action_type,
        "entity": {"type": write.entity_type, "external_id": write.entity_external_id},
        "at": at.isoformat(),
        "outcome": outcome,
    }
    if result is not None:
        entry["result"] = result
    if error is not None:
        entry["error"] = error
    # A fresh list each time: stores may hand out shallow copies of the state.
    state["writes"] = [*state.get("writes", []), entry][-MAX_ENTRIES:]


def applied_entry(state: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The entry of the write that changed the market under `key`, if any."""
    for entry in state.get("writes", []):
        if entry["key"] == key and entry["outcome"] in CHANGED:
            return dict(entry)
    return None


def write_count(target: Mapping[str, Any] | HasState, key: str) -> int:
    """How many times a write with this idempotency key was sent and accepted.

    Replays of an already-applied key count too: a caller that sends one write twice gets 2,
    even though the market changed once. Sends that failed (rejected, transient) do not count.
    """
    return sum(1 for e in entries(target) if e["key"] == key and e["outcome"] in ACCEPTED)


def applied_count(target: Mapping[str, Any] | HasState, key: str) -> int:
    """How many times a write with this key changed the market (0 or 1 for a sound platform)."""
    return sum(1 for e in entries(target) if e["key"] == key and e["outcome"] in CHANGED)
