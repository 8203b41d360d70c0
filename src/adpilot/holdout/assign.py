"""Which budget holders sit in the holdout: a stable random draw per entity, re-drawn per period.

Pure: no database, no clock. A holder's draw is a hash of (layer, holder, period start), so the
same holder gets the same answer on every run of a period and a fresh one in the next period,
without storing anything to decide it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from adpilot.engine.types import EngineInput, Proposal

# Holders are re-drawn every four weeks: long enough for a change to show its effect inside a
# period, short enough that no campaign is left unoptimised for long.
CADENCE_DAYS = 28
EPOCH = dt.date(2024, 1, 1)  # a Monday: periods start on Mondays
ACTIVE = "active"


def period_start(day: dt.date) -> dt.date:
    """The first day of the holdout period holding `day`."""
    return EPOCH + dt.timedelta(days=((day - EPOCH).days // CADENCE_DAYS) * CADENCE_DAYS)


def draw(layer_id: str, holder_id: str, period: dt.date) -> float:
    """A uniform number in [0, 1) fixed by the layer, the holder and the period."""
    digest = hashlib.sha256(f"{layer_id}|{holder_id}|{period.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class Holder:
    entity_type: str  # campaign | adset
    entity_id: str


def budget_holders(inp: EngineInput) -> list[Holder]:
    """The live budget holders: campaigns with a campaign budget, else their live ad sets."""
    live = {c.id: c for c in inp.campaigns if c.status == ACTIVE}
    holders = [Holder("campaign", c.id) for c in live.values() if c.budget_mode == "campaign"]
    holders += [
        Holder("adset", s.id)
        for s in inp.adsets
        if s.status == ACTIVE
        and s.campaign_id in live
        and live[s.campaign_id].budget_mode == "adset"
    ]
    return holders


def assign(holders: Sequence[Holder], layer_id: str, share: float, day: dt.date) -> dict[str, bool]:
    """Holder id → held out, for the period holding `day`; nobody is held out at share 0."""
    period = period_start(day)
    return {h.entity_id: share > 0 and draw(layer_id, h.entity_id, period) < share for h in holders}


def holder_of(p: Proposal, inp: EngineInput) -> str | None:
    """The budget holder a proposal acts within (its own id when it moves a holder's budget)."""
    modes = {c.id: c.budget_mode for c in inp.campaigns}
    if p.entity_type == "campaign":
        return p.entity_id
    if p.campaign_id and modes.get(p.campaign_id) == "campaign":
        return p.campaign_id
    if p.entity_type == "adset":
        return p.entity_id
    return p.adset_id


def held_out(proposals: Sequence[Proposal], inp: EngineInput, held: set[str]) -> list[bool]:
    """Per proposal: whether it acts within a held-out holder (and so must never be sent)."""
    return [holder_of(p, inp) in held for p in proposals]
