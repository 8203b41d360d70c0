"""Record the expiry of a scope's overdue pending rows when a decision finds one expired.

Reads never come here: they show an overdue row as expired in their query (`service.to_api`,
`ListFilters.criteria`), and the maintenance sweep records it.
"""

from __future__ import annotations

from adpilot.db import read_session, transaction
from adpilot.deps import AppContext
from adpilot.kit.clock import utcnow
from adpilot.pending import service


def expire_scope(ctx: AppContext, project_id: str, platform: str | None = None) -> None:
    """Expire this scope's overdue rows now. The cheap check skips the write transaction when
    nothing is due; the expiry commits on its own, even when the request then answers 409."""
    now = utcnow()
    with read_session(ctx.session_factory) as session:
        due = service.has_due(session, now, project_id=project_id, platform=platform)
    if due:
        with transaction(ctx.session_factory) as session:
            service.expire_due(session, now, project_id=project_id, platform=platform)
