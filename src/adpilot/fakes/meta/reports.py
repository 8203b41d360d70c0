"""Async insights report runs of the fake Meta: the AdReportRun state machine over the world's
clock, results readable once complete, ids that expire."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from adpilot.fakes.meta.graph import graph_error
from adpilot.fakes.meta.insights import Query
from adpilot.fakes.meta.state import MetaState, Report


def start_report(
    state: MetaState,
    account: str,
    found: list[dict[str, Any]],
    q: Query,
    now: dt.datetime,
    outcome: str,
) -> Report:
    run_id = str(6_000_000_000_000_000 + secrets.randbelow(10**15))
    report = Report(run_id, account, now, q.since, q.until, found, outcome)
    state.reports[run_id] = report
    return report


def report_status(
    state: MetaState, report: Report, now: dt.datetime, *, poll: bool = False
) -> dict[str, Any]:
    """The AdReportRun node: Not Started → Started → Running (percent rising) → Completed
    over `report_seconds` (or over `report_polls` status polls, a `poll` being one of them);
    or Failed / Skipped when a fault said so."""
    polls = state.config.report_polls
    if polls:
        report.polls += 1 if poll else 0
        share = min(report.polls / polls, 1.0)
    else:
        seconds = max(state.config.report_seconds, 0.0)
        elapsed = (now - report.created).total_seconds()
        share = 1.0 if seconds == 0 else min(elapsed / seconds, 1.0)
    node: dict[str, Any] = {
        "id": report.id,
        "account_id": report.account.removeprefix("act_"),
        "date_start": report.since.isoformat(),
        "date_stop": report.until.isoformat(),
        "time_ref": int(report.created.timestamp()),
    }
    if share >= 1.0 and report.outcome == "failed":
        node.update(
            async_status="Job Failed",
            async_percent_completion=0,
            is_running=False,
            time_completed=0,
            error_code=-2,
            error_subcode=2490547,
            error_message="Report Failed",
            error_user_title="Report Failed",
            error_user_msg="Generating the report failed. Try again later.",
        )
        return node
    if share >= 1.0 and report.outcome == "skipped":
        node.update(
            async_status="Job Skipped",
            async_percent_completion=0,
            is_running=False,
            time_completed=0,
        )
        return node
    if share >= 1.0:
        status, percent = "Job Completed", 100
    elif share < 0.1:
        status, percent = "Job Not Started", 0
    elif share < 0.2:
        status, percent = "Job Started", int(share * 100)
    else:
        status, percent = "Job Running", int(share * 100)
    node.update(
        async_status=status,
        async_percent_completion=percent,
        is_running=status != "Job Completed",
        time_completed=int(now.timestamp()) if status == "Job Completed" else 0,
    )
    return node


def live_report(state: MetaState, run_id: str, now: dt.datetime) -> Report | None:
    report = state.reports.get(run_id)
    if report is None:
        return None
    if (now - report.created).total_seconds() > state.config.report_ttl_sec:
        del state.reports[run_id]
        return None
    return report


def finished_rows(state: MetaState, report: Report, now: dt.datetime) -> list[dict[str, Any]]:
    status = report_status(state, report, now)["async_status"]
    if status != "Job Completed":
        raise graph_error(
            100,
            f"(#100) The report {report.id} is not ready: its status is '{status}'",
            subcode=2490424,
            kind="GraphMethodException",
        )
    return report.rows
