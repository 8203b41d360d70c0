"""Synced platform entities (campaigns, ad sets, ads), daily metrics, breakdowns, creatives."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, JSONType, UTCDateTime


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("layer_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # cmp_<ULID>
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    platform: Mapped[str] = mapped_column(String(8))
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    budget_mode: Mapped[str] = mapped_column(String(8))  # campaign | adset
    daily_budget_cents: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AdSet(Base):
    __tablename__ = "adsets"
    __table_args__ = (UniqueConstraint("layer_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # adg_<ULID>
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    daily_budget_cents: Mapped[int | None] = mapped_column(BigInteger)
    targeting: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    learning: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Ad(Base):
    __tablename__ = "ads"
    __table_args__ = (UniqueConstraint("layer_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ad_<ULID>
    adset_id: Mapped[str] = mapped_column(ForeignKey("adsets.id"), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    creative_external_id: Mapped[str | None] = mapped_column(String(100))
    ads_content_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AdDailyMetric(Base):
    __tablename__ = "ad_daily_metrics"

    ad_id: Mapped[str] = mapped_column(ForeignKey("ads.id"), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    spend_cents: Mapped[int] = mapped_column(BigInteger)
    impressions: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int] = mapped_column(BigInteger)
    conversions: Mapped[int] = mapped_column(BigInteger)
    frequency: Mapped[float | None] = mapped_column(Float)


class AdSetBreakdown(Base):
    """An ad set's delivery over the last sync window split by country or by hour of day."""

    __tablename__ = "adset_breakdowns"

    adset_id: Mapped[str] = mapped_column(ForeignKey("adsets.id"), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(8), primary_key=True)  # country | hour
    key: Mapped[str] = mapped_column(String(8), primary_key=True)
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"), index=True)
    spend_cents: Mapped[int] = mapped_column(BigInteger)
    impressions: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int] = mapped_column(BigInteger)
    conversions: Mapped[int] = mapped_column(BigInteger)


class AdsContent(Base):
    """A creative library entry usable by push/replace (SPEC §7)."""

    __tablename__ = "ads_content"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # adc_<ULID>
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    pool: Mapped[str] = mapped_column(String(16))  # generated | ugc | manual
    organic_score: Mapped[float] = mapped_column(Float)
    safety_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    override: Mapped[str | None] = mapped_column(String(8))  # include | exclude | None
    # Per-platform asset refs, e.g. {"meta": "<creative id>", "tiktok": "<video id>"}.
    asset_refs: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
