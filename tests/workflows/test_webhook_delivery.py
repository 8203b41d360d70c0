"""Durable webhook delivery against a real HTTP receiver on 127.0.0.1: signatures, retries,
the retry ladder, auto-pause, secret rotation, test pings, replays and the deliveries list."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from adpilot.audit.models import AuditEvent
from adpilot.auth import service as auth_service
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.kit.clock import utcnow
from adpilot.layers import service as layers_service
from adpilot.webhooks import delivery, service, workflows
from adpilot.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.conftest import Api, Org

DELIVERY_FIELDS = {
    "id",
    "endpointId",
    "eventId",
    "eventType",
    "status",
    "attempts",
    "nextRetryAt",
    "deliveredAt",
    "lastResponseStatus",
    "lastError",
    "createdAt",
}


# --- a real receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A tiny HTTP server that records every request and answers scripted status codes."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: deque[int] = deque()
        self.default_status = 200
        self.gate: threading.Event | None = None  # when set, answers wait for it
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._cond:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = (
                        receiver.script.popleft() if receiver.script else receiver.default_status
                    )
                    gate = receiver.gate
                    receiver._cond.notify_all()
                if gate is not None:
                    gate.wait(10)
                payload = b"ok" if status < 300 else b"receiver says no"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} requests, got {len(self.received)}")
                self._cond.wait(left)
            return list(self.received)

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


# --- an org, endpoints and events ----------------------------------------------------------------


def create_endpoint(org: Org, url: str, events: list[str], **extra: Any) -> tuple[str, str]:
    answer = org.api.post("/v1/webhook-endpoints", json={"url": url, "events": events, **extra})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["endpoint"]["id"], body["signingSecret"]


def emit(
    session_factory: sessionmaker[Session],
    org: Org,
    event_type: str = "job.completed",
    data: dict[str, Any] | None = None,
    project_id: str | None = None,
) -> tuple[str, list[str]]:
    """Emit an event as another domain does, in its own transaction; → (eventId, deliveryIds)."""
    with transaction(session_factory) as session:
        event = service.emit(
            session,
            organization_id=org.id,
            project_id=project_id,
            event_type=event_type,
            data=data if data is not None else {"jobId": "job_1", "status": "completed"},
        )
        event_id = event.id
    with session_factory() as session:
        ids = session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.event_id == event_id)
            .order_by(WebhookDelivery.id)
        ).all()
    return event_id, list(ids)


def wait(job_runtime: Any, delivery_id: str, timeout: float = 30.0) -> str:
    outcome: str = job_runtime.wait(service.workflow_id(delivery_id), timeout=timeout)
    return outcome


def get_delivery(org: Org, delivery_id: str) -> dict[str, Any]:
    answer = org.api.get(f"/v1/webhook-deliveries/{delivery_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def layers_signatures(header: str) -> tuple[str, list[str]]:
    parts = [p.split("=", 1) for p in header.split(",")]
    return next(v for k, v in parts if k == "t"), [v for k, v in parts if k == "v1"]


def layers_hmac(secret: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def endpoint_row(session_factory: sessionmaker[Session], endpoint_id: str) -> WebhookEndpoint:
    with session_factory() as session:
        row = session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        return row


# --- delivery and signatures -------------------------------------------------------------------


def test_an_event_is_delivered_signed_and_verifiable(
    org: Org, receiver: Receiver, job_runtime: Any, session_factory: sessionmaker[Session]
) -> None:
    endpoint_id, secret = create_endpoint(org, receiver.url(), ["job.completed"])
    data = {"jobId": "job_42", "kind": "ads_optimizer_run", "status": "completed", "runId": "run_1"}
    event_id, (delivery_id,) = emit(session_factory, org, "job.completed", data)

    assert wait(job_runtime, delivery_id) == "delivered"
    (request,) = receiver.wait_for(1)
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    envelope = request.json()
    assert envelope == {
        "id": event_id,
        "type": "job.completed",
        "createdAt": envelope["createdAt"],
        "data": data,
    }
    assert event_id.startswith("evt_") and envelope["createdAt"].endswith("Z")

    # Standard Webhooks, with the receiver's own library.
    assert Webhook(secret).verify(request.body, request.headers) == envelope
    assert request.headers["webhook-id"] == request.headers["x-layers-event-id"] == event_id
    # The reference API's header, recomputed by hand from the documented recipe.
    timestamp, v1 = layers_signatures(request.headers["x-layers-signature"])
    assert timestamp == request.headers["webhook-timestamp"]
    assert v1 == [layers_hmac(secret, timestamp, request.body)]

    row = get_delivery(org, delivery_id)
    assert set(row) == DELIVERY_FIELDS
    assert row["endpointId"] == endpoint_id
    assert row["eventId"] == event_id
    assert row["eventType"] == "job.completed"
    assert row["status"] == "delivered"
    assert row["attempts"] == 1
    assert row["lastResponseStatus"] == 200
    assert row["lastError"] is None
    assert row["nextRetryAt"] is None
    assert row["deliveredAt"].endswith("Z")


def test_events_reach_only_active_subscribed_endpoints_of_their_project(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        second_project = layers_service.create_project(session, org.id, "Second").id
    org_wide, _ = create_endpoint(org, receiver.url("/org"), ["job.failed"])
    create_endpoint(org, receiver.url("/other-type"), ["job.completed"])
    scoped, _ = create_endpoint(org, receiver.url("/p1"), ["job.failed"], projectId=org.project_id)
    disabled, _ = create_endpoint(org, receiver.url("/off"), ["job.failed"])
    org.api.patch(f"/v1/webhook-endpoints/{disabled}", json={"status": "disabled"})
    deleted, _ = create_endpoint(org, receiver.url("/gone"), ["job.failed"])
    org.api.delete(f"/v1/webhook-endpoints/{deleted}")

    def endpoints_of(project_id: str | None) -> set[str]:
        _, ids = emit(session_factory, org, "job.failed", project_id=project_id)
        for delivery_id in ids:
            assert wait(job_runtime, delivery_id) == "delivered"
        return {get_delivery(org, d)["endpointId"] for d in ids}

    assert endpoints_of(org.project_id) == {org_wide, scoped}
    assert endpoints_of(second_project) == {org_wide}
    assert endpoints_of(None) == {org_wide}
    assert sorted(r.path for r in receiver.received) == ["/org", "/org", "/org", "/p1"]


# --- retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("first_status", [500, 429, 503])
def test_a_retryable_answer_is_retried_until_success(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
    first_status: int,
) -> None:
    _, secret = create_endpoint(org, receiver.url(), ["job.completed"])
    receiver.script.append(first_status)
    event_id, (delivery_id,) = emit(session_factory, org)

    assert wait(job_runtime, delivery_id) == "delivered"
    first, second = receiver.wait_for(2)
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event_id
    Webhook(secret).verify(second.body, second.headers)
    row = get_delivery(org, delivery_id)
    assert (row["status"], row["attempts"], row["lastResponseStatus"]) == ("delivered", 2, 200)
    assert row["nextRetryAt"] is None


def test_a_network_error_is_retried(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
) -> None:
    # Nothing listens on the first port: connection refused, then the endpoint moves to a live one.
    dead = Receiver()
    dead_url = dead.url()
    dead.close()
    endpoint_id, _ = create_endpoint(org, dead_url, ["job.completed"])
    _, (delivery_id,) = emit(session_factory, org)
    deadline = time.monotonic() + 10
    while get_delivery(org, delivery_id)["attempts"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    org.api.patch(f"/v1/webhook-endpoints/{endpoint_id}", json={"url": receiver.url()})

    assert wait(job_runtime, delivery_id) == "delivered"
    row = get_delivery(org, delivery_id)
    assert row["attempts"] >= 2 and row["status"] == "delivered"


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_a_client_error_other_than_429_is_not_retried(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
    status: int,
) -> None:
    create_endpoint(org, receiver.url(), ["job.completed"])
    receiver.default_status = status
    _, (delivery_id,) = emit(session_factory, org)

    assert wait(job_runtime, delivery_id) == "failed"
    time.sleep(0.3)  # longer than the first retry delay: nothing more may arrive
    assert len(receiver.received) == 1
    row = get_delivery(org, delivery_id)
    assert (row["status"], row["attempts"], row["lastResponseStatus"]) == ("failed", 1, status)
    assert row["lastError"].startswith(f"HTTP {status}")
    assert row["nextRetryAt"] is None and row["deliveredAt"] is None


def test_exhausting_the_retry_ladder_fails_the_delivery(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    create_endpoint(org, receiver.url(), ["job.completed"])
    receiver.default_status = 503
    _, (delivery_id,) = emit(session_factory, org)

    # While it waits between attempts, the row says when the next one is due.
    deadline = time.monotonic() + 10
    while True:
        row = get_delivery(org, delivery_id)
        if row["attempts"] >= 1 and row["nextRetryAt"] is not None:
            break
        assert time.monotonic() < deadline, row
        time.sleep(0.02)
    assert row["status"] == "pending"

    assert wait(job_runtime, delivery_id, timeout=60) == "failed"
    ladder = len(settings.webhook_retry_delays)
    assert len(receiver.wait_for(ladder)) == ladder == 8
    row = get_delivery(org, delivery_id)
    assert (row["status"], row["attempts"], row["lastResponseStatus"]) == ("failed", 8, 503)
    assert row["lastError"] == "HTTP 503: receiver says no"
    assert row["nextRetryAt"] is None


@pytest.mark.parametrize("action", ["disable", "delete"])
def test_retries_stop_when_the_endpoint_is_disabled_or_deleted(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
    action: str,
) -> None:
    endpoint_id, _ = create_endpoint(org, receiver.url(), ["job.completed"])
    receiver.default_status = 500
    receiver.gate = threading.Event()  # hold the first answer until the endpoint is changed
    _, (delivery_id,) = emit(session_factory, org)
    receiver.wait_for(1)
    path = f"/v1/webhook-endpoints/{endpoint_id}"
    if action == "disable":
        assert org.api.patch(path, json={"status": "disabled"}).status_code == 200
    else:
        assert org.api.delete(path).status_code == 204
    receiver.gate.set()

    assert wait(job_runtime, delivery_id) == "stopped"
    assert len(receiver.received) == 1
    with session_factory() as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        assert (row.status, row.attempts, row.next_retry_at) == ("failed", 1, None)
        assert row.last_error is not None and row.last_error.startswith("not sent: the endpoint")


# --- auto-pause --------------------------------------------------------------------------------


def test_twenty_consecutive_failures_pause_the_endpoint_and_a_success_resets_the_count(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
) -> None:
    endpoint_id, _ = create_endpoint(org, receiver.url(), ["job.completed"])
    path = f"/v1/webhook-endpoints/{endpoint_id}"

    def deliver_batch(count: int, status: int) -> None:
        receiver.default_status = status
        ids = [emit(session_factory, org)[1][0] for _ in range(count)]
        for delivery_id in ids:
            wait(job_runtime, delivery_id)

    deliver_batch(19, 400)
    deliver_batch(1, 200)  # a success between failures resets the count
    deliver_batch(1, 400)
    assert org.api.get(path).json()["status"] == "active"
    assert endpoint_row(session_factory, endpoint_id).consecutive_failures == 1

    deliver_batch(19, 400)
    assert org.api.get(path).json()["status"] == "auto_paused"
    with session_factory() as session:
        paused = session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "webhook_endpoint.auto_paused")
        ).all()
    assert [(e.organization_id, e.actor_type, e.data["endpointId"]) for e in paused] == [
        (org.id, "system", endpoint_id)
    ]
    # A paused endpoint gets no new deliveries.
    assert emit(session_factory, org)[1] == []

    # Re-enabling starts the count afresh and deliveries flow again.
    assert org.api.patch(path, json={"status": "active"}).json()["status"] == "active"
    assert endpoint_row(session_factory, endpoint_id).consecutive_failures == 0
    receiver.default_status = 200
    _, (delivery_id,) = emit(session_factory, org)
    assert wait(job_runtime, delivery_id) == "delivered"


# --- secret rotation ---------------------------------------------------------------------------


def test_after_rotation_both_secrets_verify_until_the_overlap_ends(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
) -> None:
    endpoint_id, old_secret = create_endpoint(org, receiver.url(), ["job.completed"])
    rotated = org.api.post(f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["signingSecret"]

    _, (delivery_id,) = emit(session_factory, org)
    assert wait(job_runtime, delivery_id) == "delivered"
    (request,) = receiver.wait_for(1)
    timestamp, v1 = layers_signatures(request.headers["x-layers-signature"])
    for secret in (new_secret, old_secret):
        Webhook(secret).verify(request.body, request.headers)
        assert layers_hmac(secret, timestamp, request.body) in v1

    # 24 hours later the old secret no longer signs.
    with transaction(session_factory) as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(previous_secret_expires_at=utcnow())
        )
    _, (delivery_id,) = emit(session_factory, org)
    assert wait(job_runtime, delivery_id) == "delivered"
    request = receiver.wait_for(2)[1]
    Webhook(new_secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(request.body, request.headers)
    timestamp, v1 = layers_signatures(request.headers["x-layers-signature"])
    assert v1 == [layers_hmac(new_secret, timestamp, request.body)]


# --- test ping, replay, deliveries list --------------------------------------------------------


def test_a_test_ping_is_sent_whatever_the_event_filter(
    org: Org, receiver: Receiver, job_runtime: Any
) -> None:
    endpoint_id, secret = create_endpoint(org, receiver.url(), ["job.failed"])
    answer = org.api.post(f"/v1/webhook-endpoints/{endpoint_id}/test")
    assert answer.status_code == 202, answer.text
    delivery_id = answer.json()["deliveryId"]
    assert delivery_id.startswith("whd_")

    assert wait(job_runtime, delivery_id) == "delivered"
    (request,) = receiver.wait_for(1)
    envelope = Webhook(secret).verify(request.body, request.headers)
    assert envelope["type"] == "test.ping"
    assert envelope["id"] == answer.json()["eventId"]
    assert envelope["data"]["endpointId"] == endpoint_id

    listed = org.api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries").json()
    assert [(d["id"], d["eventType"], d["status"]) for d in listed["items"]] == [
        (delivery_id, "test.ping", "delivered")
    ]


def test_replay_sends_the_same_event_again_as_a_new_delivery(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
) -> None:
    endpoint_id, secret = create_endpoint(org, receiver.url(), ["job.completed"])
    receiver.default_status = 400
    event_id, (first_id,) = emit(session_factory, org)
    assert wait(job_runtime, first_id) == "failed"

    receiver.default_status = 200
    answer = org.api.post(f"/v1/webhook-deliveries/{first_id}/replay")
    assert answer.status_code == 202, answer.text
    replay_id = answer.json()["deliveryId"]
    assert replay_id != first_id and answer.json()["eventId"] == event_id
    assert wait(job_runtime, replay_id) == "delivered"

    first, again = receiver.wait_for(2)
    assert again.body == first.body
    assert again.headers["webhook-id"] == event_id
    Webhook(secret).verify(again.body, again.headers)

    path = f"/v1/webhook-endpoints/{endpoint_id}/deliveries"
    listed = org.api.get(path).json()
    assert [(d["id"], d["status"]) for d in listed["items"]] == [
        (replay_id, "delivered"),
        (first_id, "failed"),
    ]
    assert all(set(d) == DELIVERY_FIELDS for d in listed["items"])
    failed = org.api.get(path, params={"status": "failed"}).json()["items"]
    assert [d["id"] for d in failed] == [first_id]
    both = org.api.get(path, params=[("status", "failed"), ("status", "delivered")]).json()
    assert len(both["items"]) == 2
    assert org.api.get(path, params={"status": "failed,delivered"}).json() == both


def test_replay_of_another_orgs_delivery_is_404(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    client: TestClient,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    create_endpoint(org, receiver.url(), ["job.completed"])
    _, (delivery_id,) = emit(session_factory, org)
    wait(job_runtime, delivery_id)
    with transaction(session_factory) as session:
        stranger = auth_service.create_organization(session, "Stranger")
        key = auth_service.create_api_key(
            session, secret_key=settings.secret_key, organization_id=stranger.id, scopes=["*"]
        ).key
    other = Api(client, key)
    assert other.post(f"/v1/webhook-deliveries/{delivery_id}/replay").status_code == 404
    assert other.get(f"/v1/webhook-deliveries/{delivery_id}").status_code == 404
    assert len(receiver.received) == 1


def test_deliveries_list_pages_newest_first(
    org: Org, receiver: Receiver, job_runtime: Any, session_factory: sessionmaker[Session]
) -> None:
    endpoint_id, _ = create_endpoint(org, receiver.url(), ["job.completed"])
    ids = [emit(session_factory, org)[1][0] for _ in range(3)]
    for delivery_id in ids:
        wait(job_runtime, delivery_id)
    path = f"/v1/webhook-endpoints/{endpoint_id}/deliveries"
    first = org.api.get(path, params={"limit": 2}).json()
    second = org.api.get(path, params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert [d["id"] for d in first["items"] + second["items"]] == ids[::-1]
    assert second["nextCursor"] is None
    bad = org.api.get(path, params={"status": "failed", "cursor": first["nextCursor"]})
    assert bad.status_code == 422


# --- the send-time address check ---------------------------------------------------------------


def test_distributed_mode_refuses_a_private_target_at_send_time(
    org: Org, receiver: Receiver, session_factory: sessionmaker[Session]
) -> None:
    create_endpoint(org, receiver.url(), ["job.completed"])  # accepted: the app runs embedded
    delivery_id = _record_without_sending(session_factory, org)

    distributed = Settings(mode="distributed", webhooks_allow_loopback=False)
    assert delivery.attempt(session_factory, distributed, delivery_id, next_delay=1.0) == "failed"
    assert receiver.received == []
    row = get_delivery(org, delivery_id)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["lastError"].startswith("refused: the URL must use https")


def _record_without_sending(session_factory: sessionmaker[Session], org: Org) -> str:
    """Emit in a bare session: the commit stores the delivery but nothing enqueues it, so the
    test makes the attempt itself with settings of its choosing."""
    with session_factory() as session:
        event = service.emit(
            session, organization_id=org.id, project_id=None, event_type="job.completed", data={}
        )
        session.commit()
        return session.scalars(
            select(WebhookDelivery.id).where(WebhookDelivery.event_id == event.id)
        ).one()


def test_distributed_mode_sends_to_the_checked_address_keeping_the_host_name(
    org: Org, receiver: Receiver, session_factory: sessionmaker[Session]
) -> None:
    port = receiver.server.server_address[1]
    _, secret = create_endpoint(org, f"http://localhost:{port}/hook", ["job.completed"])
    delivery_id = _record_without_sending(session_factory, org)

    distributed = Settings(mode="distributed", webhooks_allow_loopback=True)
    assert delivery.attempt(session_factory, distributed, delivery_id, next_delay=1.0) == (
        "delivered"
    )
    (request,) = receiver.received
    assert request.headers["host"] == f"localhost:{port}"
    Webhook(secret).verify(request.body, request.headers)


def test_event_data_is_stored_exactly_as_it_is_sent(
    org: Org, session_factory: sessionmaker[Session]
) -> None:
    moment = dt.datetime(2026, 11, 21, 8, 30, 5, tzinfo=dt.UTC)
    with transaction(session_factory) as session:
        event_id = service.emit(
            session,
            organization_id=org.id,
            project_id=None,
            event_type="job.completed",
            data={"finishedAt": moment, "result": {"n": 1}},
        ).id
    with session_factory() as session:
        event = session.get(WebhookEvent, event_id)
        assert event is not None
        assert event.data == {"finishedAt": "2026-11-21T08:30:05Z", "result": {"n": 1}}
    with pytest.raises(ValueError), session_factory() as session:
        service.emit(session, organization_id=org.id, project_id=None, event_type="nope", data={})


def test_long_waits_hand_the_ladder_to_delayed_continuations(
    org: Org,
    receiver: Receiver,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Test ladder: 0, 0.2, 0.4, 0.8, … — with this bound the 0.2 s wait is slept in place and
    # each later one is a delayed continuation, as every production wait (30 s and up) is.
    monkeypatch.setattr(workflows, "INLINE_WAIT_MAX_SEC", 0.3)
    _, secret = create_endpoint(org, receiver.url(), ["job.completed"])
    receiver.script.extend([503, 503, 503])
    _, (delivery_id,) = emit(session_factory, org)

    assert wait(job_runtime, delivery_id) == "rescheduled"
    assert job_runtime.wait(workflows.continuation_id(delivery_id, 3)) == "rescheduled"
    assert job_runtime.wait(workflows.continuation_id(delivery_id, 4)) == "delivered"
    requests = receiver.wait_for(4)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    Webhook(secret).verify(requests[-1].body, requests[-1].headers)
    row = get_delivery(org, delivery_id)
    assert (row["status"], row["attempts"], row["lastResponseStatus"]) == ("delivered", 4, 200)


def test_a_stranded_pending_delivery_is_requeued_once(
    org: Org, receiver: Receiver, job_runtime: Any, session_factory: sessionmaker[Session]
) -> None:
    create_endpoint(org, receiver.url(), ["job.completed"])
    # As if the process died between the commit and the enqueue.
    delivery_id = _record_without_sending(session_factory, org)
    with transaction(session_factory) as session:
        assert service.requeue_stranded(session) == 0  # too young: its enqueue may be under way
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(created_at=utcnow() - dt.timedelta(minutes=10))
        )
    with transaction(session_factory) as session:
        assert service.requeue_stranded(session) == 1
    assert wait(job_runtime, delivery_id) == "delivered"
    with transaction(session_factory) as session:
        assert service.requeue_stranded(session) == 0
    service.enqueue_delivery(delivery_id)  # a late duplicate enqueue: same id, nothing resent
    assert wait(job_runtime, delivery_id) == "delivered"
    assert len(receiver.received) == 1


def test_a_run_delivers_its_events_with_the_run_as_finally_stored(
    org: Org, receiver: Receiver, boot: dict[str, Any], job_runtime: Any
) -> None:
    from standardwebhooks import Webhook

    events = ["ads.optimizer.run.completed", "ads.pending.created", "job.completed"]
    _endpoint, secret = create_endpoint(org, receiver.url(), events)
    started = org.api.post(
        f"/v1/projects/{boot['projectId']}/ads/optimizer/run",
        json={"layerId": boot["layers"]["meta_ads"], "platform": "meta_ads"},
    )
    assert started.status_code == 202
    job_runtime.wait(started.json()["runId"], timeout=60)
    got = {r.json()["type"]: r for r in receiver.wait_for(3)}
    assert set(got) == set(events)
    for request in got.values():
        Webhook(secret).verify(request.body, request.headers)  # raises if the signature is off
    completed = got["ads.optimizer.run.completed"].json()["data"]
    stored = org.api.get(started.json()["runUrl"]).json()
    assert completed == stored
    assert completed["status"] == "completed" and completed["stage"] == "done"
    created = got["ads.pending.created"].json()["data"]
    assert set(created["pendingIds"]) == {
        c["pendingId"] for c in stored["changes"] if c["outcome"] == "queued"
    }
    job = got["job.completed"].json()["data"]
    assert job["jobId"] == stored["jobId"] and job["status"] == "completed"
    assert job["result"]["summary"] == stored["summary"]
