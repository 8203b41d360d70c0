"""`GET /v1/audit-log`: the caller's organization's audit events, newest first (SPEC §2.6)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from adpilot import errors
from adpilot.audit import service
from adpilot.auth.service import Principal
from adpilot.deps import Ctx, ReadSession, require
from adpilot.kit.clock import within_calendar
from adpilot.kit.pagination import ListQuery, check_limit, multi_values

router = APIRouter(tags=["audit"])

OneQuery = Annotated[str | None, Query()]


def _instant(value: str | None, field: str, *, end_of_day: bool = False) -> dt.datetime | None:
    """An ISO 8601 date-time (no offset means UTC), or a bare date meaning that whole UTC day."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=dt.UTC)
        else:
            parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise errors.validation(
            field, "must be an ISO 8601 date or date-time, e.g. 2026-11-21T00:00:00Z"
        ) from None
    if not within_calendar(parsed.date()):
        raise errors.validation(field, "must be between 1970-01-01 and 2999-12-31")
    if len(value) == 10 and end_of_day:
        parsed += dt.timedelta(days=1)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@router.get("/v1/audit-log")
def audit_log(
    ctx: Ctx,
    session: ReadSession,
    principal: Annotated[Principal, Depends(require("audit:read"))],
    event_type: Annotated[list[str] | None, Query(alias="eventType")] = None,
    project_id: Annotated[str | None, Query(alias="projectId")] = None,
    since: OneQuery = None,
    until: OneQuery = None,
    cursor: OneQuery = None,
    limit: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    event_types = multi_values(event_type, "eventType")
    start = _instant(since, "since")
    end = _instant(until, "until", end_of_day=True)
    filters = {
        "eventType": event_types,
        "projectId": project_id,
        "since": start.isoformat() if start else None,
        "until": end.isoformat() if end else None,
    }
    query = ListQuery(
        secret=ctx.settings.secret_key,
        scope=f"audit:{principal.organization_id}",
        filters=filters,
        cursor=cursor,
        limit=check_limit(limit),
    )
    # Another org's project id simply matches nothing: the log never reveals other tenants.
    return service.list_events(
        session,
        principal.organization_id,
        query,
        event_types=event_types,
        project_id=project_id,
        since=start,
        until=end,
    ).as_dict()
