"""The durable dispatch of one approved action to its platform (workflow id `dispatch-<pendingId>`).

One attempt is one step: re-check the gate, read the live entity, then send or settle. Between
attempts after a transient platform error the workflow sleeps durably, so a worker restart resumes
the back-off instead of restarting it. A step is safe to repeat: before a send is attempted it is
counted on the row, and any later attempt reads the live value first — if the platform already
shows the new value (a crash after the write), the row is marked dispatched without sending again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbos import DBOS
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.config import Settings
from adpilot.db import read_session, transaction
from adpilot.kit.clock import utcnow
from adpilot.kit.uow import after_commit
from adpilot.layers.models import AdAccount
from adpilot.pending import service
from adpilot.platforms.base import (
    AdPlatform,
    PlatformAuthError,
    PlatformDeferred,
    PlatformError,
    PlatformTransientError,
)
from adpilot.platforms.registry import open_platform

log = logging.getLogger(__name__)

# The longest back-off a platform's Retry-After may impose before the next attempt.
MAX_RETRY_AFTER_SEC = 3600.0


def dispatch_workflow_id(pending_id: str) -> str:
    """The deterministic id under which an action is dispatched (approve, runs and sweeps agree)."""
    return f"dispatch-{pending_id}"


def enqueue_dispatch(session: Session, pending_id: str) -> None:
    """Queue the dispatch once `session` commits; a second enqueue of the same id runs nothing."""

    def enqueue() -> None:
        try:
            jobs.runtime().enqueue(
                jobs.DISPATCH_QUEUE,
                dispatch_workflow,
                pending_id,
                workflow_id=dispatch_workflow_id(pending_id),
            )
        except Exception:
            # The approval is committed; the maintenance sweep re-enqueues approved rows.
            log.exception("could not enqueue the dispatch of %s", pending_id)

    after_commit(session, enqueue)


def _outcome(pending_id: str, status: str | None, reason: str | None) -> dict[str, Any]:
    return {"pendingId": pending_id, "status": status, "reason": reason, "retryInSec": None}


def _platform_reason(exc: PlatformError) -> str:
    if exc.platform_code:
        return f"{exc.message} (code {exc.platform_code})"
    return exc.message


def _fail(factory: sessionmaker[Session], pending_id: str, reason: str) -> dict[str, Any]:
    with transaction(factory) as session:
        moved = service.mark_dispatch_failed(session, pending_id, now=utcnow(), reason=reason)
        if moved is None:
            return _settled(session, pending_id)
    return _outcome(pending_id, "dispatch_failed", reason)


def _succeed(
    factory: sessionmaker[Session], pending_id: str, *, sent: bool, created: str | None = None
) -> dict[str, Any]:
    with transaction(factory) as session:
        moved = service.mark_dispatched(
            session, pending_id, now=utcnow(), sent=sent, created_external_id=created
        )
        if moved is None:
            return _settled(session, pending_id)
    return _outcome(pending_id, "dispatched", None)


def _settled(session: Session, pending_id: str) -> dict[str, Any]:
    """Someone else moved the row first: report where it stands."""
    found = service.status_of(session, pending_id)
    if found is None:
        return _outcome(pending_id, None, "no such pending action")
    return _outcome(pending_id, *found)


def _retry_delay(settings: Settings, attempt: int, retry_after: float | None) -> float | None:
    """Seconds before the next attempt, or None once the retry ladder is used up."""
    ladder = settings.dispatch_retry_delays
    if attempt >= len(ladder):
        return None
    # The platform's own rate-limit signal wins when it asks for a longer pause.
    asked = min(retry_after or 0.0, MAX_RETRY_AFTER_SEC)
    return max(float(ladder[attempt]), asked)


@dataclass(frozen=True)
class _Verdict:
    """What the live entity says about the write: already there, refused, or to be sent."""

    applied: bool = False
    refusal: str | None = None


def _inspect(platform: AdPlatform, plan: service.DispatchPlan) -> _Verdict:
    """Platform reads and checks only; nothing is written here."""
    write = plan.write
    if plan.attempts_made > 0:
        # A send may already have gone out (a crash, a lost answer): the live value decides,
        # even over a kill switch flipped since, because the write is then a fact.
        state = platform.read_state(write.entity_type, write.entity_external_id)
        if service.already_applied(write.new_value, state, plan.refs):
            return _Verdict(applied=True)
        if plan.blocked_reason is not None:
            return _Verdict(refusal=plan.blocked_reason)
    else:
        # Nothing was sent yet: a blocked row costs no platform call at all.
        if plan.blocked_reason is not None:
            return _Verdict(refusal=plan.blocked_reason)
        state = platform.read_state(write.entity_type, write.entity_external_id)
        if service.already_applied(write.new_value, state, plan.refs):
            return _Verdict(applied=True)
    stale = service.differences(write.current_value, state, plan.refs)
    if stale:
        return _Verdict(refusal=service.stale_reason(stale))
    return _Verdict()


def _on_error(
    settings: Settings,
    factory: sessionmaker[Session],
    plan: service.DispatchPlan,
    attempt: int,
    exc: Exception,
) -> dict[str, Any]:
    """Settle or schedule a retry after a failed platform call."""
    pending_id = plan.pending_id
    if isinstance(exc, PlatformAuthError):
        with transaction(factory) as session:
            service.mark_token(session, plan.account.id, exc.token_status, utcnow())
        return _fail(factory, pending_id, f"platform auth failed: {_platform_reason(exc)}")
    if isinstance(exc, PlatformError) and not isinstance(exc, PlatformTransientError):
        return _fail(factory, pending_id, _platform_reason(exc))
    if isinstance(exc, PlatformDeferred):
        # Nothing was sent: a shared platform limit is full. Waiting for it is not a failed
        # attempt, so it does not use up the retry ladder.
        wait = min(max(exc.retry_after or 1.0, 1.0), MAX_RETRY_AFTER_SEC)
        log.info("dispatch of %s deferred %.0fs: %s", pending_id, wait, exc.message)
        return {
            **_outcome(pending_id, "approved", exc.message),
            "retryInSec": wait,
            "deferred": True,
        }
    # Transient, or an error the adapter did not classify: whether the write landed is unknown,
    # so retry, and the next attempt reads the live value before sending anything.
    if isinstance(exc, PlatformError):
        reason, retry_after = _platform_reason(exc), getattr(exc, "retry_after", None)
    else:
        log.exception("dispatch of %s: unexpected platform adapter error", pending_id)
        reason, retry_after = f"{type(exc).__name__}: {exc}", None
    delay = _retry_delay(settings, attempt, retry_after)
    if delay is None:
        return _fail(factory, pending_id, f"platform error after {attempt + 1} attempts: {reason}")
    log.info("dispatch of %s: %s; retrying in %.1fs", pending_id, reason, delay)
    return {**_outcome(pending_id, "approved", reason), "retryInSec": delay}


def attempt_dispatch(
    settings: Settings,
    factory: sessionmaker[Session],
    pending_id: str,
    attempt: int,
    *,
    opener: Callable[[Settings, sessionmaker[Session], AdAccount], AdPlatform] = open_platform,
) -> dict[str, Any]:
    """One dispatch attempt. Returns `{pendingId, status, reason, retryInSec}`; `retryInSec` is
    set when the platform should be tried again after that many seconds."""
    with read_session(factory) as session:
        plan = service.dispatch_plan(session, pending_id)
    if plan is None:
        return _outcome(pending_id, None, "no such pending action")
    if plan.status != "approved":
        return _outcome(pending_id, plan.status, plan.failure_reason)
    try:
        platform = opener(settings, factory, plan.account)
        verdict = _inspect(platform, plan)
    except SQLAlchemyError:
        raise
    except Exception as exc:
        return _on_error(settings, factory, plan, attempt, exc)
    if verdict.applied:
        return _succeed(factory, pending_id, sent=False)
    if verdict.refusal is not None:
        return _fail(factory, pending_id, verdict.refusal)
    with transaction(factory) as session:
        claimed = service.claim_attempt(session, pending_id, utcnow())
    if not claimed:
        with transaction(factory) as session:
            return _settled(session, pending_id)
    try:
        result = platform.apply(plan.write)
    except SQLAlchemyError:
        raise
    except Exception as exc:
        return _on_error(settings, factory, plan, attempt, exc)
    return _succeed(factory, pending_id, sent=True, created=result.created_external_id)


@jobs.repeatable_step()
def dispatch_attempt_step(pending_id: str, attempt: int) -> dict[str, Any]:
    runtime = jobs.runtime()
    return attempt_dispatch(runtime.settings, runtime.session_factory, pending_id, attempt)


@DBOS.workflow()
def dispatch_workflow(pending_id: str) -> dict[str, Any]:
    """Send one approved action; returns `{pendingId, status, reason}` once it is settled."""
    attempt = 0
    while True:
        outcome = dispatch_attempt_step(pending_id, attempt)
        delay = outcome.pop("retryInSec", None)
        deferred = outcome.pop("deferred", False)
        if delay is None:
            return outcome
        DBOS.sleep(delay)
        if not deferred:
            attempt += 1
