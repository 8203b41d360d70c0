"""Webhooks: the event outbox every domain writes to, endpoints, deliveries, test pings, replays.

Nothing here commits: the request or the job that calls in owns the transaction, and deliveries
are enqueued only after it commits (a rolled-back write never sends an event).
"""

from __future__ import annotations

import datetime as dt
import json
from functools import partial
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from adpilot import errors, jobs
from adpilot.audit import service as audit
from adpilot.auth.service import Principal
from adpilot.config import Settings
from adpilot.kit.clock import utcnow
from adpilot.kit.ids import new_id
from adpilot.kit.jsonresp import dumps
from adpilot.kit.pagination import ListQuery, check_limit, newest_first_page
from adpilot.kit.uow import after_commit
from adpilot.layers.models import Project
from adpilot.webhooks import delivery, signing
from adpilot.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from adpilot.webhooks.schemas import (
    EndpointCreate,
    EndpointUpdate,
    delivery_out,
    endpoint_out,
)

log = structlog.get_logger(__name__)

EVENT_TYPES = (
    "ads.optimizer.run.completed",
    "ads.optimizer.run.failed",
    "approval.dispatched",
    "approval.dispatch_failed",
    "ads.pending.created",
    "ads.pending.expired",
    "ads.action.evaluated",
    "job.completed",
    "job.failed",
    "job.canceled",
    "ads.sync.completed",
    "ads.sync.failed",
    "test.ping",
)
DELIVERY_STATUSES = ("pending", "delivered", "failed")


# --- events and deliveries ---------------------------------------------------------------------


def workflow_id(delivery_id: str) -> str:
    """The delivery workflow's id: deterministic, so enqueueing twice sends once."""
    return f"whd-{delivery_id}"


def enqueue_delivery(delivery_id: str) -> None:
    """Start the durable delivery of one committed delivery row."""
    from adpilot.webhooks.workflows import deliver_workflow

    try:
        runtime = jobs.runtime()
    except RuntimeError:
        # No job engine in this process (e.g. a CLI command): the row stays `pending` and
        # `requeue_stranded` picks it up from a process that has one.
        log.warning("webhook delivery left for the reconcile sweep", delivery_id=delivery_id)
        return
    runtime.enqueue(
        jobs.WEBHOOKS_QUEUE,
        deliver_workflow,
        delivery_id,
        list(runtime.settings.webhook_retry_delays),
        workflow_id=workflow_id(delivery_id),
    )


def _record_event(
    session: Session,
    *,
    organization_id: str,
    project_id: str | None,
    event_type: str,
    data: dict[str, Any],
) -> WebhookEvent:
    event = WebhookEvent(
        id=new_id("evt"),
        organization_id=organization_id,
        project_id=project_id,
        type=event_type,
        # Stored as it will be sent (datetimes as ISO 8601 `Z` strings), so the outbox row is
        # exactly the payload and every retry signs the same bytes.
        data=json.loads(dumps(data)),
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def _create_delivery(session: Session, endpoint: WebhookEndpoint, event: WebhookEvent) -> str:
    delivery_id = new_id("whd")
    session.add(
        WebhookDelivery(
            id=delivery_id,
            endpoint_id=endpoint.id,
            event_id=event.id,
            event_type=event.type,
            status="pending",
            attempts=0,
            created_at=utcnow(),
        )
    )
    session.flush()
    after_commit(session, partial(enqueue_delivery, delivery_id))
    return delivery_id


def _subscribers(
    session: Session, organization_id: str, project_id: str | None, event_type: str
) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.organization_id == organization_id,
        WebhookEndpoint.status == "active",
        WebhookEndpoint.deleted_at.is_(None),
    )
    # A project-scoped endpoint hears only its project; org-wide events reach org-wide endpoints.
    if project_id is None:
        query = query.where(WebhookEndpoint.project_id.is_(None))
    else:
        query = query.where(
            WebhookEndpoint.project_id.is_(None) | (WebhookEndpoint.project_id == project_id)
        )
    # The event filter is a small JSON list per endpoint and an org has few endpoints: matching
    # in Python keeps the query identical on SQLite and PostgreSQL.
    endpoints = session.scalars(query.order_by(WebhookEndpoint.id)).all()
    return [e for e in endpoints if event_type in e.events]


