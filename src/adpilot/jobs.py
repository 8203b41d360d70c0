"""The durable job engine (DBOS): bootstrap, queues, enqueueing by deterministic workflow id.

Two roles: `launch` runs the engine in this process (workers and the embedded server execute
workflows); `connect` only reaches its database through the engine's client (API processes
enqueue and never execute).

This module and the domains' `workflows.py` files are the only importers of `dbos`. Workflow
functions are module-level (DBOS registers them by name), so they reach the database and the
platforms through the process-wide runtime set here at start-up.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from dbos import DBOS, DBOSClient, DBOSConfig, EnqueueOptions, SetWorkflowID, WorkflowHandle
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from adpilot.config import Settings

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

APP_NAME = "adpilot"
# Where the engine re-enqueues a recovered workflow that was not started from a queue.
INTERNAL_QUEUE_NAME = "_dbos_internal_queue"
RUNS_QUEUE = "runs"
DISPATCH_QUEUE = "dispatch"
WEBHOOKS_QUEUE = "webhooks"

# Modules whose import registers workflows and schedules (each may define `register(runtime)`).
WORKFLOW_MODULES = (
    "adpilot.runs.workflows",
    "adpilot.pending.workflows",
    "adpilot.webhooks.workflows",
    "adpilot.syncs.workflows",
    "adpilot.maintenance",
    "adpilot.outcomes.workflows",
    "adpilot.backtest.workflows",
)


@dataclass
class JobRuntime:
    settings: Settings
    session_factory: sessionmaker[Session]
    launched: bool = False
    # Set in processes that only enqueue (API processes): the engine's client, no executor.
    client: DBOSClient | None = None

    def ready(self) -> bool:
        return self.launched

    @property
    def executes(self) -> bool:
        return self.client is None

    def enqueue(self, queue: str, fn: Callable[..., Any], *args: Any, workflow_id: str) -> None:
        """Enqueue `fn(*args)` once: a second enqueue under the same id does not run it again.

        Always a top-level workflow, even when called from inside a step or workflow (an event
        emitted by a run enqueues its deliveries): that work is not the caller's child, and DBOS
        refuses to start workflows from a step. A fresh context carries no DBOS state.
        """
        if self.client is not None:
            options: EnqueueOptions = {
                "workflow_name": fn.dbos_function_name,  # type: ignore[attr-defined]
                "queue_name": queue,
                "workflow_id": workflow_id,
                "app_version": self.settings.app_version,
                "application_name": APP_NAME,
            }
            self.client.enqueue(options, *args)
            return

        def enqueue_top_level() -> None:
            with SetWorkflowID(workflow_id):
                DBOS.enqueue_workflow(queue, fn, *args)

        contextvars.Context().run(enqueue_top_level)

    def _list(self, **filters: Any) -> list[Any]:
        lister = self.client.list_workflows if self.client is not None else DBOS.list_workflows
        return list(lister(load_input=False, load_output=False, **filters))

    def status(self, workflow_id: str) -> str | None:
        found = self._list(workflow_ids=[workflow_id])
        return found[0].status if found else None

    def known(self, workflow_ids: list[str]) -> set[str]:
        """Which of these workflow ids the engine has ever been given (in any state)."""
        if not workflow_ids:
            return set()
        return {w.workflow_id for w in self._list(workflow_ids=workflow_ids)}

    def unfinished_of(self, executor_id: str) -> list[str]:
        """Workflows an executor had started and not finished (what a take-over moves)."""
        return [w.workflow_id for w in self._list(status="PENDING", executor_id=executor_id)]

    def take_over(self, executor_id: str) -> int:
        """Hand a lost executor's unfinished workflows back to their queues for live workers.

        The engine's recovery primitive moves a workflow only while it is still PENDING under
        `executor_id`, so two workers taking over the same executor at once move each workflow
        once, and one that a live worker has already picked up is left alone.
        """
        if self.client is None:
            return len(DBOS._recover_pending_workflows([executor_id]))
        sys_db = self.client._sys_db
        moved = 0
        for pending in sys_db.get_pending_workflows(executor_id, self.settings.app_version):
            if sys_db.reenqueue_for_recovery(
                pending.workflow_id, [executor_id], INTERNAL_QUEUE_NAME
            ):
                moved += 1
        return moved

    def wait(self, workflow_id: str, timeout: float = 30.0) -> Any:
        """Block until a workflow finishes (tests and the demo's progress display)."""
        handle: WorkflowHandle[Any] = (
            self.client.retrieve_workflow(workflow_id)
            if self.client is not None
            else DBOS.retrieve_workflow(workflow_id)
        )
        done = threading.Event()
        result: list[Any] = []

        def target() -> None:
            try:
                result.append(handle.get_result())
            finally:
                done.set()

        threading.Thread(target=target, daemon=True).start()
        if not done.wait(timeout):
            raise TimeoutError(f"workflow {workflow_id} did not finish in {timeout}s")
        return result[0] if result else None


_runtime: JobRuntime | None = None


def database_hiccup(exc: BaseException) -> bool:
    """A lock timeout or a dropped connection: worth running a repeatable step again."""
    return isinstance(exc, OperationalError)


def repeatable_step(
    also_retry: Callable[[BaseException], bool] | None = None,
    *,
    max_attempts: int = 3,
    backoff_rate: float = 2.0,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A step whose body is idempotent, retried in place when the database hiccups (and on
    whatever `also_retry` accepts), so that one dropped connection does not fail a whole job."""

    def retry(exc: BaseException) -> bool:
        return database_hiccup(exc) or (also_retry is not None and also_retry(exc))

    return DBOS.step(
        retries_allowed=True,
        max_attempts=max_attempts,
        interval_seconds=1.0,
        backoff_rate=backoff_rate,
        should_retry=retry,
    )


def runtime() -> JobRuntime:
    if _runtime is None:
        raise RuntimeError("the job engine has not been started in this process")
    return _runtime


def launch(settings: Settings, session_factory: sessionmaker[Session]) -> JobRuntime:
    """Start DBOS in this process: recover this executor's unfinished workflows and run queues."""
    global _runtime
    _runtime = JobRuntime(settings=settings, session_factory=session_factory)
    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": settings.resolved_jobs_database_url,
        "application_version": settings.app_version,
        "executor_id": settings.executor_id,
        "log_level": "WARNING",
        "console_log_level": "WARNING",
    }
    DBOS(config=config)
    modules = [importlib.import_module(name) for name in WORKFLOW_MODULES]
    DBOS.launch()
    poll = settings.queue_poll_interval_sec
    DBOS.register_queue(
        RUNS_QUEUE, worker_concurrency=settings.run_concurrency, polling_interval_sec=poll
    )
    DBOS.register_queue(DISPATCH_QUEUE, worker_concurrency=8, polling_interval_sec=poll)
    DBOS.register_queue(WEBHOOKS_QUEUE, worker_concurrency=8, polling_interval_sec=poll)
    for module in modules:
        register = getattr(module, "register", None)
        if register is not None:
            register(_runtime)
    _runtime.launched = True
    return _runtime


def migrate(settings: Settings) -> None:
    """Create or upgrade the job engine's own tables (workers also do it when they launch)."""
    DBOS.migrate(settings.resolved_jobs_database_url)


def connect(settings: Settings, session_factory: sessionmaker[Session]) -> JobRuntime:
    """Reach the job engine as a client only: this process enqueues, it never executes.

    The engine's schema is created here when missing, so an API process may start before any
    worker has.
    """
    global _runtime
    url = settings.resolved_jobs_database_url
    migrate(settings)
    client = DBOSClient(system_database_url=url, application_name=APP_NAME)
    _runtime = JobRuntime(settings=settings, session_factory=session_factory, client=client)
    _runtime.launched = True
    return _runtime


def ensure_schedule(name: str, fn: Callable[..., Any], cron: str) -> None:
    """Make the named schedule fire `fn` on `cron` ("off" removes it).

    Schedules live in the job engine's database, so a changed or disabled cron must replace the
    stored one rather than leave it firing.
    """
    existing = DBOS.get_schedule(name)
    if cron == "off":
        if existing is not None:
            DBOS.delete_schedule(name)
    elif existing is None or existing["schedule"] != cron:
        # An upsert, not check-then-create: workers starting together all find it missing, and
        # a second create would fail its process.
        DBOS.apply_schedules([{"schedule_name": name, "workflow_fn": fn, "schedule": cron}])


def shutdown() -> None:
    global _runtime
    if _runtime is not None:
        _runtime.launched = False  # background upkeep stops at its next tick
        if _runtime.client is not None:
            _runtime.client.destroy()
        else:
            DBOS.destroy(workflow_completion_timeout_sec=5)
        _runtime = None
