"""Projects, layers (one per project and platform), connected ad accounts, campaign authority."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, JSONType, UTCDateTime


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # UUID
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Layer(Base):
    __tablename__ = "layers"
    __table_args__ = (UniqueConstraint("project_id", "platform"),)

    id: Mapped[str] = mapped_column(String(48), primary_key=True)  # lyr_<UUID>
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    platform: Mapped[str] = mapped_column(String(8))  # meta | tiktok | apple

    # Authority defaults and the customer's ceiling, each off | draft | auto.
    default_creative: Mapped[str] = mapped_column(String(8), default="draft")
    default_tactical: Mapped[str] = mapped_column(String(8), default="draft")
    default_structural: Mapped[str] = mapped_column(String(8), default="draft")
    ceiling_creative: Mapped[str] = mapped_column(String(8), default="auto")
    ceiling_tactical: Mapped[str] = mapped_column(String(8), default="auto")
    ceiling_structural: Mapped[str] = mapped_column(String(8), default="auto")
    kill_switch_active: Mapped[bool] = mapped_column(Boolean, default=False)
    defaults_modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    defaults_modified_by: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    write_classes: Mapped[dict[str, bool]] = mapped_column(JSONType)
    write_classes_modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    write_classes_modified_by: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    # Optimizer settings (SPEC §7 layer settings).
    target_cpa_cents: Mapped[int | None] = mapped_column(Integer)
    # Set when the goal is `conversion_value` (then target_cpa_cents is null); see layers.goal.
    conversion_value_cents: Mapped[int | None] = mapped_column(Integer)
    conversion_event: Mapped[str | None] = mapped_column(String(100))
    # None: the default schedule (every 6 hours); a cron expression; or "off".
    schedule: Mapped[str | None] = mapped_column(String(100))
    next_scheduled_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    # Entity and metric syncs between runs: None every 6 hours, a cron expression, or "off".
    sync_schedule: Mapped[str | None] = mapped_column(String(100))
    next_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    creative_slots: Mapped[int] = mapped_column(Integer, default=4)
    guardrail_overrides: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Share of eligible budget holders held out of optimisation to measure it (0 = off).
    holdout_share: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    settings_modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AdAccount(Base):
    __tablename__ = "ad_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # aac_<ULID>
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    platform: Mapped[str] = mapped_column(String(8))
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))  # live | sandbox
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    token_status: Mapped[str] = mapped_column(String(8), default="valid")
    token_last_validated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    connected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Set on disconnect or replace; a layer's current account is the one with this null.
    disconnected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CampaignAuthority(Base):
    """A pinned per-campaign authority block; absent means the campaign follows layer defaults."""

    __tablename__ = "campaign_authority"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    creative: Mapped[str] = mapped_column(String(8))
    tactical: Mapped[str] = mapped_column(String(8))
    structural: Mapped[str] = mapped_column(String(8))
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    modified_by: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
