"""Append audit events (SPEC §2.6)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from adpilot.audit.models import AuditEvent
from adpilot.auth.service import Principal
from adpilot.kit.clock import utcnow
from adpilot.kit.ids import new_id


def record(
    session: Session,
    event_type: str,
    *,
    organization_id: str,
    project_id: str | None = None,
    principal: Principal | None = None,
    request_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction; system actions have no principal."""
    event = AuditEvent(
        id=new_id("aud"),
        event_type=event_type,
        occurred_at=utcnow(),
        request_id=request_id,
        organization_id=organization_id,
        project_id=project_id,
        api_key_id=principal.api_key_id if principal else None,
        actor_type=principal.actor_type if principal else "system",
        data=data or {},
    )
    session.add(event)
    return event
