"""API models of webhooks: request bodies and the JSON shapes of endpoints and deliveries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from adpilot.kit.body import StrictBody
from adpilot.kit.clock import isoformat
from adpilot.webhooks.models import WebhookDelivery, WebhookEndpoint

MAX_EVENTS = 50
MAX_DESCRIPTION = 500


class EndpointCreate(StrictBody):
    url: str = Field(description="https URL that receives the events.")
    events: list[str] = Field(min_length=1, max_length=MAX_EVENTS)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    projectId: str | None = Field(
        default=None, description="Only this project's events are sent when set."
    )


class EndpointUpdate(StrictBody):
    """Every field optional; `description: null` clears it, the other fields take no null."""

    url: str | None = None
    events: list[str] | None = Field(default=None, min_length=1, max_length=MAX_EVENTS)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    status: Literal["active", "disabled"] | None = None


class EmptyBody(StrictBody):
    """Action routes take no fields; an empty body or `{}` both do."""


class WebhookEndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    projectId: str | None
    status: Literal["active", "disabled", "auto_paused"]
    createdAt: str


class EndpointWithSecret(BaseModel):
    endpoint: WebhookEndpointOut
    signingSecret: str


class RotatedSecret(EndpointWithSecret):
    previousSecretExpiresAt: str


class EndpointPage(BaseModel):
    items: list[WebhookEndpointOut]
    nextCursor: str | None


class WebhookDeliveryOut(BaseModel):
    id: str
    endpointId: str
    eventId: str
    eventType: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    nextRetryAt: str | None
    deliveredAt: str | None
    lastResponseStatus: int | None
    lastError: str | None
    createdAt: str


class DeliveryPage(BaseModel):
    items: list[WebhookDeliveryOut]
    nextCursor: str | None


class DeliveryAccepted(BaseModel):
    deliveryId: str
    eventId: str


def endpoint_out(row: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        id=row.id,
        url=row.url,
        events=list(row.events),
        description=row.description,
        projectId=row.project_id,
        status=row.status,
        createdAt=isoformat(row.created_at) or "",
    )


def delivery_out(row: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=row.id,
        endpointId=row.endpoint_id,
        eventId=row.event_id,
        eventType=row.event_type,
        status=row.status,
        attempts=row.attempts,
        nextRetryAt=isoformat(row.next_retry_at),
        deliveredAt=isoformat(row.delivered_at),
        lastResponseStatus=row.last_response_status,
        lastError=row.last_error,
        createdAt=isoformat(row.created_at) or "",
    )
