"""The pending queue as the dashboard shows it, and a person's approve/reject from a form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from adpilot import errors
from adpilot.auth.service import Principal
from adpilot.dashboard import format as fmt
from adpilot.dashboard.views import campaign_links, currency_of, layer_account
from adpilot.db import transaction
from adpilot.deps import AppContext
from adpilot.kit.clock import utcnow
from adpilot.kit.pagination import multi_values
from adpilot.layers.models import Layer, Project
from adpilot.pending import expiry
from adpilot.pending import service as pending_service
from adpilot.pending.schemas import ApproveBody, RejectBody

PAGE_SIZE = 50
# Tab order follows the row's life: waiting, decided, then what dispatch made of it.
TABS = ("pending", "approved", "dispatched", "dispatch_failed", "rejected")


def statuses_from(raw: list[str] | None) -> tuple[str, ...]:
    """`?status=approved,dispatched`, `?status=all`, or the default: what still waits."""
    values = [v for item in raw or [] for v in item.split(",") if v.strip()]
    if "all" in values:
        return pending_service.STATUSES
    chosen = multi_values(values, "status", pending_service.STATUSES)
    return tuple(chosen) or ("pending",)


def queue_page(
    session: Session,
    secret: str,
    project: Project,
    layer: Layer,
    statuses: tuple[str, ...],
    cursor: str | None,
) -> dict[str, Any]:
    filters = pending_service.ListFilters(statuses=statuses)
    page = pending_service.list_page(
        session,
        secret=secret,
        project_id=project.id,
        platform=layer.platform,
        filters=filters,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    counts = {
        status: pending_service.count(
            session,
            project_id=project.id,
            platform=layer.platform,
            filters=pending_service.ListFilters(statuses=(status,)),
        )
        for status in TABS
    }
    rows = page["items"]
    return {
        "project": project,
        "layer": layer,
        "currency": currency_of(layer_account(session, layer)),
        "rows": rows,
        "next_cursor": page["nextCursor"],
        "statuses": statuses,
        "status_param": ",".join(statuses),
        "counts": counts,
        "tabs": TABS,
        "campaign_of": campaign_links(session, ((r["entityType"], r["entityId"]) for r in rows)),
    }


def one_row(session: Session, project: Project, layer: Layer, pending_id: str) -> dict[str, Any]:
    row = pending_service.get_action(
        session, project_id=project.id, platform=layer.platform, pending_id=pending_id
    )
    shown = pending_service.to_api(row, utcnow())
    return {
        "project": project,
        "layer": layer,
        "currency": currency_of(layer_account(session, layer)),
        "row": shown,
        "campaign_of": campaign_links(session, [(shown["entityType"], shown["entityId"])]),
    }


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str


def _refusal_message(err: errors.ApiError) -> str:
    details = err.details or {}
    subcode = details.get("subcode")
    if subcode == "ALREADY_DECIDED":
        status = fmt.label(str(details.get("status", ""))).lower()
        return f"This action was already decided: it is {status}. Nothing was changed."
    if subcode == "EXPIRED":
        return "This action expired before a decision and was rejected automatically."
    return err.message


def decide(
    ctx: AppContext,
    *,
    principal: Principal,
    project: Project,
    layer: Layer,
    pending_id: str,
    verb: str,
    text: str,
    request_id: str | None,
) -> Outcome:
    """Approve or reject through the pending service in one transaction, exactly as the API
    does, so verdicts, audit events and the dispatch are the same."""
    if not principal.has_scope("ads:write:pending"):
        raise errors.forbidden_scope("ads:write:pending")
    try:
        if verb == "approve":
            comment = ApproveBody.model_validate({"comment": text.strip() or None}).comment
        else:
            reason = RejectBody.model_validate({"reason": text.strip()}).reason
    except ValidationError:
        if verb == "approve":
            return Outcome(False, "A comment may be at most 2,000 characters.")
        return Outcome(False, "A reason is required to reject (at most 500 characters).")
    try:
        with transaction(ctx.session_factory) as session:
            if verb == "approve":
                pending_service.approve(
                    session,
                    project_id=project.id,
                    platform=layer.platform,
                    pending_id=pending_id,
                    principal=principal,
                    comment=comment,
                    request_id=request_id,
                )
            else:
                pending_service.reject(
                    session,
                    project_id=project.id,
                    platform=layer.platform,
                    pending_id=pending_id,
                    principal=principal,
                    reason=reason,
                    request_id=request_id,
                )
    except errors.ApiError as err:
        if err.status == 404:
            raise
        if (err.details or {}).get("subcode") == "EXPIRED":
            # It ran out before the sweep came by: record the expiry now.
            expiry.expire_scope(ctx, project.id, layer.platform)
        return Outcome(False, _refusal_message(err))
    if verb == "approve":
        where = fmt.platform_name(layer.platform)
        return Outcome(True, f"Approved. The change is being sent to {where}.")
    return Outcome(True, f"Rejected with the reason “{reason}”.")