def emit(
    session: Session,
    *,
    organization_id: str,
    project_id: str | None,
    event_type: str,
    data: dict[str, Any],
) -> WebhookEvent:
    """Record an event in the caller's transaction, with one delivery per active endpoint of the
    org subscribed to it; each delivery is sent durably once the transaction commits."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    event = _record_event(
        session,
        organization_id=organization_id,
        project_id=project_id,
        event_type=event_type,
        data=data,
    )
    for endpoint in _subscribers(session, organization_id, project_id, event_type):
        _create_delivery(session, endpoint, event)
    return event


STRANDED_AFTER = dt.timedelta(minutes=5)


def requeue_stranded(session: Session, *, older_than: dt.timedelta = STRANDED_AFTER) -> int:
    """Re-enqueue pending deliveries older than `older_than` (a crash between a commit and its
    enqueue strands them). Those whose workflow exists are untouched: the id is deterministic."""
    cutoff = utcnow() - older_than
    ids = session.scalars(
        select(WebhookDelivery.id).where(
            WebhookDelivery.status == "pending", WebhookDelivery.created_at < cutoff
        )
    ).all()
    for delivery_id in ids:
        after_commit(session, partial(enqueue_delivery, delivery_id))
    return len(ids)


# --- endpoints ---------------------------------------------------------------------------------


def check_events(events: list[str]) -> list[str]:
    """Known event names only (422 naming `events`); duplicates dropped, order kept."""
    for name in events:
        if name not in EVENT_TYPES:
            expected = ", ".join(EVENT_TYPES)
            raise errors.validation(
                "events", f"unknown event type {errors.quote(name)}; expected any of {expected}"
            )
    return list(dict.fromkeys(events))


def check_url(url: str, settings: Settings) -> str:
    try:
        delivery.vet(url, settings, creating=True)
    except delivery.DestinationRefused as refused:
        raise errors.validation("url", refused.problem) from None
    return url


def get_endpoint(session: Session, organization_id: str, endpoint_id: str) -> WebhookEndpoint:
    """A live endpoint of this org; anything else is 404 (existence is not revealed)."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if (
        endpoint is None
        or endpoint.organization_id != organization_id
        or endpoint.deleted_at is not None
    ):
        raise errors.not_found(f"Webhook endpoint {endpoint_id}")
    return endpoint


def _audit(
    session: Session,
    event_type: str,
    endpoint: WebhookEndpoint,
    principal: Principal,
    request_id: str | None,
    data: dict[str, Any],
) -> None:
    audit.record(
        session,
        event_type,
        organization_id=endpoint.organization_id,
        project_id=endpoint.project_id,
        principal=principal,
        request_id=request_id,
        data={"endpointId": endpoint.id, **data},
    )


