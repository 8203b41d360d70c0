"""TikTok reports: the synchronous `report/integrated/get/` and the async report tasks.

A report is asked for over spans TikTok accepts (30 days with a daily time dimension, one day
hourly); a span refused as too large (40067) is halved until it passes, and a single day that is
still too large goes through an async task (create → check until SUCCESS → download as CSV).
Spans expected to fill many pages also go through tasks (one file instead of pages), as many as
keeps task creation (2 a second) from becoming slower than paging (10 a second).
Rows come back flat: dimension and metric names to their string values.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adpilot.platforms.base import PlatformRejected, PlatformTransientError
from adpilot.platforms.tiktok.client import (
    ENDPOINT_QPS,
    ENDPOINT_QPS_OVERRIDES,
    PAGE_SIZE,
    ReportTooLarge,
    TaskNotReady,
    TikTokClient,
    parallel,
)

Row = dict[str, str]

# Longest span per request for each time dimension (TikTok refuses longer ones).
MAX_SPAN_DAYS = {"stat_time_day": 30, "stat_time_hour": 1, None: 365}
# Polls of an async task before giving up (the durable job then retries the whole sync).
MAX_TASK_POLLS = 30
# A failed or canceled task is created again this many times.
TASK_ATTEMPTS = 2
TASK_MIN_PAGES = 4
TASK_CREATE_QPS = ENDPOINT_QPS_OVERRIDES["/report/task/create/"]


@dataclass(frozen=True)
class ReportSpec:
    report_type: str  # BASIC | AUDIENCE
    data_level: str  # AUCTION_AD | AUCTION_ADGROUP | AUCTION_CAMPAIGN | AUCTION_ADVERTISER
    dimensions: tuple[str, ...]
    metrics: tuple[str, ...]
    filtering: list[dict[str, Any]] = field(default_factory=list)

    @property
    def time_dimension(self) -> str | None:
        return next((d for d in self.dimensions if d.startswith("stat_time_")), None)

    def fields(self, advertiser_id: str, since: dt.date, until: dt.date) -> dict[str, Any]:
        body: dict[str, Any] = {
            "advertiser_id": advertiser_id,
            "report_type": self.report_type,
            "data_level": self.data_level,
            "dimensions": list(self.dimensions),
            "metrics": list(self.metrics),
            "start_date": since.isoformat(),
            "end_date": until.isoformat(),
        }
        if self.filtering:
            body["filtering"] = self.filtering
        return body


def status_filter(field_name: str, value: str = "STATUS_ALL") -> dict[str, Any]:
    """A report filter; `filter_value` is itself a JSON string, as TikTok wants it."""
    return {"field_name": field_name, "filter_type": "IN", "filter_value": f'["{value}"]'}


def spans(since: dt.date, until: dt.date, days: int) -> list[tuple[dt.date, dt.date]]:
    out: list[tuple[dt.date, dt.date]] = []
    start = since
    while start <= until:
        end = min(until, start + dt.timedelta(days=days - 1))
        out.append((start, end))
        start = end + dt.timedelta(days=1)
    return out


@dataclass(frozen=True)
class ReportJob:
    """One span of one report, with the pages it is expected to fill (from entity counts)."""

    spec: ReportSpec
    since: dt.date
    until: dt.date
    pages: int = 1


def jobs_for(
    spec: ReportSpec, since: dt.date, until: dt.date, rows_per_day: int
) -> list[ReportJob]:
    """The report over [since, until] cut into spans TikTok accepts."""
    if until < since:
        return []
    days = MAX_SPAN_DAYS[spec.time_dimension]
    out = []
    for a, b in spans(since, until, days):
        rows = rows_per_day * ((b - a).days + 1) if spec.time_dimension else rows_per_day
        out.append(ReportJob(spec, a, b, max(1, -(-rows // PAGE_SIZE))))
    return out


def plan(jobs: list[ReportJob]) -> list[bool]:
    """Which jobs go through an async task rather than pages.

    The synchronous endpoint allows `ENDPOINT_QPS` pages a second and task creation only
    `TASK_CREATE_QPS`; the biggest spans move to tasks while that shortens the slower of the
    two queues. A task costs at least three requests (create, check, download), so only spans
    of `TASK_MIN_PAGES` pages or more are worth one.
    """
    use_task = [False] * len(jobs)
    sync_sec = sum(j.pages for j in jobs) / ENDPOINT_QPS
    task_sec = 0.0
    for i in sorted(range(len(jobs)), key=lambda i: -jobs[i].pages):
        pages = jobs[i].pages
        if pages < TASK_MIN_PAGES:
            break
        with_task = task_sec + 1 / TASK_CREATE_QPS
        without_pages = sync_sec - pages / ENDPOINT_QPS
        if max(with_task, without_pages) >= max(task_sec, sync_sec):
            break
        use_task[i] = True
        task_sec, sync_sec = with_task, without_pages
    return use_task


def fetch_all(
    client: TikTokClient,
    advertiser_id: str,
    jobs: list[ReportJob],
    *,
    refusable: Callable[[ReportJob], bool] = lambda _job: False,
) -> list[list[Row] | PlatformRejected]:
    """Every job's rows (in job order), all jobs in flight together. A job the platform refuses
    answers its refusal instead of rows when `refusable(job)`; any other refusal goes up."""

    def run(job: ReportJob, task: bool) -> list[Row] | PlatformRejected:
        try:
            return _span(client, advertiser_id, job.spec, job.since, job.until, task)
        except PlatformRejected as exc:
            if refusable(job):
                return exc
            raise

    calls = [functools.partial(run, job, task) for job, task in zip(jobs, plan(jobs), strict=True)]
    return parallel(calls)


def _span(
    client: TikTokClient,
    advertiser_id: str,
    spec: ReportSpec,
    since: dt.date,
    until: dt.date,
    use_task: bool,
) -> list[Row]:
    if use_task:
        return run_task(client, advertiser_id, spec, since, until)
    try:
        return _sync(client, advertiser_id, spec, since, until)
    except ReportTooLarge:
        if since == until:
            return run_task(client, advertiser_id, spec, since, until)
        middle = since + dt.timedelta(days=(until - since).days // 2)
        return _span(client, advertiser_id, spec, since, middle, False) + _span(
            client, advertiser_id, spec, middle + dt.timedelta(days=1), until, False
        )


def _sync(
    client: TikTokClient, advertiser_id: str, spec: ReportSpec, since: dt.date, until: dt.date
) -> list[Row]:
    params = {**spec.fields(advertiser_id, since, until), "service_type": "AUCTION"}
    items = client.get_all("/report/integrated/get/", params)
    return [
        {**(item.get("dimensions") or {}), **(item.get("metrics") or {})}
        for item in items
        if isinstance(item, dict)
    ]


def run_task(
    client: TikTokClient, advertiser_id: str, spec: ReportSpec, since: dt.date, until: dt.date
) -> list[Row]:
    """An async report task: create, check until done, download the CSV."""
    failure = "the report task did not finish"
    for _ in range(TASK_ATTEMPTS):
        body = {
            **spec.fields(advertiser_id, since, until),
            "service_type": "AUCTION",
            "output_format": "CSV_STRING",
            "enable_report_title_translation": False,
        }
        created = client.post("/report/task/create/", body)
        task_id = str(created.data.get("task_id") or "")
        if not task_id:
            raise PlatformTransientError("TikTok created a report task without an id")
        outcome, text = _await_task(client, advertiser_id, task_id)
        if outcome == "SUCCESS":
            return parse_csv(text)
        failure = f"the report task ended {outcome}: {text}" if text else outcome
    raise PlatformTransientError(f"TikTok report task failed: {failure}", platform_code="40200")


def _await_task(client: TikTokClient, advertiser_id: str, task_id: str) -> tuple[str, str]:
    """(final status, CSV text or failure message); polls on the client's retry rhythm."""
    options = client.http.options
    delays = list(options.retry_delays) or [1.0]
    query = {"advertiser_id": advertiser_id, "task_id": task_id}
    for poll in range(MAX_TASK_POLLS):
        if poll:
            options.sleep(float(delays[min(poll - 1, len(delays) - 1)]))
        data = client.get("/report/task/check/", query)
        status = str(data.get("status") or "")
        if status in ("FAILED", "CANCELED"):
            return status, str(data.get("message") or "")
        if status != "SUCCESS":
            continue
        try:
            return "SUCCESS", client.get_text("/report/task/download/", query)
        except TaskNotReady:
            continue
    raise PlatformTransientError(
        f"TikTok report task {task_id} was not ready after {MAX_TASK_POLLS} checks",
        platform_code="40201",
    )


def parse_csv(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    return [{k: (v or "") for k, v in row.items() if k} for row in reader]
