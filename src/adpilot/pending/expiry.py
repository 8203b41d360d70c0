"""Expire a scope's overdue pending rows before an API answer or a dashboard page shows them."""

from __future__ import annotations

from adpilot.db import read_session, transaction
from adpilot.deps import AppContext
from adpilot.kit.clock import utcnow
from adpilot.pending import service


def expire_scope(ctx: AppContext, project_id: str, platform: str | None = None) -> None:
    """Expire this scope's overdue rows first, so no answer ever shows an expired row as pending.

    The cheap check keeps ordinary reads free of a write transaction; the expiry commits on its
    own, even when the request then answers 409 EXPIRED. Reads that follow open a fresh session:
    one begun earlier could still see the rows as pending (SQLite snapshots at the first read).
    """
    now = utcnow()
    with read_session(ctx.session_factory) as session:
        due = service.has_due(session, now, project_id=project_id, platform=platform)
    if due:
        with transaction(ctx.session_factory) as session:
            service.expire_due(session, now, project_id=project_id, platform=platform)
