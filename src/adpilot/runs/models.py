"""Jobs (the generic long-running envelope) and optimizer runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, JSONType, UTCDateTime


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # job_<ULID>
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed | canceled
    run_id: Mapped[str | None] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OptimizerRun(Base):
    __tablename__ = "optimizer_runs"
    __table_args__ = (
        # At most one unfinished run per layer: the database, not a check-then-insert, decides
        # RUN_IN_PROGRESS, so two simultaneous triggers cannot both start.
        Index(
            "uq_optimizer_runs_active_layer",
            "layer_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
        Index("ix_optimizer_runs_project_created", "project_id", "started_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # run_<ULID>
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    ad_account_id: Mapped[str] = mapped_column(ForeignKey("ad_accounts.id"))
    platform: Mapped[str] = mapped_column(String(8))  # meta | tiktok | apple
    dry_run: Mapped[bool] = mapped_column(Boolean)
    trigger: Mapped[str] = mapped_column(String(16))  # api | schedule
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed | canceled
    stage: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    window_since: Mapped[dt.date | None] = mapped_column(Date)
    window_until: Mapped[dt.date | None] = mapped_column(Date)
    summary: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # The engine's proposals as evaluated, with what the later stages need (internal, not shown).
    proposals: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    entities_evaluated: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # A narrower job over the same engine (disable-underperforming, content-refresh): its kind,
    # the action types it may propose and its caps. None for a full optimizer run.
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
