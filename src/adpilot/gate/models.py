"""Verdicts: the gate's recorded decision on one write."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, JSONType, UTCDateTime


class Verdict(Base):
    __tablename__ = "verdicts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ver_<ULID>
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    run_id: Mapped[str | None] = mapped_column(String(40), index=True)
    pending_id: Mapped[str | None] = mapped_column(String(40), index=True)
    action_type: Mapped[str] = mapped_column(String(24))
    axis: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str | None] = mapped_column(String(8))  # the axis mode that applied
    # denied | queued | dispatch (gate); approved | rejected (a person's decision)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
