"""API models of the pending domain: the strict request bodies and the documented answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from adpilot.kit.body import StrictBody

PendingStatus = Literal["pending", "approved", "rejected", "dispatched", "dispatch_failed"]


class ApproveBody(StrictBody):
    comment: str | None = Field(default=None, max_length=2000)


class RejectBody(StrictBody):
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # A reason of only spaces tells the partner nothing; it counts as empty.
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class Actor(BaseModel):
    actorType: str
    actorOrganizationId: str
    actorApiKeyId: str | None


class ProposedAction(BaseModel):
    detail: dict[str, Any]


class PendingActionOut(BaseModel):
    pendingId: str
    runId: str
    actionType: str
    entityType: str
    entityId: str
    entityName: str
    platform: Literal["meta", "tiktok", "apple"]
    axis: str
    currentValue: dict[str, Any]
    newValue: dict[str, Any]
    rationale: str
    summary: str
    confidence: float
    proposedAction: ProposedAction
    status: PendingStatus
    createdAt: str
    expiresAt: str
    decidedAt: str | None
    decidedBy: Actor | None
    comment: str | None
    rejectionReason: str | None
    dispatchedAt: str | None
    dispatchFailureReason: str | None
    outcome: dict[str, Any] | None = None  # its evaluation, once a horizon has been judged


class PendingPage(BaseModel):
    items: list[PendingActionOut]
    nextCursor: str | None


class PendingCount(BaseModel):
    count: int


class ApproveOut(BaseModel):
    pendingId: str
    status: Literal["approved"]
    dispatched: bool
    dispatchedAt: str | None
    verdictId: str


class RejectOut(BaseModel):
    pendingId: str
    status: Literal["rejected"]
    reason: str
    verdictId: str
