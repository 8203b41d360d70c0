"""The expiry sweep: pending rows past expiresAt become rejected/expired, announced once (§6.5)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.audit.models import AuditEvent
from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.kit.clock import utcnow
from adpilot.pending import service
from adpilot.webhooks.models import WebhookEvent
from tests.helpers_pending import add_action, get_row, set_row


def expired_events(session_factory: sessionmaker[Session]) -> list[WebhookEvent]:
    with session_factory() as session:
        return list(
            session.scalars(select(WebhookEvent).where(WebhookEvent.type == "ads.pending.expired"))
        )


def test_sweep_expires_every_project_and_announces_each_once(
    boot: dict[str, Any], settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    other = bootstrap_org(settings, session_factory, name="Other org")
    old = utcnow() - dt.timedelta(days=8)
    ours = [
        add_action(session_factory, boot["layers"]["meta_ads"], now=old),
        add_action(session_factory, boot["layers"]["apple_ads"], now=old),
    ]
    theirs = add_action(session_factory, other["layers"]["tiktok_ads"], now=old)
    fresh = add_action(session_factory, boot["layers"]["meta_ads"])
    approved_long_ago = add_action(session_factory, boot["layers"]["meta_ads"], now=old)
    set_row(session_factory, approved_long_ago, status="approved")

    with transaction(session_factory) as session:
        assert service.expire_due(session, utcnow()) == 3
    with transaction(session_factory) as session:
        assert service.expire_due(session, utcnow()) == 0

    for pending_id in [*ours, theirs]:
        row = get_row(session_factory, pending_id)
        assert (row.status, row.rejection_reason, row.decided_by) == ("rejected", "expired", None)
    assert get_row(session_factory, fresh).status == "pending"
    # Expiry only ever rejects a row still waiting for a person.
    assert get_row(session_factory, approved_long_ago).status == "approved"

    by_project = {e.project_id: e.data for e in expired_events(session_factory)}
    assert by_project == {
        boot["projectId"]: {
            "projectId": boot["projectId"],
            "pendingIds": sorted(ours),
            "platforms": ["apple", "meta"],
            "expiredAt": by_project[boot["projectId"]]["expiredAt"],
        },
        other["projectId"]: {
            "projectId": other["projectId"],
            "pendingIds": [theirs],
            "platforms": ["tiktok"],
            "expiredAt": by_project[other["projectId"]]["expiredAt"],
        },
    }
    with session_factory() as session:
        audits = session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "pending.expired")
        ).all()
    assert sorted(a.project_id or "" for a in audits) == sorted(by_project)
    assert all(a.actor_type == "system" for a in audits)


def test_concurrent_sweeps_never_announce_a_row_twice(
    boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    old = utcnow() - dt.timedelta(days=8)
    rows = [add_action(session_factory, boot["layers"]["meta_ads"], now=old) for _ in range(6)]
    barrier = threading.Barrier(3)
    moved: list[int] = []

    def sweep() -> None:
        barrier.wait()
        with transaction(session_factory) as session:
            moved.append(service.expire_due(session, utcnow()))

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(moved) == len(rows)
    announced = [pid for e in expired_events(session_factory) for pid in e.data["pendingIds"]]
    assert sorted(announced) == sorted(rows)


def test_scoped_expiry_leaves_other_scopes_to_the_sweep(
    boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    old = utcnow() - dt.timedelta(days=8)
    meta = add_action(session_factory, boot["layers"]["meta_ads"], now=old)
    tiktok = add_action(session_factory, boot["layers"]["tiktok_ads"], now=old)
    with session_factory() as session:
        assert service.has_due(session, utcnow(), project_id=boot["projectId"], platform="meta")
    with transaction(session_factory) as session:
        moved = service.expire_due(session, utcnow(), project_id=boot["projectId"], platform="meta")
    assert moved == 1
    assert get_row(session_factory, meta).status == "rejected"
    assert get_row(session_factory, tiktok).status == "pending"
    with session_factory() as session:
        assert not service.has_due(session, utcnow(), project_id=boot["projectId"], platform="meta")
