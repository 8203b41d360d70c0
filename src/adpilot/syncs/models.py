"""One sync of a layer's entities and metrics from its platform (a job of kind `ads_sync`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, JSONType, UTCDateTime


class EntitySync(Base):
    __tablename__ = "entity_syncs"
    __table_args__ = (
        # At most one unfinished sync per layer: a second trigger joins the one under way.
        Index(
            "uq_entity_syncs_active_layer",
            "layer_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # syn_<ULID>
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    ad_account_id: Mapped[str] = mapped_column(ForeignKey("ad_accounts.id"))
    platform: Mapped[str] = mapped_column(String(8))
    trigger: Mapped[str] = mapped_column(String(16))  # connect | schedule
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed
    window_since: Mapped[dt.date] = mapped_column(Date)
    window_until: Mapped[dt.date] = mapped_column(Date)
    # {campaigns, adsets, ads, metricRows} once completed.
    counts: Mapped[dict[str, int] | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
