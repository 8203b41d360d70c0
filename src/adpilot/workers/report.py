"""What `adpilot workers list` shows: each worker's lease, liveness and unfinished work."""

from __future__ import annotations

import datetime as dt
from typing import Any

from adpilot import jobs
from adpilot.workers import service


def describe_workers(runtime: jobs.JobRuntime, now: dt.datetime) -> list[dict[str, Any]]:
    engine = runtime.session_factory.kw["bind"]
    lease = dt.timedelta(seconds=runtime.settings.worker_lease_sec)
    rows = []
    for row in service.all_leases(runtime.session_factory):
        if service.held_by_a_live_process(engine, row.executor_id):
            state = "alive"
        elif row.taken_over_at is not None:
            state = f"taken over by {row.taken_over_by}"
        elif row.stopped_at is not None:
            state = "stopped"
        elif now - row.heartbeat_at <= lease:
            state = "silent (within its lease)"
        else:
            state = "lost"
        rows.append(
            {
                "executorId": row.executor_id,
                "hostname": row.hostname,
                "pid": row.pid,
                "heartbeatAt": row.heartbeat_at.isoformat(),
                "state": state,
                "unfinishedWorkflows": len(runtime.unfinished_of(row.executor_id)),
            }
        )
    return rows