def create_endpoint(
    session: Session,
    *,
    settings: Settings,
    principal: Principal,
    request_id: str | None,
    body: EndpointCreate,
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; the signing secret is returned here and never again."""
    events = check_events(body.events)
    url = check_url(body.url, settings)
    if body.projectId is not None:
        project = session.get(Project, body.projectId)
        if project is None or project.organization_id != principal.organization_id:
            raise errors.not_found(f"Project {body.projectId}")
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        organization_id=principal.organization_id,
        project_id=body.projectId,
        url=url,
        events=events,
        description=body.description,
        status="active",
        secret=secret,
        previous_secret=None,
        previous_secret_expires_at=None,
        consecutive_failures=0,
        created_at=utcnow(),
        deleted_at=None,
    )
    session.add(endpoint)
    session.flush()
    _audit(
        session,
        "webhook_endpoint.created",
        endpoint,
        principal,
        request_id,
        {"url": url, "events": events},
    )
    return endpoint, secret


def update_endpoint(
    session: Session,
    *,
    settings: Settings,
    principal: Principal,
    request_id: str | None,
    endpoint: WebhookEndpoint,
    body: EndpointUpdate,
) -> WebhookEndpoint:
    given = body.model_fields_set
    for name in ("url", "events", "status"):
        if name in given and getattr(body, name) is None:
            raise errors.validation(name, "must not be null")
    changed: dict[str, Any] = {}
    if body.events is not None:
        endpoint.events = changed["events"] = check_events(body.events)
    if body.url is not None:
        endpoint.url = changed["url"] = check_url(body.url, settings)
    if "description" in given:
        endpoint.description = changed["description"] = body.description
    if body.status is not None and body.status != endpoint.status:
        if body.status == "active":
            # Re-enabling (also after an auto-pause) starts the failure count afresh; otherwise
            # one more failure would pause the endpoint again at once.
            endpoint.consecutive_failures = 0
        endpoint.status = changed["status"] = body.status
    session.flush()
    if changed:
        _audit(session, "webhook_endpoint.updated", endpoint, principal, request_id, changed)
    return endpoint


def delete_endpoint(
    session: Session, *, principal: Principal, request_id: str | None, endpoint: WebhookEndpoint
) -> None:
    """Soft delete: the row stays for its deliveries' history; in-flight retries stop."""
    endpoint.deleted_at = utcnow()
    session.flush()
    _audit(session, "webhook_endpoint.deleted", endpoint, principal, request_id, {})


def rotate_secret(
    session: Session, *, principal: Principal, request_id: str | None, endpoint: WebhookEndpoint
) -> tuple[WebhookEndpoint, str]:
    """A new secret, returned once; the old one keeps signing (alongside) for 24 hours so
    receivers can switch without dropping a message. Rotating again ends the older overlap."""
    secret = signing.new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = utcnow() + delivery.PREVIOUS_SECRET_OVERLAP
    endpoint.secret = secret
    session.flush()
    _audit(session, "webhook_endpoint.secret_rotated", endpoint, principal, request_id, {})
    return endpoint, secret


def _require_active(endpoint: WebhookEndpoint) -> None:
    if endpoint.status != "active":
        raise errors.conflict(
            "ENDPOINT_NOT_ACTIVE",
            f"Webhook endpoint {endpoint.id} is {endpoint.status}; set its status to active first.",
            status=endpoint.status,
        )


def send_test(
    session: Session, *, principal: Principal, request_id: str | None, endpoint: WebhookEndpoint
) -> tuple[str, str]:
    """Send a `test.ping` to this endpoint only, whatever its event filter.

    Returns (deliveryId, eventId)."""
    _require_active(endpoint)
    event = _record_event(
        session,
        organization_id=endpoint.organization_id,
        project_id=endpoint.project_id,
        event_type="test.ping",
        data={"endpointId": endpoint.id, "message": "A test event sent on request."},
    )
    delivery_id = _create_delivery(session, endpoint, event)
    _audit(
        session,
        "webhook_endpoint.tested",
        endpoint,
        principal,
        request_id,
        {"deliveryId": delivery_id, "eventId": event.id},
    )
    return delivery_id, event.id


def replay_delivery(
    session: Session, *, principal: Principal, request_id: str | None, delivery_id: str
) -> tuple[str, str]:
    """Send a delivery's event again to the same endpoint, as a new delivery with its own retry
    ladder (the message id stays the event id, so receivers can still de-duplicate)."""
    original = get_delivery(session, principal.organization_id, delivery_id)
    endpoint = get_endpoint(session, principal.organization_id, original.endpoint_id)
    _require_active(endpoint)
    event = session.get(WebhookEvent, original.event_id)
    assert event is not None  # foreign key
    new_delivery_id = _create_delivery(session, endpoint, event)
    _audit(
        session,
        "webhook_delivery.replayed",
        endpoint,
        principal,
        request_id,
        {"deliveryId": new_delivery_id, "replayOf": delivery_id, "eventId": event.id},
    )
    return new_delivery_id, event.id


# --- lists -------------------------------------------------------------------------------------


def list_endpoints(
    session: Session,
    *,
    organization_id: str,
    secret: str,
    cursor: str | None,
    limit: int | None,
) -> dict[str, Any]:
    """Live endpoints of the org, newest first."""
    query = ListQuery(
        secret, f"webhook-endpoints:{organization_id}", {}, cursor, check_limit(limit)
    )
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.organization_id == organization_id,
        WebhookEndpoint.deleted_at.is_(None),
    )
    page = newest_first_page(
        session,
        query,
        stmt,
        WebhookEndpoint.created_at,
        WebhookEndpoint.id,
        lambda row: endpoint_out(row).model_dump(),
    )
    return page.as_dict()


def list_deliveries(
    session: Session,
    *,
    endpoint: WebhookEndpoint,
    secret: str,
    statuses: list[str],
    cursor: str | None,
    limit: int | None,
) -> dict[str, Any]:
    """An endpoint's deliveries, newest first, optionally by status."""
    query = ListQuery(
        secret,
        f"webhook-deliveries:{endpoint.id}",
        {"status": statuses},
        cursor,
        check_limit(limit),
    )
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if statuses:
        stmt = stmt.where(WebhookDelivery.status.in_(statuses))
    page = newest_first_page(
        session,
        query,
        stmt,
        WebhookDelivery.created_at,
        WebhookDelivery.id,
        lambda row: delivery_out(row).model_dump(),
    )
    return page.as_dict()


def get_delivery(session: Session, organization_id: str, delivery_id: str) -> WebhookDelivery:
    """One delivery of a live endpoint of this org (else 404)."""
    found = session.get(WebhookDelivery, delivery_id)
    if found is None:
        raise errors.not_found(f"Webhook delivery {delivery_id}")
    try:
        get_endpoint(session, organization_id, found.endpoint_id)
    except errors.ApiError:
        raise errors.not_found(f"Webhook delivery {delivery_id}") from None
    return found
