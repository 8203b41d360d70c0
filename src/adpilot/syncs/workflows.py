"""The sync of one layer as a durable workflow (workflow id = the sync id)."""

from __future__ import annotations

import logging

from dbos import DBOS

from adpilot import jobs
from adpilot.platforms.base import PlatformTransientError
from adpilot.syncs import service

log = logging.getLogger(__name__)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, PlatformTransientError)


@jobs.repeatable_step(_transient, max_attempts=4, backoff_rate=3.0)
def sync_layer_step(sync_id: str) -> None:
    runtime = jobs.runtime()
    service.run_sync(runtime.settings, runtime.session_factory, sync_id)


@jobs.repeatable_step()
def fail_sync_step(sync_id: str, code: str, message: str) -> None:
    runtime = jobs.runtime()
    service.fail_sync(runtime.session_factory, sync_id, code, message)


@DBOS.workflow()
def entity_sync_workflow(sync_id: str) -> str:
    """Read the layer's platform into the local store; `completed` or `failed`."""
    try:
        sync_layer_step(sync_id)
        return "completed"
    except Exception as exc:
        code, message = service.failure_of(exc)
        if code == "INTERNAL":
            log.exception("sync %s failed", sync_id)
        fail_sync_step(sync_id, code, message)
        return "failed"
