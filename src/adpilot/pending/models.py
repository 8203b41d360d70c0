"""Actions proposed by runs: queued ones await a person's decision; auto ones go straight out."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, JSONType, UTCDateTime


class PendingAction(Base):
    __tablename__ = "pending_actions"
    __table_args__ = (
        # List and count: scope by project/platform/origin, filter by status, expiry and type,
        # order by (created_at, id) descending. Count is index-only on PostgreSQL.
        Index(
            "ix_pending_scope_status",
            "project_id",
            "platform",
            "origin",
            "status",
            "expires_at",
            "action_type",
        ),
        Index("ix_pending_scope_created", "project_id", "platform", "origin", "created_at", "id"),
        Index("ix_pending_entity_type", "entity_id", "action_type", "created_at"),
        Index("ix_pending_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # pa_<ULID>
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    ad_account_id: Mapped[str] = mapped_column(ForeignKey("ad_accounts.id"))
    platform: Mapped[str] = mapped_column(String(8))  # meta | tiktok | apple
    # The run that proposed it; None for a direct write made over the API (which has `job_id`).
    run_id: Mapped[str | None] = mapped_column(ForeignKey("optimizer_runs.id"), index=True)
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # queued: awaited a person's approval (listed under /pending); auto: the gate sent it at once.
    origin: Mapped[str] = mapped_column(String(8))
    # Who asked for it: the optimizer, or a partner/customer key writing directly (API `origin`).
    source: Mapped[str] = mapped_column(String(16), server_default="optimizer")
    action_type: Mapped[str] = mapped_column(String(24))
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(40))
    entity_external_id: Mapped[str] = mapped_column(String(100))
    entity_name: Mapped[str] = mapped_column(String(300))
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    adset_id: Mapped[str | None] = mapped_column(String(40))
    axis: Mapped[str] = mapped_column(String(16))
    current_value: Mapped[dict[str, Any]] = mapped_column(JSONType)
    new_value: Mapped[dict[str, Any]] = mapped_column(JSONType)
    summary: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    proposed_action: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Context the write needs beyond the values (e.g. the creative's platform asset ref).
    write_context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    evidence_fingerprint: Mapped[str | None] = mapped_column(Text)
    # pending | approved | rejected | dispatched | dispatch_failed
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    comment: Mapped[str | None] = mapped_column(String(2000))
    rejection_reason: Mapped[str | None] = mapped_column(String(500))
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    dispatch_failure_reason: Mapped[str | None] = mapped_column(Text)
    dispatch_attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
