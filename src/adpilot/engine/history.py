"""What adpilot's own recent actions mean for this run: learning phases it started, creatives it
placed.

An edit that restarts an ad set's learning (an ad paused, a creative swapped or added, targeting
or schedule changed) makes the following days' delivery a poor judge of that ad set's ads: the
platform is exploring again. A creative placed into ad sets on some evidence must not be paused
elsewhere on that same evidence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from adpilot.engine.classify import BoolArray
from adpilot.engine.frame import Frame
from adpilot.engine.types import HistoryEntry

# Edits that restart the learning phase of the ad set they touch.
RELEARNING_ACTIONS = frozenset(
    {"pause_ad", "push_creative", "replace_creative", "update_targeting", "update_schedule"}
)
PLACING_ACTIONS = frozenset({"push_creative", "replace_creative"})
# Statuses of an action that has happened or still may: a rejected or failed one placed nothing.
_LIVE_STATUSES = frozenset({"pending", "approved", "dispatched"})


@dataclass(frozen=True, eq=False)
class OwnHistory:
    """Per ad set: in a learning phase adpilot started; per creative: ad sets it was placed in."""

    relearning: BoolArray
    placements: Mapping[str, frozenset[int]] = field(default_factory=dict)
    # Placements of the last `learning_days`: still waiting for the creative's own evidence.
    in_flight: Mapping[str, frozenset[int]] = field(default_factory=dict)

    def placed_elsewhere(self, creative_id: str | None, adset: int) -> bool:
        return bool(creative_id) and bool(self.placements.get(creative_id or "", set()) - {adset})

    def in_flight_count(self, creative_id: str) -> int:
        return len(self.in_flight.get(creative_id, ()))


def _adset_of(
    frame: Frame, h: HistoryEntry, pos: Mapping[str, int], ad_pos: Mapping[str, int]
) -> int | None:
    if h.adset_id is not None and h.adset_id in pos:
        return pos[h.adset_id]
    if h.entity_id in pos:
        return pos[h.entity_id]
    ad = ad_pos.get(h.entity_id)
    return int(frame.ad_adset[ad]) if ad is not None else None


def own_history(frame: Frame) -> OwnHistory:
    st, now = frame.settings, frame.inp.now
    n_sets = len(frame.adsets)
    if not frame.inp.history:
        return OwnHistory(np.zeros(n_sets, dtype=bool))
    pos = {a.id: j for j, a in enumerate(frame.adsets)}
    ad_pos = {a.id: i for i, a in enumerate(frame.ads)}
    latest: dict[int, dt.datetime] = {}
    placements: dict[str, set[int]] = {}
    in_flight: dict[str, set[int]] = {}
    fresh = dt.timedelta(days=st.learning_days)
    protect = dt.timedelta(days=st.learning_protect_max_days)
    memory = dt.timedelta(days=st.placement_memory_days)
    for h in frame.inp.history:
        j = _adset_of(frame, h, pos, ad_pos)
        if j is None:
            continue
        restarts = h.status == "dispatched" and h.action_type in RELEARNING_ACTIONS
        if restarts and now - h.at < protect and (j not in latest or h.at > latest[j]):
            latest[j] = h.at
        if (
            h.action_type in PLACING_ACTIONS
            and h.status in _LIVE_STATUSES
            and h.creative_id
            and now - h.at < memory
        ):
            placements.setdefault(h.creative_id, set()).add(j)
            if now - h.at < fresh:
                in_flight.setdefault(h.creative_id, set()).add(j)
    relearning = np.zeros(n_sets, dtype=bool)
    needed = float(st.learning_events.get(frame.inp.platform, 0))
    if needed > 0 and latest:
        conv = frame.daily["conversions"]
        set_conv = np.zeros((n_sets, frame.n_days))
        np.add.at(set_conv, frame.ad_adset, conv)
        dates = list(frame.inp.dates)
        for j, at in latest.items():
            # Conversions on the days after the edit's day (the edit's own day is mixed).
            since = sum(1 for d in dates if d > at.date())
            seen = float(set_conv[j, len(dates) - since :].sum()) if since else 0.0
            relearning[j] = seen < needed
    return OwnHistory(
        relearning,
        {c: frozenset(s) for c, s in placements.items()},
        {c: frozenset(s) for c, s in in_flight.items()},
    )
