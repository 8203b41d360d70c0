"""Runs of a narrower kind: which engine proposals a disable-underperforming or content-refresh
job keeps, and the cap on new creatives per ad set (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from adpilot.engine.types import Proposal

DISABLE_UNDERPERFORMING = "ads_disable_underperforming"
CONTENT_REFRESH = "ads_content_refresh"
# The engine's own action types each kind of job may propose.
KIND_ACTIONS: dict[str, tuple[str, ...]] = {
    DISABLE_UNDERPERFORMING: ("pause_ad", "pause_adset"),
    CONTENT_REFRESH: ("push_creative", "replace_creative", "prune_creative"),
}
DEFAULT_MAX_NEW_CREATIVES = 3
MAX_NEW_CREATIVES_HELD = "max_new_creatives"


def make_scope(kind: str, max_new_creatives: int | None = None) -> dict[str, Any]:
    scope: dict[str, Any] = {"kind": kind, "actionTypes": list(KIND_ACTIONS[kind])}
    if kind == CONTENT_REFRESH:
        scope["maxNewCreatives"] = max_new_creatives or DEFAULT_MAX_NEW_CREATIVES
    return scope


def in_scope(scope: Mapping[str, Any] | None, proposal: Proposal) -> bool:
    """A full optimizer run (no scope) keeps everything."""
    return scope is None or proposal.action_type in scope.get("actionTypes", ())


def over_creative_cap(
    scope: Mapping[str, Any] | None, proposals: Sequence[Proposal], held: Mapping[int, str | None]
) -> set[int]:
    """ids of push proposals beyond `maxNewCreatives` per ad set (highest confidence kept)."""
    cap = (scope or {}).get("maxNewCreatives")
    if cap is None:
        return set()
    pushes = sorted(
        (p for p in proposals if p.action_type == "push_creative" and not held.get(id(p))),
        key=lambda p: -p.confidence,
    )
    seen: Counter[str] = Counter()
    over: set[int] = set()
    for p in pushes:
        seen[p.entity_id] += 1
        if seen[p.entity_id] > cap:
            over.add(id(p))
    return over
