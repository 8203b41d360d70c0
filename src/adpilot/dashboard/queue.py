"""The pending queue as the dashboard shows it, and a person's approve/reject from a form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from adpilot import errors
from adpilot.auth.service import Principal
from adpilot.dashboard import format as fmt
from adpilot.dashboard.views import campaign_links, creative_names, currency_of, layer_account
from adpilot.db import transaction
from adpilot.deps import AppContext
from adpilot.entities.models import Campaign
from adpilot.kit.clock import utcnow
from adpilot.kit.pagination import multi_values
from adpilot.layers.models import Layer, Project
from adpilot.pending import expiry
from adpilot.pending import service as pending_service
from adpilot.pending.schemas import ApproveBody, RejectBody
from adpilot.platforms.base import ACTION_TYPES

PAGE_SIZE = 50
# "All that match": at most this many rows in one bulk decision.
BULK_LIMIT = 500
# Tab order follows the row's life: waiting, decided, then what dispatch made of it.
TABS = ("pending", "approved", "dispatched", "dispatch_failed", "rejected")


def statuses_from(raw: list[str] | None) -> tuple[str, ...]:
    """`?status=approved,dispatched`, `?status=all`, or the default: what still waits."""
    values = [v for item in raw or [] for v in item.split(",") if v.strip()]
    if "all" in values:
        return pending_service.STATUSES
    chosen = multi_values(values, "status", pending_service.STATUSES)
    return tuple(chosen) or ("pending",)


@dataclass(frozen=True)
class Narrowing:
    """The queue's filters beside the status tabs: action type, campaign, least confidence."""

    action_type: str = ""
    campaign_id: str = ""
    min_confidence: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> Narrowing:
        action = params.get("action_type", "")
        confidence = params.get("min_confidence", "")
        return cls(
            action_type=action if action in ACTION_TYPES else "",
            campaign_id=params.get("campaign", "")[:40],
            min_confidence=confidence if confidence in CONFIDENCE_STEPS else "",
        )

    def filters(self, statuses: tuple[str, ...]) -> pending_service.ListFilters:
        return pending_service.ListFilters(
            statuses=statuses,
            action_types=(self.action_type,) if self.action_type else (),
            campaign_ids=(self.campaign_id,) if self.campaign_id else (),
            min_confidence=int(self.min_confidence) / 100 if self.min_confidence else None,
        )

    def query(self) -> str:
        """The filters as a query string tail (`&action_type=…`), for links and hidden fields."""
        pairs = {
            "action_type": self.action_type,
            "campaign": self.campaign_id,
            "min_confidence": self.min_confidence,
        }
        return "".join(f"&{k}={quote(v)}" for k, v in pairs.items() if v)

    @property
    def active(self) -> bool:
        return bool(self.action_type or self.campaign_id or self.min_confidence)


# Least-confidence choices in whole percent.
CONFIDENCE_STEPS = ("50", "60", "70", "80", "90")


def _campaign_choices(session: Session, layer: Layer) -> list[tuple[str, str]]:
    rows = session.execute(
        select(Campaign.id, Campaign.name)
        .where(Campaign.layer_id == layer.id)
        .order_by(Campaign.name)
    )
    return [(cid, name) for cid, name in rows]


def queue_page(
    session: Session,
    secret: str,
    project: Project,
    layer: Layer,
    statuses: tuple[str, ...],
    cursor: str | None,
    narrowing: Narrowing,
) -> dict[str, Any]:
    filters = narrowing.filters(statuses)
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
            filters=narrowing.filters((status,)),
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
        "matching": pending_service.count(
            session, project_id=project.id, platform=layer.platform, filters=filters
        ),
        "tabs": TABS,
        "narrowing": narrowing,
        "action_types": ACTION_TYPES,
        "campaigns": _campaign_choices(session, layer),
        "confidence_steps": CONFIDENCE_STEPS,
        "bulk_limit": BULK_LIMIT,
        "campaign_of": campaign_links(session, ((r["entityType"], r["entityId"]) for r in rows)),
        "names": creative_names(session, project, rows),
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
        "names": creative_names(session, project, [shown]),
    }


@dataclass(frozen=True)
class Outcome:
    """What a form did, as the one-time message the next page shows."""

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


def matching_ids(
    session: Session, project: Project, layer: Layer, narrowing: Narrowing
) -> list[str]:
    """Every pending row that matches the filters now, oldest first, up to the bulk limit."""
    return pending_service.oldest_ids(
        session,
        project_id=project.id,
        platform=layer.platform,
        filters=narrowing.filters(("pending",)),
        limit=BULK_LIMIT,
        now=utcnow(),
    )


def decide_many(
    ctx: AppContext,
    *,
    principal: Principal,
    project: Project,
    layer: Layer,
    pending_ids: Sequence[str],
    verb: str,
    text: str,
    request_id: str | None,
) -> Outcome:
    """Each row decided on its own, exactly as one decision (its own verdict, audit event and
    dispatch) with the same comment or reason; the summary counts what happened."""
    if not pending_ids:
        return Outcome(False, "Select at least one pending action first.")
    done = 0
    refused: dict[str, int] = {}
    for pending_id in dict.fromkeys(pending_ids):
        try:
            outcome = decide(
                ctx,
                principal=principal,
                project=project,
                layer=layer,
                pending_id=pending_id,
                verb=verb,
                text=text,
                request_id=request_id,
            )
        except errors.ApiError as err:
            if err.status != 404:
                raise
            outcome = Outcome(False, "It is not in this queue.")
        if outcome.ok:
            done += 1
        elif done == 0 and not refused and _whole_form_problem(outcome.message):
            return outcome  # a missing reason refuses every row alike: say it once
        else:
            refused[outcome.message] = refused.get(outcome.message, 0) + 1
    verb_done = "Approved" if verb == "approve" else "Rejected"
    message = f"{verb_done} {done} action{'s' if done != 1 else ''}."
    if verb == "approve" and done:
        message += f" They are being sent to {fmt.platform_name(layer.platform)}."
    for why, n in refused.items():
        message += f" {n} not changed: {why}"
    return Outcome(done > 0, message)


def _whole_form_problem(message: str) -> bool:
    return message.startswith(("A reason is required", "A comment may be"))
