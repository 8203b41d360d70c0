"""The durable job engine (DBOS): bootstrap, queues, enqueueing by deterministic workflow id.

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
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID, WorkflowHandle
from sqlalchemy.orm import Session, sessionmaker

from adpilot.config import Settings

log = logging.getLogger(__name__)

RUNS_QUEUE = "runs"
DISPATCH_QUEUE = "dispatch"
WEBHOOKS_QUEUE = "webhooks"

# Modules whose import registers workflows and schedules (each may define `register(runtime)`).
WORKFLOW_MODULES = (
    "adpilot.runs.workflows",
    "adpilot.pending.workflows",
    "adpilot.webhooks.workflows",
    "adpilot.maintenance",
    "adpilot.backtest.workflows",
)


@dataclass
class JobRuntime:
    settings: Settings
    session_factory: sessionmaker[Session]
    launched: bool = False

    def ready(self) -> bool:
        return self.launched

    def enqueue(self, queue: str, fn: Callable[..., Any], *args: Any, workflow_id: str) -> None:
        """Enqueue `fn(*args)` once: a second enqueue under the same id does not run it again.

        Always a top-level workflow, even when called from inside a step or workflow (an event
        emitted by a run enqueues its deliveries): that work is not the caller's child, and DBOS
        refuses to start workflows from a step. A fresh context carries no DBOS state.
        """

        def enqueue_top_level() -> None:
            with SetWorkflowID(workflow_id):
                DBOS.enqueue_workflow(queue, fn, *args)

        contextvars.Context().run(enqueue_top_level)

    def status(self, workflow_id: str) -> str | None:
        found = DBOS.list_workflows(workflow_ids=[workflow_id], load_input=False, load_output=False)
        return found[0].status if found else None

    def wait(self, workflow_id: str, timeout: float = 30.0) -> Any:
        """Block until a workflow finishes (tests and the demo's progress display)."""
        handle: WorkflowHandle[Any] = DBOS.retrieve_workflow(workflow_id)
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


def runtime() -> JobRuntime:
    if _runtime is None:
        raise RuntimeError("the job engine has not been started in this process")
    return _runtime


def launch(settings: Settings, session_factory: sessionmaker[Session]) -> JobRuntime:
    """Start DBOS in this process: recover this executor's unfinished workflows and run queues."""
    global _runtime
    _runtime = JobRuntime(settings=settings, session_factory=session_factory)
    config: DBOSConfig = {
        "name": "adpilot",
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


def ensure_schedule(name: str, fn: Callable[..., Any], cron: str) -> None:
    """Make the named schedule fire `fn` on `cron` ("off" removes it).

    Schedules live in the job engine's database, so a changed or disabled cron must replace the
    stored one rather than leave it firing.
    """
    existing = DBOS.get_schedule(name)
    if existing is not None and (cron == "off" or existing["schedule"] != cron):
        DBOS.delete_schedule(name)
        existing = None
    if existing is None and cron != "off":
        DBOS.create_schedule(schedule_name=name, workflow_fn=fn, schedule=cron)


def shutdown() -> None:
    global _runtime
    if _runtime is not None:
        DBOS.destroy(workflow_completion_timeout_sec=5)
        _runtime = None
