"""Followed proposals (sent or not) and their judged outcomes, one row per horizon."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, JSONType, UTCDateTime


class Prediction(Base):
    """One proposal being followed: its forecasts, how it ended, and what is still due."""

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("run_id", "proposal_index", name="uq_predictions_run_proposal"),
        Index("ix_predictions_due", "status", "next_due_at"),
        Index("ix_predictions_layer_evaluated", "layer_id", "evaluated_at", "id"),
        Index("ix_predictions_pending", "pending_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # prd_<ULID>
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    layer_id: Mapped[str] = mapped_column(ForeignKey("layers.id"))
    platform: Mapped[str] = mapped_column(String(8))
    run_id: Mapped[str] = mapped_column(ForeignKey("optimizer_runs.id"))
    proposal_index: Mapped[int] = mapped_column(Integer)
    pending_id: Mapped[str | None] = mapped_column(String(40))
    action_type: Mapped[str] = mapped_column(String(24))
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(40))
    entity_name: Mapped[str] = mapped_column(String(300))
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    adset_id: Mapped[str | None] = mapped_column(String(40))
    axis: Mapped[str] = mapped_column(String(16))
    current_value: Mapped[dict[str, Any]] = mapped_column(JSONType)
    new_value: Mapped[dict[str, Any]] = mapped_column(JSONType)
    summary: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)  # as proposed (raw)
    calibrated_confidence: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType)  # incl. the forecasts
    value_cents: Mapped[float | None] = mapped_column(Float)  # target CPA the run judged against
    # waiting (a queued row not yet decided) | following | done
    status: Mapped[str] = mapped_column(String(16))
    # dispatched | rejected | expired | held | denied | dry_run | dispatch_failed | (waiting: None)
    disposition: Mapped[str | None] = mapped_column(String(16))
    sent: Mapped[bool] = mapped_column(Boolean, default=False)
    reverts_pending_id: Mapped[str | None] = mapped_column(String(40))  # this is a rollback of
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # sent, or proposed
    next_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    horizons: Mapped[list[int]] = mapped_column(JSONType)  # still to judge, ascending
    latest_verdict: Mapped[str | None] = mapped_column(String(16))
    latest_horizon: Mapped[int | None] = mapped_column(Integer)
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A rollback is proposed at most once: claimed by a guarded update from NULL.
    rollback_state: Mapped[str | None] = mapped_column(String(16))  # proposed | skipped
    rollback_pending_id: Mapped[str | None] = mapped_column(String(40))
    rollback_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ActionOutcome(Base):
    """One judged horizon of a prediction (`engine.outcomes.Outcome` as stored)."""

    __tablename__ = "action_outcomes"
    __table_args__ = (
        UniqueConstraint("prediction_id", "horizon_days", name="uq_action_outcomes_horizon"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # out_<ULID>
    prediction_id: Mapped[str] = mapped_column(ForeignKey("predictions.id"))
    horizon_days: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(16))
    p_true: Mapped[float | None] = mapped_column(Float)
    estimable: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)  # the whole Outcome, camelCase
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # when the judged data was read
    evaluated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
