"""A worker's background upkeep: renew its lease, enqueue lost work, take over lost workers.

It runs every few seconds in every worker (and in the embedded server, without leases), so work
committed by a process that died before enqueueing it waits seconds, not the minute-long tick.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time

from adpilot import jobs, maintenance
from adpilot.kit.clock import utcnow
from adpilot.workers import service
from adpilot.workers.service import ExecutorLock

log = logging.getLogger(__name__)


class ExecutorStillAlive(Exception):
    """The executor id is held by a live process: its work is not to be taken."""


def take_over(runtime: jobs.JobRuntime, executor_id: str, *, by: str, now: dt.datetime) -> int:
    """Move a lost worker's unfinished workflows back to the queues; refuses a live worker."""
    engine = runtime.session_factory.kw["bind"]
    if service.held_by_a_live_process(engine, executor_id):
        raise ExecutorStillAlive(executor_id)
    moved = runtime.take_over(executor_id)
    leases = {row.executor_id: row for row in service.all_leases(runtime.session_factory)}
    if executor_id in leases:
        seen = leases[executor_id].heartbeat_at
        service.mark_taken_over(runtime.session_factory, executor_id, by=by, seen=seen, now=now)
    return moved


class Upkeep:
    """The upkeep thread. `lock` is set for a distributed worker, which holds a lease."""

    def __init__(self, runtime: jobs.JobRuntime, lock: ExecutorLock | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.lock = lock
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="adpilot-upkeep", daemon=True)
        self.last_renewed = time.monotonic()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        while not self.stop_event.wait(self.settings.worker_upkeep_interval_sec):
            if not self.runtime.launched:
                return  # the job engine was shut down under us (the demo's end)
            try:
                self.tick(utcnow())
            except Exception:
                log.exception("worker upkeep failed; trying again next tick")
            self._fence()

    def _fence(self) -> None:
        """A worker that cannot prove it is alive stops, before its peers take its work over."""
        if self.lock is None:
            return
        silent = time.monotonic() - self.last_renewed
        if silent > self.settings.worker_lease_sec / 2 or not self.lock.alive():
            log.critical("lease of %s lost; exiting so no work runs twice", self.lock.executor_id)
            os._exit(75)

    def tick(self, now: dt.datetime) -> None:
        factory = self.runtime.session_factory
        if self.lock is not None:
            service.heartbeat(factory, self.lock.executor_id, now)
            self.last_renewed = time.monotonic()
        grace = dt.timedelta(seconds=self.settings.lost_work_grace_sec)
        maintenance.requeue_lost_work(factory, now, grace)
        if self.lock is not None:
            self.take_over_lost(now)

    def take_over_lost(self, now: dt.datetime) -> None:
        assert self.lock is not None
        lease = dt.timedelta(seconds=self.settings.worker_lease_sec)
        for row in service.lost(self.runtime.session_factory, now, lease):
            if row.executor_id == self.lock.executor_id:
                continue
            try:
                moved = take_over(self.runtime, row.executor_id, by=self.lock.executor_id, now=now)
            except ExecutorStillAlive:
                continue
            log.warning(
                "worker %s silent since %s: %d unfinished workflows taken over by %s",
                row.executor_id,
                row.heartbeat_at.isoformat(),
                moved,
                self.lock.executor_id,
            )
