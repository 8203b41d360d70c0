"""Idempotency-Key handling for POST and PATCH (SPEC §2.3).

The key row is written in the same transaction as the write it answers for, so a crash can never
leave one without the other. A duplicate that arrives while the first is still executing is
refused (IDEMPOTENCY_IN_PROGRESS): within one process by an in-flight set, across processes on
PostgreSQL by a transaction-scoped advisory lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from adpilot import errors
from adpilot.db import transaction
from adpilot.kit.clock import utcnow
from adpilot.kit.idempotency_models import IdempotencyRecord
from adpilot.kit.jsonresp import dumps

KEY_TTL = dt.timedelta(hours=24)
_in_flight: set[tuple[str, str]] = set()
_in_flight_lock = threading.Lock()


@dataclass
class WriteResult:
    """What a write handler returns: the status and JSON body of its answer."""

    status_code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _validate_key(key: str) -> None:
    if not (1 <= len(key) <= 255) or not all(32 < ord(c) < 127 for c in key):
        raise errors.validation("Idempotency-Key", "must be 1-255 printable ASCII characters")


def fingerprint(method: str, path: str, query: str, raw_body: bytes) -> str:
    """The request's identity: method, path, query and the body compared as parsed JSON."""
    head = {"m": method, "p": path, "q": query}
    try:
        parsed: Any = json.loads(raw_body) if raw_body.strip() else None
        canonical = json.dumps({**head, "b": parsed}, sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        # Not JSON (or absurdly deep): compare the bytes; the handler refuses it anyway.
        raw = {"__raw__": raw_body.decode("latin-1")}
        canonical = json.dumps({**head, "b": raw}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _response(result: WriteResult, request_id: str) -> Response:
    return Response(
        content=dumps(result.body),
        status_code=result.status_code,
        media_type="application/json",
        headers=result.headers,
    )


def _error_body(err: errors.ApiError, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"code": err.code, "message": err.message, "requestId": request_id}
    if err.details is not None:
        body["details"] = err.details
    return {"error": body}


def run_write(
    request: Request,
    factory: sessionmaker[Session],
    organization_id: str,
    raw_body: bytes,
    handler: Callable[[Session], WriteResult],
) -> Response:
    """Run `handler` in one transaction, honouring the request's Idempotency-Key if any."""
    request_id: str = request.state.request_id
    key = request.headers.get("idempotency-key")
    if key is None:
        with transaction(factory) as session:
            result = handler(session)
        return _response(result, request_id)

    fp = fingerprint(request.method, request.url.path, request.url.query, raw_body)
    return run_keyed(factory, organization_id, key, fp, request_id, handler)


def run_keyed(
    factory: sessionmaker[Session],
    organization_id: str,
    key: str,
    fp: str,
    request_id: str,
    handler: Callable[[Session], WriteResult],
) -> Response:
    """Run `handler` at most once per (organization, key): a repeat replays the first answer."""
    _validate_key(key)
    flight = (organization_id, key)
    with _in_flight_lock:
        if flight in _in_flight:
            raise errors.conflict(
                "IDEMPOTENCY_IN_PROGRESS",
                "A request with this Idempotency-Key is still being processed.",
            )
        _in_flight.add(flight)
    try:
        return _replay_or_run(factory, organization_id, key, fp, request_id, handler)
    finally:
        with _in_flight_lock:
            _in_flight.discard(flight)


def _lock_across_processes(session: Session, organization_id: str, key: str) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # embedded mode is one process: the in-flight set is enough
    lock_id = int.from_bytes(
        hashlib.sha256(f"{organization_id}:{key}".encode()).digest()[:8], "big"
    )
    lock_id -= 1 << 63 if lock_id >= 1 << 63 else 0
    got = session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_id}).scalar()
    if not got:
        raise errors.conflict(
            "IDEMPOTENCY_IN_PROGRESS",
            "A request with this Idempotency-Key is still being processed.",
        )


def _replay_or_conflict(record: IdempotencyRecord, fp: str) -> Response:
    if record.fingerprint != fp:
        raise errors.ApiError(
            409,
            "IDEMPOTENCY_CONFLICT",
            "This Idempotency-Key was already used with a different request.",
        )
    return Response(
        content=record.body,
        status_code=record.status_code,
        media_type="application/json",
        headers={**record.headers, "Idempotent-Replayed": "true"},
    )


def _find(session: Session, organization_id: str, key: str) -> IdempotencyRecord | None:
    return session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == organization_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.expires_at > utcnow(),
        )
    ).first()


def _store(
    session: Session,
    organization_id: str,
    key: str,
    fp: str,
    status: int,
    body: bytes,
    headers: dict[str, str],
) -> None:
    now = utcnow()
    stale = session.get(IdempotencyRecord, (organization_id, key))
    if stale is not None:  # expired: the key may be used afresh
        session.delete(stale)
        session.flush()
    session.add(
        IdempotencyRecord(
            organization_id=organization_id,
            key=key,
            fingerprint=fp,
            status_code=status,
            body=body,
            headers=headers,
            created_at=now,
            expires_at=now + KEY_TTL,
        )
    )


def _kept(err: errors.ApiError) -> bool:
    """Whether a refusal is the answer a key keeps.

    Only refusals of a request that began executing are kept: its state (409), the gate (403)
    or the platform (422 PLATFORM_REJECTED). A request that never started — a missing path
    object (404) or an invalid request (422 VALIDATION) — keeps nothing, so the same key may be
    retried once the request is fixed, as with a request refused before it reached the handler.
    5xx answers are never kept, and neither are the idempotency refusals themselves.
    """
    if err.status >= 500 or err.status == 404 or err.code in ("VALIDATION", "IDEMPOTENCY_CONFLICT"):
        return False
    return (err.details or {}).get("subcode") != "IDEMPOTENCY_IN_PROGRESS"


def _replay_or_run(
    factory: sessionmaker[Session],
    organization_id: str,
    key: str,
    fp: str,
    request_id: str,
    handler: Callable[[Session], WriteResult],
) -> Response:
    try:
        with transaction(factory) as session:
            _lock_across_processes(session, organization_id, key)
            record = _find(session, organization_id, key)
            if record is not None:
                return _replay_or_conflict(record, fp)
            result = handler(session)
            body = dumps(result.body)
            _store(session, organization_id, key, fp, result.status_code, body, result.headers)
        return Response(
            content=body,
            status_code=result.status_code,
            media_type="application/json",
            headers=result.headers,
        )
    except errors.ApiError as err:
        if not _kept(err):
            raise
        # The write rolled back; the refusal itself is the answer this key keeps.
        body = dumps(_error_body(err, request_id))
        with transaction(factory) as session:
            if _find(session, organization_id, key) is None:
                _store(session, organization_id, key, fp, err.status, body, err.headers)
        raise
