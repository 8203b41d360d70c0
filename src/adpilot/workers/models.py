"""One row per worker executor id: who it is, and when it last proved it was alive."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, UTCDateTime


class WorkerLease(Base):
    __tablename__ = "worker_leases"

    executor_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    taken_over_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    taken_over_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
