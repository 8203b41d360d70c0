"""Approving and rejecting pending actions (SPEC §6.4, §2.2 error order, §2.3 idempotency)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.audit.models import AuditEvent
from adpilot.auth import service as auth_service
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.gate.models import Verdict
from adpilot.kit.clock import utcnow
from tests.conftest import Api
from tests.helpers_pending import add_action, get_row, set_row


@pytest.fixture()
def meta(boot: dict[str, Any]) -> str:
    return str(boot["layers"]["meta_ads"])


def url(boot: dict[str, Any], pending_id: str, action: str = "", platform: str = "meta") -> str:
    path = f"/v1/projects/{boot['projectId']}/ads/{platform}/pending/{pending_id}"
    return f"{path}/{action}" if action else path


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def test_approve_records_the_decision(
    partner: Api, boot: dict[str, Any], meta: str, session_factory: sessionmaker[Session]
) -> None:
    pending_id = add_action(session_factory, meta)
    response = partner.post(url(boot, pending_id, "approve"), json={"comment": "go"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["pendingId", "status", "dispatched", "dispatchedAt", "verdictId"]
    assert body["pendingId"] == pending_id and body["status"] == "approved"
    assert body["dispatched"] is False and body["dispatchedAt"] is None
    assert body["verdictId"].startswith("ver_")
    row = partner.get(url(boot, pending_id)).json()
    assert row["status"] in ("approved", "dispatched", "dispatch_failed")
    assert row["comment"] == "go" and row["decidedAt"] is not None
    with session_factory() as session:
        key_id = session.scalars(
            select(AuditEvent.api_key_id).where(AuditEvent.event_type == "pending.approved")
        ).one()
        verdict = session.get(Verdict, body["verdictId"])
        assert verdict is not None
        assert verdict.decision == "approved" and verdict.pending_id == pending_id
    assert row["decidedBy"] == {
        "actorType": "partner",
        "actorOrganizationId": boot["organizationId"],
        "actorApiKeyId": key_id,
    }


def test_approve_takes_an_empty_body(
    customer: Api, boot: dict[str, Any], meta: str, session_factory: sessionmaker[Session]
) -> None:
    pending_id = add_action(session_factory, meta)
    response = customer.post(url(boot, pending_id, "approve"))
    assert response.status_code == 200, response.text
    decided_by = customer.get(url(boot, pending_id)).json()["decidedBy"]
    assert decided_by["actorType"] == "customer"


def test_reject_stores_the_reason(
    partner: Api, boot: dict[str, Any], meta: str, session_factory: sessionmaker[Session]
) -> None:
    pending_id = add_action(session_factory, meta)
    response = partner.post(url(boot, pending_id, "reject"), json={"reason": "seasonal dip"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "pendingId": pending_id,
        "status": "rejected",
        "reason": "seasonal dip",
        "verdictId": body["verdictId"],
    }
    row = partner.get(url(boot, pending_id)).json()
    assert row["status"] == "rejected" and row["rejectionReason"] == "seasonal dip"
    with session_factory() as session:
        verdict = session.get(Verdict, body["verdictId"])
        assert verdict is not None and verdict.decision == "rejected"
        assert verdict.reason == "seasonal dip"
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "pending.rejected")
        ).one()
        assert audit.data["pendingId"] == pending_id and audit.actor_type == "partner"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 501},
        {"reason": 7},
        {"reason": "ok", "extra": 1},
        None,
    ],
)
def test_reject_reason_is_required_and_at_most_500_chars(
    partner: Api,
    boot: dict[str, Any],
    meta: str,
    session_factory: sessionmaker[Session],
    body: Any,
) -> None:
    pending_id = add_action(session_factory, meta)
    response = partner.post(url(boot, pending_id, "reject"), json=body)
    assert response.status_code == 422, response.text
    fields = error(response)["details"]["fields"]
    assert fields[0]["field"] in ("reason", "body", "extra")
    assert get_row(session_factory, pending_id).status == "pending"
    ok = partner.post(url(boot, pending_id, "reject"), json={"reason": "x" * 500})
    assert ok.status_code == 200


def test_approve_body_is_strict(
    partner: Api, boot: dict[str, Any], meta: str, session_factory: sessionmaker[Session]
) -> None:
    pending_id = add_action(session_factory, meta)
    for body in ({"comment": 5}, {"note": "x"}, [1]):
        response = partner.post(url(boot, pending_id, "approve"), json=body)
        assert response.status_code == 422, body
    assert get_row(session_factory, pending_id).status == "pending"


def test_unknown_row_is_404_before_the_body_is_judged(
    partner: Api, boot: dict[str, Any], meta: str, session_factory: sessionmaker[Session]
) -> None:
    response = partner.post(url(boot, "pa_01NOPE", "reject"), json={"reason": ""})
    assert response.status_code == 404 and error(response)["code"] == "NOT_FOUND"
    tiktok_row = add_action(session_factory, boot["layers"]["tiktok_ads"])
    response = partner.post(url(boot, tiktok_row, "approve"), json={})
    assert response.status_code == 404
    assert get_row(session_factory, tiktok_row).status == "pending"
    bad_platform = partner.post(url(boot, tiktok_row, "approve", "orkut"), json={})
    assert bad_platform.status_code == 422


@pytest.mark.parametrize("first", ["approve", "reject"])
@pytest.mark.parametrize("second", ["approve", "reject"])
def test_a_decided_row_answers_already_decided(
    partner: Api,
    boot: dict[str, Any],
    meta: str,
    session_factory: sessionmaker[Session],
    first: str,
    second: str,
) -> None:
    pending_id = add_action(session_factory, meta)
    body = {"reason": "no"} if first == "reject" else {}
    assert partner.post(url(boot, pending_id, first), json=body).status_code == 200
    again = partner.post(
        url(boot, pending_id, second), json={"reason": "no"} if second == "reject" else {}
    )
    assert again.status_code == 409
    err = error(again)
    assert err["code"] == "CONFLICT" and err["details"]["subcode"] == "ALREADY_DECIDED"
    # An approved row may already be on its way to the platform (its dispatch is queued).
    expected = {"rejected"} if first == "reject" else {"approved", "dispatched", "dispatch_failed"}
    assert err["details"]["status"] in expected


def test_dispatched_rows_are_already_decided_too(
    partner: Api, boot: dict[str, Any], meta: str, session_factory: sessionmaker[Session]
) -> None:
    pending_id = add_action(session_factory, meta)
    set_row(session_factory, pending_id, status="dispatch_failed")
    response = partner.post(url(boot, pending_id, "reject"), json={"reason": "late"})
    assert error(response)["details"] == {"subcode": "ALREADY_DECIDED", "status": "dispatch_failed"}


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_past_expiry_answers_expired_and_the_row_becomes_rejected(
    partner: Api,
    boot: dict[str, Any],
    meta: str,
    session_factory: sessionmaker[Session],
    action: str,
) -> None:
    pending_id = add_action(session_factory, meta)
    body = {"reason": "too late"} if action == "reject" else {}
    with time_machine.travel(utcnow() + dt.timedelta(days=7, minutes=1), tick=True):
        response = partner.post(url(boot, pending_id, action), json=body)
        assert response.status_code == 409
        assert error(response)["details"]["subcode"] == "EXPIRED"
        assert error(response)["details"]["status"] == "rejected"
        row = get_row(session_factory, pending_id)
        assert (row.status, row.rejection_reason) == ("rejected", "expired")
        # Asking again still says EXPIRED (not ALREADY_DECIDED): that is what happened to it.
        again = partner.post(url(boot, pending_id, action), json=body)
        assert error(again)["details"]["subcode"] == "EXPIRED"


def test_a_row_expiring_inside_the_decision_is_committed_as_expired(
    partner: Api,
    boot: dict[str, Any],
    meta: str,
    session_factory: sessionmaker[Session],
) -> None:
    """The row runs out a moment before the decision, before any sweep: the decision (a write)
    records the expiry itself."""
    pending_id = add_action(session_factory, meta)
    set_row(session_factory, pending_id, expires_at=utcnow() + dt.timedelta(seconds=1))
    with time_machine.travel(utcnow() + dt.timedelta(seconds=5), tick=True):
        response = partner.post(url(boot, pending_id, "approve"), json={})
    assert error(response)["details"]["subcode"] == "EXPIRED"
    row = get_row(session_factory, pending_id)
    assert (row.status, row.rejection_reason) == ("rejected", "expired")


def race(partner: Api, boot: dict[str, Any], pending_id: str) -> list[tuple[int, dict[str, Any]]]:
    """Two approvals and two rejections of one row, released at the same instant."""
    barrier = threading.Barrier(4)
    results: list[tuple[int, dict[str, Any]]] = []

    def go(action: str) -> None:
        body = {"reason": "race"} if action == "reject" else {}
        barrier.wait()
        response = partner.post(url(boot, pending_id, action), json=body)
        results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=go, args=(a,)) for a in ("approve", "reject") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_approve_and_reject_have_exactly_one_winner(
    partner: Api, boot: dict[str, Any], meta: str, session_factory: sessionmaker[Session]
) -> None:
    for _ in range(3):
        pending_id = add_action(session_factory, meta)
        results = race(partner, boot, pending_id)
        assert len(results) == 4 and [r[0] for r in results].count(200) == 1, results
        for status, body in results:
            if status != 200:
                assert status == 409 and body["error"]["details"]["subcode"] == "ALREADY_DECIDED"
        decisions = Verdict.decision.in_(("approved", "rejected"))
        with session_factory() as session:
            verdicts = session.scalars(
                select(Verdict).where(Verdict.pending_id == pending_id, decisions)
            ).all()
        assert len(verdicts) == 1


def test_idempotent_replay_of_a_decision(
    partner: Api, boot: dict[str, Any], meta: str, session_factory: sessionmaker[Session]
) -> None:
    pending_id = add_action(session_factory, meta)
    headers = {"Idempotency-Key": "reject-once"}
    first = partner.post(url(boot, pending_id, "reject"), json={"reason": "no"}, headers=headers)
    again = partner.post(url(boot, pending_id, "reject"), json={"reason": "no"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"


def test_deciding_needs_the_pending_write_scope(
    client: Any,
    boot: dict[str, Any],
    meta: str,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    pending_id = add_action(session_factory, meta)
    with transaction(session_factory) as session:
        issued = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=boot["organizationId"],
            scopes=["ads:read"],
        )
    reader = Api(client, issued.key)
    response = reader.post(url(boot, pending_id, "approve"), json={})
    assert response.status_code == 403
    assert error(response)["details"]["requiredScope"] == "ads:write:pending"
    assert get_row(session_factory, pending_id).status == "pending"
