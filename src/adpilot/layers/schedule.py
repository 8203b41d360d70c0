"""Layer schedules: which cron lines are accepted, and when a layer's next scheduled run is due."""

from __future__ import annotations

import datetime as dt
import itertools

from croniter import CroniterBadDateError, croniter

DEFAULT_SCHEDULE_INTERVAL = dt.timedelta(hours=6)
# Scheduled runs more often than this would spend the platforms' rate limits on little new data.
MIN_SCHEDULE_GAP = dt.timedelta(hours=1)
_SCHEDULE_PROBLEM = 'must be a 5-field cron expression (UTC) or "off"'


def schedule_problem(schedule: str) -> str | None:
    """Why a schedule string is unusable, or None when it is fine."""
    if schedule == "off":
        return None
    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        return _SCHEDULE_PROBLEM
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    try:
        fires = croniter(schedule, start)
        times = [fires.get_next(dt.datetime) for _ in range(48)]
    except CroniterBadDateError:
        return "never fires"
    if min(b - a for a, b in itertools.pairwise(times)) < MIN_SCHEDULE_GAP:
        return "must not fire more often than once an hour"
    return None


def next_run_after(schedule: str | None, after: dt.datetime) -> dt.datetime | None:
    """When a layer's schedule fires next: never if off, 6 hours on by default, else cron (UTC)."""
    if schedule == "off":
        return None
    if schedule is None:
        return after + DEFAULT_SCHEDULE_INTERVAL
    fire: dt.datetime = croniter(schedule, after.astimezone(dt.UTC)).get_next(dt.datetime)
    return fire.astimezone(dt.UTC)
