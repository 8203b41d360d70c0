"""What the fake Meta keeps beside the simulated markets (in `world.extra["meta"]`): its knobs,
app secrets, async report runs, budget-change counts, targeting parts the simulator has no
column for, ads in review, and business-use-case usage."""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from adpilot.fakes.world import FakeWorld


@dataclass
class FakeConfig:
    """Knobs of the fake (tests change them after `world.reset()`)."""

    max_limit: int = 1000  # largest page any edge serves
    default_limit: int = 25
    sync_row_limit: int = 10_000  # a sync insights query with more rows → 100/1487534
    report_seconds: float = 0.2  # an async report runs this long
    # When set, a report completes on its Nth status poll instead (tests that must not wait).
    report_polls: int | None = None
    report_ttl_sec: float = 3600.0  # then its id is unknown
    buc_budget: float = 100_000.0  # usage points per window per ad account (read 1, write 3)
    buc_window_sec: float = 300.0
    buc_block_sec: float = 60.0  # an account over budget is blocked this long
    app_budget: float = 1_000_000.0
    budget_changes_per_hour: int = 4  # per ad set; the next is code 17 and a 1 h lock
    review_seconds: float = 0.0  # an ad whose creative was swapped is PENDING_REVIEW this long
    dayparting_needs_lifetime_budget: bool = True
    breakdowns: tuple[str, ...] = ("country", "hourly_stats_aggregated_by_advertiser_time_zone")


@dataclass
class Report:
    id: str
    account: str
    created: dt.datetime
    since: dt.date
    until: dt.date
    rows: list[dict[str, Any]]
    outcome: str = "ok"  # ok | failed | skipped
    polls: int = 0  # status reads so far


@dataclass
class MetaState:
    config: FakeConfig = field(default_factory=FakeConfig)
    app_secrets: dict[str, str] = field(default_factory=dict)  # token → app secret
    reports: dict[str, Report] = field(default_factory=dict)
    budget_edits: dict[str, list[dt.datetime]] = field(default_factory=dict)
    budget_locked_until: dict[str, dt.datetime] = field(default_factory=dict)
    targeting_rest: dict[str, dict[str, Any]] = field(default_factory=dict)
    review_until: dict[str, dt.datetime] = field(default_factory=dict)
    currency: dict[str, str] = field(default_factory=dict)  # account → currency override
    usage: dict[str, deque[tuple[dt.datetime, float]]] = field(default_factory=dict)
    app_usage: deque[tuple[dt.datetime, float]] = field(default_factory=deque)
    blocked_until: dict[str, dt.datetime] = field(default_factory=dict)
    insights_cache: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 0


def meta_state(world: FakeWorld) -> MetaState:
    """The fake's own state in `world.extra` (recreated after `world.reset()`)."""
    return world.extra_state("meta", MetaState)


def configure(world: FakeWorld, **values: Any) -> FakeConfig:
    """Change knobs of the fake, e.g. `configure(world, sync_row_limit=100)`."""
    config = meta_state(world).config
    for key, value in values.items():
        if not hasattr(config, key):
            raise AttributeError(f"the fake Meta has no setting {key!r}")
        setattr(config, key, value)
    return config


def set_currency(world: FakeWorld, account_id: str, currency: str) -> None:
    """Show an account in another currency (e.g. JPY, whose minimum unit is the yen)."""
    meta_state(world).currency[account_id] = currency.upper()
