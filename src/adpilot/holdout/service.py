"""Holdout bookkeeping for a run: draw and record this period's arms, mark held-out proposals."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from adpilot.engine.types import EngineInput
from adpilot.holdout.assign import assign, budget_holders, period_start
from adpilot.holdout.models import HoldoutAssignment
from adpilot.layers.models import Layer

HOLDOUT_REASON = "holdout"


def held_holders(session: Session, layer: Layer, inp: EngineInput, now: dt.datetime) -> set[str]:
    """This period's held-out holder ids; records the arm of any holder not drawn before.

    A holder keeps the arm it was first given for the whole period (a share changed mid-period
    applies to holders drawn from then on); a share of 0 switches the holdout off at once.
    """
    share = float(layer.holdout_share or 0.0)
    if share <= 0:
        return set()
    day = now.date()
    period = period_start(day)
    known = {
        a.entity_id: a
        for a in session.scalars(
            select(HoldoutAssignment).where(
                HoldoutAssignment.layer_id == layer.id, HoldoutAssignment.period_start == period
            )
        )
    }
    holders = budget_holders(inp)
    drawn = assign([h for h in holders if h.entity_id not in known], layer.id, share, day)
    for h in holders:
        if h.entity_id in drawn:
            row = HoldoutAssignment(
                layer_id=layer.id,
                period_start=period,
                entity_id=h.entity_id,
                entity_type=h.entity_type,
                held=drawn[h.entity_id],
                share=share,
                assigned_at=now,
            )
            session.add(row)
            known[h.entity_id] = row
    session.flush()
    return {entity_id for entity_id, a in known.items() if a.held}
