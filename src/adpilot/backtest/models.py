"""A backtest job's row: progress while it replays, then the summary and the weekly detail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, JSONType, UTCDateTime


class Backtest(Base):
    __tablename__ = "backtests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # bkt_<ULID>
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    weeks: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    weeks_done: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
