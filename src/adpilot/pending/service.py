"""Pending actions: creation by runs, listing, a person's approve/reject, expiry, dispatch records.

Every status change is a guarded update (`… WHERE id = :id AND status = :expected`), so two
requests or workers racing on one row can never both move it; the loser gets a typed 409 (API) or
learns the row's current status (workflows). Functions here never commit: the request or the job
step that calls them owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.orm import Session

from adpilot import errors
from adpilot.audit import service as audit
from adpilot.auth.service import Principal
from adpilot.db import execute_update
from adpilot.entities.models import Ad, AdsContent, AdSet, Campaign
from adpilot.gate import service as gate_service
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.ids import new_id
from adpilot.kit.pagination import ListQuery, newest_first_page
from adpilot.layers.models import AdAccount, Layer
from adpilot.outcomes.views import row_outcomes
from adpilot.pending.models import PendingAction
from adpilot.platforms.base import EntityState, WriteRequest
from adpilot.webhooks import service as webhooks

log = logging.getLogger(__name__)

STATUSES = ("pending", "approved", "rejected", "dispatched", "dispatch_failed")
ORIGINS = ("queued", "auto")
EXPIRY = dt.timedelta(days=7)
EXPIRED_REASON = "expired"
# Only rows a person is asked about are pending actions in the API; `auto` rows are the gate's
# direct sends, kept here so they share the dispatch machinery.
LISTED_ORIGIN = "queued"


# --- creation ------------------------------------------------------------------------------


def create_action(
    session: Session,
    *,
    run_id: str | None,
    layer: Layer,
    account: AdAccount,
    origin: str,
    action_type: str,
    entity_type: str,
    entity_id: str,
    entity_external_id: str,
    entity_name: str,
    campaign_id: str | None,
    adset_id: str | None,
    axis: str,
    current_value: dict[str, Any],
    new_value: dict[str, Any],
    summary: str,
    rationale: str,
    confidence: float,
    proposed_action: dict[str, Any],
    write_context: dict[str, Any],
    evidence_fingerprint: str | None,
    now: dt.datetime,
    pending_id: str | None = None,
    source: str = "optimizer",
    job_id: str | None = None,
) -> PendingAction:
    """Store one proposal: `queued` awaits a person (status `pending`, expiring in 7 days);
    `auto` is already cleared by the gate (status `approved`, ready to dispatch).

    `proposed_action` is stored as given and shown as `proposedAction`; pass
    `{"detail": platform.build_request(write)}`.
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {', '.join(ORIGINS)}")
    # Whole seconds, as every response shows them, so "newest first, ties by pendingId" holds
    # exactly for what a client sees.
    created = now.astimezone(dt.UTC).replace(microsecond=0)
    row = PendingAction(
        id=pending_id or new_id("pa"),
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        layer_id=layer.id,
        ad_account_id=account.id,
        platform=layer.platform,
        run_id=run_id,
        job_id=job_id,
        origin=origin,
        source=source,
        action_type=action_type,
        entity_type=entity_type,
        entity_id=entity_id,
        entity_external_id=entity_external_id,
        entity_name=entity_name,
        campaign_id=campaign_id,
        adset_id=adset_id,
        axis=axis,
        current_value=dict(current_value),
        new_value=dict(new_value),
        summary=summary,
        rationale=rationale,
        confidence=float(confidence),
        proposed_action=dict(proposed_action),
        write_context=dict(write_context),
        evidence_fingerprint=evidence_fingerprint,
        status="pending" if origin == "queued" else "approved",
        created_at=created,
        expires_at=created + EXPIRY,
        decided_at=None,
        decided_by=None,
        comment=None,
        rejection_reason=None,
        dispatched_at=None,
        dispatch_failure_reason=None,
        dispatch_attempts=0,
        updated_at=created,
    )
    session.add(row)
    session.flush()
    return row


