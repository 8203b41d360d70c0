"""Webhook events: the outbox every domain writes to, in its own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from adpilot.kit.clock import utcnow
from adpilot.kit.ids import new_id
from adpilot.webhooks.models import WebhookEvent

EVENT_TYPES = (
    "ads.optimizer.run.completed",
    "ads.optimizer.run.failed",
    "approval.dispatched",
    "approval.dispatch_failed",
    "ads.pending.created",
    "ads.pending.expired",
    "job.completed",
    "job.failed",
    "job.canceled",
    "test.ping",
)


def emit(
    session: Session,
    *,
    organization_id: str,
    project_id: str | None,
    event_type: str,
    data: dict[str, Any],
) -> WebhookEvent:
    """Record an event in the caller's transaction; deliveries are created for every matching
    endpoint and sent durably after commit."""
    assert event_type in EVENT_TYPES, event_type
    event = WebhookEvent(
        id=new_id("evt"),
        organization_id=organization_id,
        project_id=project_id,
        type=event_type,
        data=data,
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event
