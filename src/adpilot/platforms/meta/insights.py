"""Insights reads: synchronous for small queries, Meta's asynchronous report flow for large ones.

A large account's 30 days of ad-level daily rows go async up front (Meta's advice; the sync call
would be refused with 100/1487534 or time out with 2/1504038), split into a few date ranges whose
reports run in parallel, so the result pages of several reports download at once. A sync query
refused for its size falls back to one async report.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from adpilot.platforms.base import PlatformError, PlatformTransientError
from adpilot.platforms.meta.client import GraphClient, ReportTooLarge

PAGE_LIMIT = 1000
DONE, FAILED, SKIPPED = "Job Completed", "Job Failed", "Job Skipped"


@dataclass(frozen=True)
class ReportPolicy:
    """When a query goes async and in how many reports; how long to wait between polls of a
    report, in total, and how often to resubmit one that failed."""

    # Estimated rows above which a query starts as async report(s) without trying sync first.
    async_rows: int = 10_000
    # Rows one async report should hold when a large window is split into parallel reports.
    rows_per_report: int = 5_000
    max_parallel: int = 6
    poll_delays: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 5.0)
    timeout_sec: float = 600.0
    attempts: int = 3


def split_window(since: dt.date, until: dt.date, parts: int) -> list[tuple[dt.date, dt.date]]:
    """[since, until] as `parts` consecutive ranges of (nearly) equal length."""
    days = (until - since).days + 1
    parts = max(1, min(parts, days))
    out, start = [], since
    for i in range(parts):
        length = days // parts + (1 if i < days % parts else 0)
        end = start + dt.timedelta(days=length - 1)
        out.append((start, end))
        start = end + dt.timedelta(days=1)
    return out


def time_range(since: dt.date, until: dt.date) -> dict[str, str]:
    return {"since": since.isoformat(), "until": until.isoformat()}


class InsightsReader:
    """Insights of one ad account through one Graph client."""

    def __init__(self, client: GraphClient, account: str) -> None:
        self.client = client
        self.account = account
        self.policy = ReportPolicy()
        self.sleep = client.http.options.sleep

    def rows(self, params: Mapping[str, Any], *, estimated_rows: int = 0) -> list[dict[str, Any]]:
        """All rows of one query: async when it is expected to be large or sync is refused."""
        if estimated_rows > self.policy.async_rows:
            return self.report_rows(params)
        try:
            return self.client.all(f"{self.account}/insights", {**params, "limit": PAGE_LIMIT})
        except ReportTooLarge:
            return self.report_rows(params)

    def daily_rows(
        self, params: Mapping[str, Any], since: dt.date, until: dt.date, *, estimated_rows: int
    ) -> list[dict[str, Any]]:
        """`time_increment=1` rows over the window; a large window as parallel reports."""
        if estimated_rows <= self.policy.async_rows:
            query = {**params, "time_range": time_range(since, until)}
            return self.rows(query, estimated_rows=estimated_rows)
        policy = self.policy
        parts = min(policy.max_parallel, math.ceil(estimated_rows / policy.rows_per_report))
        ranges = split_window(since, until, parts)
        with ThreadPoolExecutor(max_workers=len(ranges), thread_name_prefix="meta-report") as ex:
            chunks = list(
                ex.map(
                    lambda r: self.report_rows({**params, "time_range": time_range(*r)}),
                    ranges,
                )
            )
        return [row for chunk in chunks for row in chunk]

    # ---------------------------------------------------------------- async reports

    def report_rows(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Start a report, wait for it, page its rows; a failed or skipped report is started
        again (Meta's advice for `Job Failed`), up to `policy.attempts` times."""
        failure: PlatformError | None = None
        for _ in range(self.policy.attempts):
            started = self.client.post(f"{self.account}/insights", params)
            run_id = str(started["report_run_id"])
            failure = self._wait(run_id)
            if failure is None:
                return self.client.all(f"{run_id}/insights", {"limit": PAGE_LIMIT})
        assert failure is not None
        raise failure

    def _wait(self, run_id: str) -> PlatformError | None:
        """None once the report is complete, or the error it ended with (failed, skipped)."""
        waited, polls = 0.0, 0
        delays = self.policy.poll_delays
        while True:
            delay = delays[min(polls, len(delays) - 1)]
            self.sleep(delay)
            waited += delay
            polls += 1
            node = self.client.get(
                run_id,
                {
                    "fields": "id,async_status,async_percent_completion,"
                    "error_code,error_subcode,error_message,error_user_msg"
                },
            )
            status = str(node.get("async_status") or "")
            percent = int(node.get("async_percent_completion") or 0)
            if status == DONE and percent >= 100:
                return None
            if status in (FAILED, SKIPPED):
                code = node.get("error_code")
                sub = node.get("error_subcode")
                detail = node.get("error_user_msg") or node.get("error_message") or status
                return PlatformTransientError(
                    f"insights report {run_id} ended '{status}': {detail}",
                    platform_code=f"{code}/{sub}" if code and sub else (str(code or "") or None),
                )
            if waited >= self.policy.timeout_sec:
                raise PlatformTransientError(
                    f"insights report {run_id} still '{status}' ({percent}%) after {waited:.0f}s"
                )
