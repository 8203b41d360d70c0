"""The append-only audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, JSONType, UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_org_occurred", "organization_id", "occurred_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # aud_<ULID>
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    request_id: Mapped[str | None] = mapped_column(String(40))
    organization_id: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[str | None] = mapped_column(String(40), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    actor_type: Mapped[str | None] = mapped_column(String(16))  # partner | customer | system
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
