"""Worker leases: claim an executor id, renew it, find the workers that are gone.

An executor id is held two ways. A PostgreSQL session advisory lock, kept on a connection of its
own for the worker's lifetime, proves no other live process uses the id: the server drops it the
moment that process dies, even under SIGKILL. The lease row's heartbeat says how long ago the
worker was last seen, so its peers wait a lease before taking its work over (a worker restarted
within the lease recovers its own).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from adpilot.db import transaction
from adpilot.workers.models import WorkerLease

# First half of the advisory lock key: the namespace of executor ids ("adpi" as an int32).
LOCK_NAMESPACE = 0x61647069


def lock_key(executor_id: str) -> tuple[int, int]:
    """A stable (namespace, int32) key: Python's own hash differs between processes."""
    digest = hashlib.blake2b(executor_id.encode(), digest_size=4).digest()
    return LOCK_NAMESPACE, int.from_bytes(digest, "big", signed=True)


class ExecutorIdInUse(Exception):
    """Another live process holds this executor id."""


@dataclass
class ExecutorLock:
    """The advisory lock that makes an executor id unique while its worker lives."""

    executor_id: str
    connection: Any = None

    def acquire(self, engine: Engine) -> None:
        if engine.dialect.name != "postgresql":
            return  # one process owns an embedded SQLite database
        conn = engine.connect()
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:a, :b)"), _params(self.executor_id)
        ).scalar()
        conn.commit()
        if not got:
            conn.close()
            raise ExecutorIdInUse(self.executor_id)
        self.connection = conn

    def alive(self) -> bool:
        """Still ours: the connection holding the lock answers."""
        if self.connection is None:
            return True
        try:
            self.connection.execute(text("SELECT 1"))
            self.connection.commit()
            return True
        except Exception:
            return False

    def release(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _params(executor_id: str) -> dict[str, int]:
    a, b = lock_key(executor_id)
    return {"a": a, "b": b}


def held_by_a_live_process(engine: Engine, executor_id: str) -> bool:
    """Whether some process holds the executor id's lock right now (never true on SQLite)."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:a, :b)"), _params(executor_id)
        ).scalar()
        if got:
            conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), _params(executor_id))
        conn.commit()
    return not got


def claim(
    factory: sessionmaker[Session], executor_id: str, *, hostname: str, pid: int, now: dt.datetime
) -> None:
    """Record (or renew) this worker's lease at start-up."""
    with transaction(factory) as session:
        row = session.get(WorkerLease, executor_id)
        if row is None:
            session.add(
                WorkerLease(
                    executor_id=executor_id,
                    hostname=hostname,
                    pid=pid,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
            return
        row.hostname, row.pid, row.started_at, row.heartbeat_at = hostname, pid, now, now
        row.stopped_at = row.taken_over_at = row.taken_over_by = None


def heartbeat(factory: sessionmaker[Session], executor_id: str, now: dt.datetime) -> None:
    with transaction(factory) as session:
        session.execute(
            update(WorkerLease)
            .where(WorkerLease.executor_id == executor_id)
            .values(heartbeat_at=now)
        )


def stopped(factory: sessionmaker[Session], executor_id: str, now: dt.datetime) -> None:
    with transaction(factory) as session:
        session.execute(
            update(WorkerLease).where(WorkerLease.executor_id == executor_id).values(stopped_at=now)
        )


def lost(
    factory: sessionmaker[Session], now: dt.datetime, lease: dt.timedelta
) -> list[WorkerLease]:
    """Workers not seen for longer than a lease whose work nobody has taken over yet."""
    with factory() as session:
        rows = session.scalars(
            select(WorkerLease).where(
                WorkerLease.heartbeat_at < now - lease, WorkerLease.taken_over_at.is_(None)
            )
        ).all()
        session.expunge_all()
    return list(rows)


def mark_taken_over(
    factory: sessionmaker[Session],
    executor_id: str,
    *,
    by: str,
    seen: dt.datetime,
    now: dt.datetime,
) -> None:
    """Note the take-over, unless the worker came back (renewed its lease) meanwhile."""
    with transaction(factory) as session:
        session.execute(
            update(WorkerLease)
            .where(WorkerLease.executor_id == executor_id, WorkerLease.heartbeat_at == seen)
            .values(taken_over_at=now, taken_over_by=by)
        )


def all_leases(factory: sessionmaker[Session]) -> list[WorkerLease]:
    with factory() as session:
        rows = session.scalars(select(WorkerLease).order_by(WorkerLease.executor_id)).all()
        session.expunge_all()
    return list(rows)
