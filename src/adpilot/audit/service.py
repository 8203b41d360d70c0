"""Append audit events and list them (SPEC §2.6)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adpilot.audit.models import AuditEvent
from adpilot.auth.service import Principal
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.ids import new_id
from adpilot.kit.pagination import ListQuery, Page, newest_first_page


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


def event_view(event: AuditEvent) -> dict[str, Any]:
    return {
        "eventId": event.id,
        "eventType": event.event_type,
        "occurredAt": isoformat(event.occurred_at),
        "requestId": event.request_id,
        "organizationId": event.organization_id,
        "projectId": event.project_id,
        "apiKeyId": event.api_key_id,
        "actorType": event.actor_type,
        "data": event.data,
    }


def list_events(
    session: Session,
    organization_id: str,
    query: ListQuery,
    *,
    event_types: list[str],
    project_id: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> Page:
    """The org's events, newest first; `since` is inclusive and `until` exclusive."""
    stmt = select(AuditEvent).where(AuditEvent.organization_id == organization_id)
    if event_types:
        stmt = stmt.where(AuditEvent.event_type.in_(event_types))
    if project_id is not None:
        stmt = stmt.where(AuditEvent.project_id == project_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < until)
    return newest_first_page(
        session, query, stmt, AuditEvent.occurred_at, AuditEvent.id, event_view
    )
