"""Durable webhook delivery: one workflow per delivery, one checkpointed step per HTTP attempt."""

from __future__ import annotations

from dbos import DBOS, SetEnqueueOptions, SetWorkflowID

from adpilot import jobs
from adpilot.webhooks import delivery
from adpilot.webhooks.service import workflow_id

# A queued workflow keeps its slot on the webhooks queue while it sleeps. Waits up to this long
# are slept in place (durably); a longer one hands the rest of the ladder to a continuation
# enqueued with that delay, which holds no slot while it waits, so a dead receiver cannot
# starve everyone else's deliveries for the hours its retries take.
INLINE_WAIT_MAX_SEC = 5.0


def continuation_id(delivery_id: str, attempt: int) -> str:
    """The id of the workflow that resumes a delivery's ladder at `attempt` (1-based)."""
    return f"{workflow_id(delivery_id)}-a{attempt}"


# The attempt handles every network outcome itself; the step's own retries only cover a failing
# database, and at worst repeat a send (delivery is at-least-once, receivers de-duplicate by id).
@DBOS.step(name="webhooks.attempt", retries_allowed=True, max_attempts=3, interval_seconds=1.0)
def attempt_step(delivery_id: str, next_delay: float | None) -> str:
    runtime = jobs.runtime()
    return delivery.attempt(runtime.session_factory, runtime.settings, delivery_id, next_delay)


@DBOS.workflow(name="webhooks.deliver")
def deliver_workflow(delivery_id: str, delays: list[float], start: int = 0) -> str:
    """Walk the retry ladder from rung `start` until the receiver accepts, refuses for good, or
    the ladder ends. → delivered | failed | stopped | rescheduled (handed to a continuation).

    The ladder is an input rather than read from settings so that a workflow recovered after a
    restart replays the same steps even if the configured ladder changed meanwhile. A
    continuation (`start` > 0) begins with its attempt: its wait elapsed in the queue.
    """
    ladder = list(delays) or [0.0]
    for index in range(start, len(ladder)):
        wait = 0.0 if index == start and start > 0 else ladder[index]
        if index > start and wait > INLINE_WAIT_MAX_SEC:
            with (
                SetWorkflowID(continuation_id(delivery_id, index + 1)),
                SetEnqueueOptions(delay_seconds=wait),
            ):
                DBOS.enqueue_workflow(
                    jobs.WEBHOOKS_QUEUE, deliver_workflow, delivery_id, ladder, index
                )
            return "rescheduled"
        if wait > 0:
            DBOS.sleep(wait)
        next_delay = ladder[index + 1] if index + 1 < len(ladder) else None
        outcome = attempt_step(delivery_id, next_delay)
        if outcome != "retry":
            return outcome
    return "failed"
