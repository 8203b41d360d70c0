"""Request bodies of the direct writes (strict: unknown fields and coercions are refused)."""

from __future__ import annotations

from pydantic import Field

from adpilot.kit.body import StrictBody


class WriteOptions(StrictBody):
    """What every direct write may carry besides its value."""

    # Shown as the pending row's rationale; why the person makes this change.
    note: str | None = Field(None, min_length=1, max_length=500)
    # Skip the budget step limit and the cooldowns; honoured for customer keys only.
    overrideGuardrails: bool = False


class BudgetChange(WriteOptions):
    dailyBudgetCents: int | None = Field(None, ge=1, le=10_000_000_000)
    lifetimeBudgetCents: int | None = Field(None, ge=1, le=10_000_000_000)


class TargetingChange(WriteOptions):
    geo: list[str] = Field(min_length=1, max_length=250)


class ScheduleChange(WriteOptions):
    dayparts: list[int] = Field(min_length=1, max_length=24)


class CreativeChange(WriteOptions):
    adsContentId: str = Field(min_length=1, max_length=40)
