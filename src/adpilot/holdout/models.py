"""Holdout assignments: which budget holder was in which arm, period by period."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, UTCDateTime


class HoldoutAssignment(Base):
    """One holder's arm in one holdout period, as the runs of that period saw it."""

    __tablename__ = "holdout_assignments"

    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), primary_key=True)
    period_start: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(8))  # campaign | adset
    held: Mapped[bool] = mapped_column(Boolean)
    share: Mapped[float] = mapped_column(Float)  # the layer's holdoutShare when first drawn
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