def write_request_for(row: PendingAction) -> WriteRequest:
    """The normalised write this row sends; keyed by the pending id so a retry is recognisable."""
    return WriteRequest(
        action_type=row.action_type,  # type: ignore[arg-type]
        entity_type=row.entity_type,  # type: ignore[arg-type]
        entity_external_id=row.entity_external_id,
        current_value=dict(row.current_value),
        new_value=dict(row.new_value),
        idempotency_key=row.id,
        context=dict(row.write_context or {}),
    )


def overdue(row: PendingAction, now: dt.datetime) -> bool:
    """Still `pending` in the table but past `expiresAt`: expired, whether or not the sweep has
    recorded it yet."""
    return row.status == "pending" and row.expires_at <= now


def to_api(
    row: PendingAction, now: dt.datetime | None = None, outcome: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The row as every pending endpoint and the approval.* events show it (SPEC §6.1); `outcome`
    is its evaluation once a horizon has been judged (outcomes.views.row_outcome).

    With `now`, a row past `expiresAt` the sweep has not reached yet is shown as the sweep will
    record it: rejected, reason `expired`, decided when it expired. Reads never write.
    """
    shown = _stored(row, outcome)
    if now is not None and overdue(row, now):
        shown.update(
            status="rejected",
            rejectionReason=EXPIRED_REASON,
            decidedAt=isoformat(row.expires_at),
        )
    return shown


def _stored(row: PendingAction, outcome: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "pendingId": row.id,
        "runId": row.run_id,
        # Who asked: `optimizer`, or the `partner`/`customer` key of a direct write.
        "origin": row.source,
        "actionType": row.action_type,
        "entityType": row.entity_type,
        "entityId": row.entity_id,
        "entityName": row.entity_name,
        "platform": row.platform,
        "axis": row.axis,
        "currentValue": row.current_value,
        "newValue": row.new_value,
        "rationale": row.rationale,
        "summary": row.summary,
        "confidence": row.confidence,
        "proposedAction": row.proposed_action,
        "status": row.status,
        "createdAt": isoformat(row.created_at),
        "expiresAt": isoformat(row.expires_at),
        "decidedAt": isoformat(row.decided_at),
        "decidedBy": row.decided_by,
        "comment": row.comment,
        "rejectionReason": row.rejection_reason,
        "dispatchedAt": isoformat(row.dispatched_at),
        "dispatchFailureReason": row.dispatch_failure_reason,
        "outcome": outcome,
    }


# --- reads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    """The list and count filters; also what a cursor is bound to."""

    statuses: tuple[str, ...] = ("pending",)
    action_types: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()
    # The dashboard's narrower filters: rows of these campaigns, at or above this confidence.
    campaign_ids: tuple[str, ...] = ()
    min_confidence: float | None = None

    def criteria(self, now: dt.datetime) -> list[ColumnElement[bool]]:
        """The filters as of `now`: a `pending` row past `expiresAt` counts as rejected.

        Written as `status IN (…)` plus a condition on status and expires_at only, so the
        count stays answerable from ix_pending_scope_status alone.
        """
        wanted = set(self.statuses)
        stored = wanted | ({"pending"} if "rejected" in wanted else set())
        found: list[ColumnElement[bool]] = [
            PendingAction.status.in_([s for s in STATUSES if s in stored])
        ]
        if "pending" in wanted and "rejected" not in wanted:
            found.append(or_(PendingAction.status != "pending", PendingAction.expires_at > now))
        elif "rejected" in wanted and "pending" not in wanted:
            found.append(or_(PendingAction.status != "pending", PendingAction.expires_at <= now))
        if self.action_types:
            found.append(PendingAction.action_type.in_(self.action_types))
        if self.run_ids:
            found.append(PendingAction.run_id.in_(self.run_ids))
        if self.campaign_ids:
            found.append(PendingAction.campaign_id.in_(self.campaign_ids))
        if self.min_confidence is not None:
            found.append(PendingAction.confidence >= self.min_confidence)
        return found

    def binding(self) -> dict[str, Any]:
        bound: dict[str, Any] = {
            "status": list(self.statuses),
            "actionType": list(self.action_types),
            "runId": list(self.run_ids),
        }
        # Only when set, so cursors issued without them stay valid.
        if self.campaign_ids:
            bound["campaignId"] = list(self.campaign_ids)
        if self.min_confidence is not None:
            bound["minConfidence"] = self.min_confidence
        return bound


def _listed(project_id: str, platform: str) -> list[ColumnElement[bool]]:
    return [
        PendingAction.project_id == project_id,
        PendingAction.platform == platform,
        PendingAction.origin == LISTED_ORIGIN,
    ]


def _cursor_scope(project_id: str, platform: str) -> str:
    return f"pending:{project_id}:{platform}"


def list_page(
    session: Session,
    *,
    secret: str,
    project_id: str,
    platform: str,
    filters: ListFilters,
    cursor: str | None,
    limit: int,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Newest first, ties by id descending; keyset cursors stay stable while rows are added.
    Rows past `expiresAt` are expired as of `now` (default: this moment) in the query itself."""
    at = now or utcnow()
    # On this list an empty `cursor=` asks for the first page.
    query = ListQuery(
        secret, _cursor_scope(project_id, platform), filters.binding(), cursor or None, limit
    )
    stmt = select(PendingAction).where(*_listed(project_id, platform), *filters.criteria(at))
    page = newest_first_page(
        session,
        query,
        stmt,
        PendingAction.created_at,
        PendingAction.id,
        lambda row: to_api(row, at),
    )
    outcomes = row_outcomes(session, [item["pendingId"] for item in page.items])
    for item in page.items:
        item["outcome"] = outcomes.get(item["pendingId"])
    return page.as_dict()


def oldest_ids(
    session: Session,
    *,
    project_id: str,
    platform: str,
    filters: ListFilters,
    limit: int,
    now: dt.datetime,
) -> list[str]:
    """Ids of the listed rows matching `filters`, oldest first: a bulk decision's worklist."""
    stmt = (
        select(PendingAction.id)
        .where(*_listed(project_id, platform), *filters.criteria(now))
        .order_by(PendingAction.created_at, PendingAction.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def count_query(
    project_id: str, platform: str, filters: ListFilters, now: dt.datetime
) -> Select[Any]:
    """`COUNT(*)` answered from ix_pending_scope_status alone (project, platform, origin, status,
    expires_at, action_type), so a badge stays fast at a million rows."""
    return (
        select(func.count())
        .select_from(PendingAction)
        .where(*_listed(project_id, platform), *filters.criteria(now))
    )


def count(
    session: Session,
    *,
    project_id: str,
    platform: str,
    filters: ListFilters,
    now: dt.datetime | None = None,
) -> int:
    stmt = count_query(project_id, platform, filters, now or utcnow())
    return int(session.scalar(stmt) or 0)


def get_action(
    session: Session, *, project_id: str, platform: str, pending_id: str
) -> PendingAction:
    """One listed row of this project under this platform's path; anything else is a 404."""
    row = session.scalars(
        select(PendingAction).where(PendingAction.id == pending_id, *_listed(project_id, platform))
    ).first()
    if row is None:
        raise errors.not_found(f"Pending action {pending_id}")
    return row


# --- expiry --------------------------------------------------------------------------------


def _due(
    now: dt.datetime, project_id: str | None, platform: str | None
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = [
        PendingAction.status == "pending",
        PendingAction.expires_at <= now,
    ]
    if project_id is not None:
        found += [PendingAction.project_id == project_id, PendingAction.origin == LISTED_ORIGIN]
    if platform is not None:
        found.append(PendingAction.platform == platform)
    return found


def has_due(
    session: Session,
    now: dt.datetime,
    *,
    project_id: str | None = None,
    platform: str | None = None,
) -> bool:
    """A cheap read: lets readers skip the write transaction of `expire_due` when nothing is due."""
    stmt = select(PendingAction.id).where(*_due(now, project_id, platform)).limit(1)
    return session.scalar(stmt) is not None


def expire_due(
    session: Session,
    now: dt.datetime,
    *,
    project_id: str | None = None,
    platform: str | None = None,
) -> int:
    """Reject every `pending` row past `expiresAt` (optionally in one project/platform).

    RETURNING yields exactly the rows this call moved, so concurrent sweeps never announce one
    expiry twice. One `ads.pending.expired` event and one audit event per project.
    """
    moved = session.execute(
        update(PendingAction)
        .where(*_due(now, project_id, platform))
        .values(
            status="rejected",
            rejection_reason=EXPIRED_REASON,
            # When it expired, as every read has shown it since (not when the sweep came by).
            decided_at=PendingAction.expires_at,
            updated_at=now,
        )
        .returning(
            PendingAction.id,
            PendingAction.organization_id,
            PendingAction.project_id,
            PendingAction.platform,
        )
        .execution_options(synchronize_session=False)
    ).all()
    by_project: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for pending_id, organization_id, project, platform_name in moved:
        by_project[(organization_id, project)].append((pending_id, platform_name))
    for (organization_id, project), items in by_project.items():
        ids = sorted(pid for pid, _ in items)
        data = {
            "projectId": project,
            "pendingIds": ids,
            "platforms": sorted({p for _, p in items}),
            "expiredAt": isoformat(now),
        }
        webhooks.emit(
            session,
            organization_id=organization_id,
            project_id=project,
            event_type="ads.pending.expired",
            data=data,
        )
        audit.record(
            session,
            "pending.expired",
            organization_id=organization_id,
            project_id=project,
            data=data,
        )
    return len(moved)


# --- a person's decision -------------------------------------------------------------------


def _refusal(row: PendingAction, now: dt.datetime) -> errors.ApiError | None:
    """Why this row cannot be decided now, or None when it can."""
    expired_pending = row.status == "pending" and row.expires_at <= now
    if expired_pending or (row.status == "rejected" and row.rejection_reason == EXPIRED_REASON):
        return errors.conflict(
            "EXPIRED",
            f"Pending action {row.id} expired at {isoformat(row.expires_at)} and was rejected.",
            status="rejected",
        )
    if row.status != "pending":
        return errors.conflict(
            "ALREADY_DECIDED",
            f"Pending action {row.id} was already decided: it is {row.status}.",
            status=row.status,
        )
    return None


def _move(
    session: Session,
    pending_id: str,
    expected: str,
    values: dict[str, Any],
    *extra: ColumnElement[bool],
) -> bool:
    """The one way a row changes status: a guarded update that reports whether it won."""
    statement = (
        update(PendingAction)
        .where(PendingAction.id == pending_id, PendingAction.status == expected, *extra)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return execute_update(session, statement) == 1


def _reload(session: Session, pending_id: str) -> PendingAction:
    row = session.get(PendingAction, pending_id, populate_existing=True)
    assert row is not None
    return row


def _decide(
    session: Session,
    *,
    project_id: str,
    platform: str,
    pending_id: str,
    principal: Principal,
    to_status: str,
    values: dict[str, Any],
    note: str | None,
    request_id: str | None,
) -> tuple[PendingAction, str]:
    now = utcnow()
    row = get_action(session, project_id=project_id, platform=platform, pending_id=pending_id)
    refusal = _refusal(row, now)
    if refusal is not None:
        raise refusal
    won = _move(
        session,
        row.id,
        "pending",
        {
            "status": to_status,
            "decided_at": now,
            "decided_by": principal.actor(),
            "updated_at": now,
            **values,
        },
        PendingAction.expires_at > now,
    )
    row = _reload(session, row.id)
    if not won:
        # Another decision (or the expiry) got there first; answer with what happened.
        raise _refusal(row, now) or errors.conflict(
            "ALREADY_DECIDED", f"Pending action {row.id} was already decided.", status=row.status
        )
    layer = session.get(Layer, row.layer_id)
    assert layer is not None
    verdict = gate_service.record_verdict(
        session,
        layer=layer,
        action_type=row.action_type,
        person_decision=to_status,
        axis=row.axis,
        campaign_id=row.campaign_id,
        run_id=row.run_id,
        pending_id=row.id,
        reason=note,
        actor=principal.actor(),
        request_id=request_id,
    )
    audit.record(
        session,
        f"pending.{to_status}",
        organization_id=row.organization_id,
        project_id=row.project_id,
        principal=principal,
        request_id=request_id,
        data={
            "pendingId": row.id,
            "runId": row.run_id,
            "actionType": row.action_type,
            "entityId": row.entity_id,
            "platform": row.platform,
            "verdictId": verdict.id,
            "note": note,
        },
    )
    return row, verdict.id


def approve(
    session: Session,
    *,
    project_id: str,
    platform: str,
    pending_id: str,
    principal: Principal,
    comment: str | None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """pending → approved, and the dispatch is queued as soon as this transaction commits."""
    row, verdict_id = _decide(
        session,
        project_id=project_id,
        platform=platform,
        pending_id=pending_id,
        principal=principal,
        to_status="approved",
        values={"comment": comment},
        note=comment,
        request_id=request_id,
    )
    # Imported here: the workflows module imports this one.
    from adpilot.pending import workflows

    workflows.enqueue_dispatch(session, row.id)
    return {
        "pendingId": row.id,
        "status": "approved",
        "dispatched": False,
        "dispatchedAt": None,
        "verdictId": verdict_id,
    }


def reject(
    session: Session,
    *,
    project_id: str,
    platform: str,
    pending_id: str,
    principal: Principal,
    reason: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    """pending → rejected with the person's reason."""
    row, verdict_id = _decide(
        session,
        project_id=project_id,
        platform=platform,
        pending_id=pending_id,
        principal=principal,
        to_status="rejected",
        values={"rejection_reason": reason},
        note=reason,
        request_id=request_id,
    )
    return {"pendingId": row.id, "status": "rejected", "reason": reason, "verdictId": verdict_id}


def approved_ids(session: Session, *, layer_id: str | None = None) -> list[str]:
    """Approved rows not yet sent (oldest first): what a run or a reconcile sweep dispatches."""
    stmt = select(PendingAction.id).where(PendingAction.status == "approved")
    if layer_id is not None:
        stmt = stmt.where(PendingAction.layer_id == layer_id)
    return list(session.scalars(stmt.order_by(PendingAction.created_at, PendingAction.id)))


# --- live values vs. the row's values (staleness and replay detection) ----------------------


@dataclass(frozen=True)
class CreativeRefs:
    """Our creative library ids ↔ the platform's creative refs, for comparing `adsContentId`."""

    by_content: dict[str, str]

    def ref(self, content_id: Any) -> str | None:
        return self.by_content.get(str(content_id)) if content_id is not None else None

    def content(self, ref: str | None) -> str | None:
        for content_id, known in self.by_content.items():
            if known == ref:
                return content_id
        return None


@dataclass(frozen=True)
class Difference:
    key: str
    live: Any
    expected: Any


_REMOVED = ("deleted", "archived", "removed")


def _same_list(live: Any, expected: Any) -> bool:
    if not isinstance(live, list | tuple) or not isinstance(expected, list | tuple):
        return bool(live == expected)
    return sorted(map(str, live)) == sorted(map(str, expected))


def _compare(
    key: str, expected: Any, state: EntityState, refs: CreativeRefs
) -> tuple[bool, Any] | None:
    """(matches, live value as shown) for one key, or None when the key cannot be checked."""
    if key == "status":
        live_status = state.status
        if expected == "removed" and live_status in _REMOVED:
            live_status = "removed"
        return live_status == expected, live_status
    if key == "dailyBudgetCents":
        return state.daily_budget_cents == expected, state.daily_budget_cents
    if key == "activeAds":
        # A push fills a free creative slot: fewer active ads than proposed (an ad paused since,
        # perhaps by the same run) still leaves the slot free; more means it may be taken.
        live = state.active_ads
        return live is not None and live <= expected, live
    if key == "geo":
        geo = (state.targeting or {}).get("geo")
        return _same_list(geo, expected), geo
    if key == "dayparts":
        hours = (state.schedule or {}).get("dayparts")
        return _same_list(hours, expected), hours
    if key == "adsContentId":
        wanted = refs.ref(expected)
        if wanted is None:
            return None  # no platform ref known for that creative: nothing to compare against
        if state.entity_type == "ad":
            live_ref = state.creative_external_id
            shown = refs.content(live_ref) or (f"creative {live_ref}" if live_ref else None)
            return live_ref == wanted, shown
        # On an ad set the creative "is" the value when an ad with it runs there.
        running = wanted in state.active_creative_external_ids
        return running, expected if running else "not running"
    return None


def differences(values: dict[str, Any], state: EntityState, refs: CreativeRefs) -> list[Difference]:
    """The keys of `values` whose live value differs (unknown or uncheckable keys are skipped)."""
    found: list[Difference] = []
    for key, expected in values.items():
        compared = _compare(key, expected, state, refs)
        if compared is not None and not compared[0]:
            found.append(Difference(key, compared[1], expected))
    return found


def already_applied(new_value: dict[str, Any], state: EntityState, refs: CreativeRefs) -> bool:
    """The live entity already shows every checkable new value: the write went out before."""
    checkable = [k for k in new_value if _compare(k, new_value[k], state, refs) is not None]
    return bool(checkable) and not differences(new_value, state, refs)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def stale_reason(found: Sequence[Difference]) -> str:
    """e.g. `stale: live dailyBudgetCents is 6000, expected 5000`."""
    parts = [f"live {d.key} is {_shown(d.live)}, expected {_shown(d.expected)}" for d in found]
    return "stale: " + "; ".join(parts)


# --- dispatch bookkeeping (called from the dispatch workflow's steps) -----------------------


@dataclass(frozen=True)
class DispatchPlan:
    """Everything one dispatch attempt needs, read in one short transaction."""

    pending_id: str
    status: str
    failure_reason: str | None
    attempts_made: int
    account: AdAccount
    write: WriteRequest
    # Why the row may not be sent now (kill switch, axis off, account gone), or None.
    blocked_reason: str | None
    refs: CreativeRefs


def _creative_refs(session: Session, row: PendingAction) -> CreativeRefs:
    by_content: dict[str, str] = {}
    # Lowest priority first: what ads were synced with, then the library, then the row itself.
    synced = session.execute(
        select(Ad.ads_content_id, Ad.creative_external_id).where(
            Ad.layer_id == row.layer_id,
            Ad.ads_content_id.is_not(None),
            Ad.creative_external_id.is_not(None),
        )
    )
    for content_id, ref in synced:
        if content_id and ref:
            by_content[content_id] = ref
    for content in session.scalars(
        select(AdsContent).where(AdsContent.project_id == row.project_id)
    ):
        ref = (content.asset_refs or {}).get(row.platform)
        if ref:
            by_content[content.id] = ref
    context = row.write_context or {}
    if context.get("adsContentId") and context.get("creativeExternalId"):
        by_content[str(context["adsContentId"])] = str(context["creativeExternalId"])
    return CreativeRefs(by_content)


def _blocked_reason(session: Session, row: PendingAction, account: AdAccount) -> str | None:
    layer = session.get(Layer, row.layer_id)
    assert layer is not None
    if layer.kill_switch_active:
        return "kill_switch_active"
    authority = gate_service.effective_authority(session, layer, row.campaign_id)
    if authority.authority.get(row.axis) == "off":
        return "authority_axis_off"
    if account.disconnected_at is not None:
        return "ad_account_disconnected"
    return None


def dispatch_plan(session: Session, pending_id: str) -> DispatchPlan | None:
    """Re-read the row and re-check the gate now (kill switch, axis mode) before any send."""
    row = session.get(PendingAction, pending_id, populate_existing=True)
    if row is None:
        return None
    account = session.get(AdAccount, row.ad_account_id)
    assert account is not None
    return DispatchPlan(
        pending_id=row.id,
        status=row.status,
        failure_reason=row.dispatch_failure_reason,
        attempts_made=row.dispatch_attempts or 0,
        account=account,
        write=write_request_for(row),
        blocked_reason=_blocked_reason(session, row, account) if row.status == "approved" else None,
        refs=_creative_refs(session, row),
    )


def status_of(session: Session, pending_id: str) -> tuple[str, str | None] | None:
    """(status, dispatch failure reason) as stored now, or None for an unknown id."""
    found = session.execute(
        select(PendingAction.status, PendingAction.dispatch_failure_reason).where(
            PendingAction.id == pending_id
        )
    ).first()
    return (found[0], found[1]) if found is not None else None


def claim_attempt(session: Session, pending_id: str, now: dt.datetime) -> bool:
    """Count a send attempt before it happens; later attempts then read the live value first.

    False when the row is no longer `approved` (someone else settled it): do not send.
    """
    return _move(
        session,
        pending_id,
        "approved",
        {"dispatch_attempts": PendingAction.dispatch_attempts + 1, "updated_at": now},
    )


def _settle_event(
    session: Session, row: PendingAction, event_type: str, data: dict[str, Any]
) -> None:
    # `approval.*` events are about approvals: a write the gate sent on its own (origin auto)
    # was never a pending action a partner could fetch, and its outcome is already in the run's
    # change list and its `ads.optimizer.run.completed` event. The audit log records both.
    if row.origin == LISTED_ORIGIN:
        webhooks.emit(
            session,
            organization_id=row.organization_id,
            project_id=row.project_id,
            event_type=event_type,
            data=to_api(row),
        )
    audit.record(
        session,
        event_type.replace("approval.", "pending."),
        organization_id=row.organization_id,
        project_id=row.project_id,
        data={
            "pendingId": row.id,
            "runId": row.run_id,
            "origin": row.origin,
            "actionType": row.action_type,
            "entityId": row.entity_id,
            "platform": row.platform,
            **data,
        },
    )


def mark_dispatched(
    session: Session,
    pending_id: str,
    *,
    now: dt.datetime,
    sent: bool,
    created_external_id: str | None = None,
) -> PendingAction | None:
    """approved → dispatched; mirrors the write into the local entity tables. None if lost."""
    if not _move(
        session,
        pending_id,
        "approved",
        {"status": "dispatched", "dispatched_at": now, "updated_at": now},
    ):
        return None
    row = _reload(session, pending_id)
    _mirror_write(session, row, created_external_id, now)
    _settle_event(
        session,
        row,
        "approval.dispatched",
        {"sent": sent, "createdExternalId": created_external_id},
    )
    return row


def mark_dispatch_failed(
    session: Session, pending_id: str, *, now: dt.datetime, reason: str
) -> PendingAction | None:
    """approved → dispatch_failed with the reason. None if another worker settled it first."""
    if not _move(
        session,
        pending_id,
        "approved",
        {"status": "dispatch_failed", "dispatch_failure_reason": reason[:2000], "updated_at": now},
    ):
        return None
    row = _reload(session, pending_id)
    _settle_event(session, row, "approval.dispatch_failed", {"reason": row.dispatch_failure_reason})
    return row


def mark_token(session: Session, account_id: str, token_status: str, now: dt.datetime) -> None:
    """The platform refused the account's token: record it so the account shows expired/invalid."""
    session.execute(
        update(AdAccount)
        .where(AdAccount.id == account_id)
        .values(token_status=token_status, token_last_validated_at=now)
        .execution_options(synchronize_session=False)
    )


def _mirror_write(
    session: Session, row: PendingAction, created_external_id: str | None, now: dt.datetime
) -> None:
    """Make local reads show what was just written, without waiting for the next sync."""
    new = row.new_value
    kind = row.action_type
    if kind in ("pause_ad", "prune_creative", "replace_creative"):
        ad = session.get(Ad, row.entity_id)
        if ad is None:
            return
        if kind == "pause_ad":
            ad.status = "active" if new.get("status") == "active" else "paused"
        elif kind == "prune_creative":
            ad.status = "deleted"
        else:
            ad.ads_content_id = new.get("adsContentId")
            ad.creative_external_id = (row.write_context or {}).get("creativeExternalId")
        ad.synced_at = now
    elif kind == "update_status":
        _mirror_status(session, row, str(new.get("status")), now)
    elif kind == "update_budget" and "dailyBudgetCents" in new:
        holder = (
            session.get(Campaign, row.entity_id)
            if row.entity_type == "campaign"
            else session.get(AdSet, row.entity_id)
        )
        if holder is not None:
            holder.daily_budget_cents = int(new["dailyBudgetCents"])
    elif kind in ("pause_adset", "update_targeting", "update_schedule"):
        adset = session.get(AdSet, row.entity_id)
        if adset is None:
            return
        if kind == "pause_adset":
            adset.status = "active" if new.get("status") == "active" else "paused"
        elif kind == "update_targeting":
            adset.targeting = {**(adset.targeting or {}), "geo": list(new.get("geo", []))}
        else:
            adset.schedule = {**(adset.schedule or {}), "dayparts": list(new.get("dayparts", []))}
    elif kind == "push_creative" and created_external_id:
        _upsert_pushed_ad(session, row, created_external_id, now)


def _mirror_status(session: Session, row: PendingAction, status: str, now: dt.datetime) -> None:
    """A status set by hand; deleting a campaign or ad set deletes what it holds, as the
    platforms cascade their soft deletes."""
    entity: Any = session.get(
        {"campaign": Campaign, "adset": AdSet, "ad": Ad}[row.entity_type], row.entity_id
    )
    if entity is None:
        return
    entity.status = status
    if status != "deleted" or row.entity_type == "ad":
        return
    children: list[Any] = []
    if row.entity_type == "campaign":
        children += session.scalars(select(AdSet).where(AdSet.campaign_id == row.entity_id))
        children += session.scalars(select(Ad).where(Ad.campaign_id == row.entity_id))
    else:
        children += session.scalars(select(Ad).where(Ad.adset_id == row.entity_id))
    for child in children:
        child.status = "deleted"


def _upsert_pushed_ad(
    session: Session, row: PendingAction, external_id: str, now: dt.datetime
) -> None:
    adset = session.get(AdSet, row.entity_id)
    if adset is None:
        return
    context = row.write_context or {}
    ad = session.scalars(
        select(Ad).where(Ad.layer_id == row.layer_id, Ad.external_id == external_id)
    ).first()
    if ad is None:
        ad = Ad(
            id=new_id("ad"),
            adset_id=adset.id,
            campaign_id=adset.campaign_id,
            layer_id=row.layer_id,
            project_id=row.project_id,
            external_id=external_id,
            created_at=now,
        )
        session.add(ad)
    ad.name = str(context.get("creativeName") or f"{row.entity_name} ad")[:300]
    ad.status = "active"
    ad.creative_external_id = context.get("creativeExternalId")
    ad.ads_content_id = row.new_value.get("adsContentId")
    ad.synced_at = now
    session.flush()
