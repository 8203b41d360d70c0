"""Work that must happen only after the current transaction commits (e.g. enqueueing a job)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

_KEY = "after_commit"


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run `fn` once the session's transaction has committed; dropped on rollback.

    A crash between commit and `fn` is covered by the reconcile sweep, which re-enqueues by
    deterministic workflow ids (enqueueing twice under one id runs once).
    """
    session.info.setdefault(_KEY, []).append(fn)


def pop_after_commit(session: Session) -> list[Callable[[], None]]:
    return list(session.info.pop(_KEY, []))
