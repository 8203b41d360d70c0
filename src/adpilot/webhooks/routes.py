"""HTTP routes: webhook endpoints, their secrets and test pings, deliveries and replays."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from adpilot.auth.service import Principal
from adpilot.deps import Ctx, RawBody, ReadSession, require, write
from adpilot.kit.body import body_schema, parse_body
from adpilot.kit.clock import isoformat
from adpilot.kit.idempotency import WriteResult
from adpilot.kit.pagination import multi_values
from adpilot.webhooks import service
from adpilot.webhooks.schemas import (
    DeliveryAccepted,
    DeliveryPage,
    EmptyBody,
    EndpointCreate,
    EndpointPage,
    EndpointUpdate,
    EndpointWithSecret,
    RotatedSecret,
    WebhookDeliveryOut,
    WebhookEndpointOut,
    delivery_out,
    endpoint_out,
)

router = APIRouter(tags=["webhooks"])

Reader = Annotated[Principal, Depends(require("webhooks:read"))]
Writer = Annotated[Principal, Depends(require("webhooks:write"))]


def _accepted(delivery_id: str, event_id: str) -> WriteResult:
    return WriteResult(202, DeliveryAccepted(deliveryId=delivery_id, eventId=event_id).model_dump())


@router.post(
    "/v1/webhook-endpoints",
    status_code=201,
    openapi_extra=body_schema(EndpointCreate),
    responses={201: {"model": EndpointWithSecret}},
    summary="Create a webhook endpoint (its signing secret is shown only in this answer)",
)
def create_endpoint(request: Request, ctx: Ctx, raw: RawBody, principal: Writer) -> Response:
    body = parse_body(EndpointCreate, raw)

    def handler(session: Session) -> WriteResult:
        endpoint, secret = service.create_endpoint(
            session,
            settings=ctx.settings,
            principal=principal,
            request_id=request.state.request_id,
            body=body,
        )
        created = EndpointWithSecret(endpoint=endpoint_out(endpoint), signingSecret=secret)
        return WriteResult(201, created.model_dump())

    return write(request, ctx, principal, raw, handler)


@router.get(
    "/v1/webhook-endpoints", response_model=EndpointPage, summary="Webhook endpoints, newest first"
)
def list_endpoints(
    ctx: Ctx,
    session: ReadSession,
    principal: Reader,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    return service.list_endpoints(
        session,
        organization_id=principal.organization_id,
        secret=ctx.settings.secret_key,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/v1/webhook-endpoints/{endpointId}",
    response_model=WebhookEndpointOut,
    summary="One webhook endpoint",
)
def get_endpoint(endpointId: str, session: ReadSession, principal: Reader) -> dict[str, Any]:
    endpoint = service.get_endpoint(session, principal.organization_id, endpointId)
    return endpoint_out(endpoint).model_dump()


@router.patch(
    "/v1/webhook-endpoints/{endpointId}",
    openapi_extra=body_schema(EndpointUpdate),
    responses={200: {"model": WebhookEndpointOut}},
    summary="Change an endpoint's url, events, description or status (active | disabled)",
)
def update_endpoint(
    endpointId: str, request: Request, ctx: Ctx, raw: RawBody, principal: Writer
) -> Response:
    def handler(session: Session) -> WriteResult:
        endpoint = service.get_endpoint(session, principal.organization_id, endpointId)
        body = parse_body(EndpointUpdate, raw)
        endpoint = service.update_endpoint(
            session,
            settings=ctx.settings,
            principal=principal,
            request_id=request.state.request_id,
            endpoint=endpoint,
            body=body,
        )
        return WriteResult(200, endpoint_out(endpoint).model_dump())

    return write(request, ctx, principal, raw, handler)


@router.delete(
    "/v1/webhook-endpoints/{endpointId}",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook endpoint (pending retries to it stop)",
)
def delete_endpoint(
    endpointId: str, request: Request, ctx: Ctx, raw: RawBody, principal: Writer
) -> Response:
    def handler(session: Session) -> WriteResult:
        endpoint = service.get_endpoint(session, principal.organization_id, endpointId)
        service.delete_endpoint(
            session, principal=principal, request_id=request.state.request_id, endpoint=endpoint
        )
        return WriteResult(204, None)

    answer: Response = write(request, ctx, principal, raw, handler)
    if answer.status_code != 204:
        return answer  # a replayed refusal keeps its status and body
    # A 204 carries no body; keep only the headers that still mean something without one.
    kept = {k: v for k, v in answer.headers.items() if k.lower() == "idempotent-replayed"}
    return Response(status_code=204, headers=kept)


@router.post(
    "/v1/webhook-endpoints/{endpointId}/test",
    status_code=202,
    responses={202: {"model": DeliveryAccepted}},
    summary="Send a test.ping to this endpoint, whatever its event filter",
)
def send_test(
    endpointId: str, request: Request, ctx: Ctx, raw: RawBody, principal: Writer
) -> Response:
    def handler(session: Session) -> WriteResult:
        endpoint = service.get_endpoint(session, principal.organization_id, endpointId)
        parse_body(EmptyBody, raw, allow_empty=True)
        delivery_id, event_id = service.send_test(
            session, principal=principal, request_id=request.state.request_id, endpoint=endpoint
        )
        return _accepted(delivery_id, event_id)

    return write(request, ctx, principal, raw, handler)


@router.post(
    "/v1/webhook-endpoints/{endpointId}/rotate-secret",
    responses={200: {"model": RotatedSecret}},
    summary="Issue a new signing secret; the old one keeps signing for 24 hours",
)
def rotate_secret(
    endpointId: str, request: Request, ctx: Ctx, raw: RawBody, principal: Writer
) -> Response:
    def handler(session: Session) -> WriteResult:
        endpoint = service.get_endpoint(session, principal.organization_id, endpointId)
        parse_body(EmptyBody, raw, allow_empty=True)
        endpoint, secret = service.rotate_secret(
            session, principal=principal, request_id=request.state.request_id, endpoint=endpoint
        )
        rotated = RotatedSecret(
            endpoint=endpoint_out(endpoint),
            signingSecret=secret,
            previousSecretExpiresAt=isoformat(endpoint.previous_secret_expires_at) or "",
        )
        return WriteResult(200, rotated.model_dump())

    return write(request, ctx, principal, raw, handler)


@router.get(
    "/v1/webhook-endpoints/{endpointId}/deliveries",
    response_model=DeliveryPage,
    summary="An endpoint's deliveries, newest first",
)
def list_deliveries(
    endpointId: str,
    ctx: Ctx,
    session: ReadSession,
    principal: Reader,
    status: Annotated[list[str] | None, Query()] = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    endpoint = service.get_endpoint(session, principal.organization_id, endpointId)
    return service.list_deliveries(
        session,
        endpoint=endpoint,
        secret=ctx.settings.secret_key,
        statuses=multi_values(status, "status", service.DELIVERY_STATUSES),
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/v1/webhook-deliveries/{deliveryId}",
    response_model=WebhookDeliveryOut,
    summary="One webhook delivery",
)
def get_delivery(deliveryId: str, session: ReadSession, principal: Reader) -> dict[str, Any]:
    return delivery_out(
        service.get_delivery(session, principal.organization_id, deliveryId)
    ).model_dump()


@router.post(
    "/v1/webhook-deliveries/{deliveryId}/replay",
    status_code=202,
    responses={202: {"model": DeliveryAccepted}},
    summary="Send a delivery's event again, as a new delivery",
)
def replay_delivery(
    deliveryId: str, request: Request, ctx: Ctx, raw: RawBody, principal: Writer
) -> Response:
    def handler(session: Session) -> WriteResult:
        service.get_delivery(session, principal.organization_id, deliveryId)
        parse_body(EmptyBody, raw, allow_empty=True)
        delivery_id, event_id = service.replay_delivery(
            session,
            principal=principal,
            request_id=request.state.request_id,
            delivery_id=deliveryId,
        )
        return _accepted(delivery_id, event_id)

    return write(request, ctx, principal, raw, handler)
