"""A fake TikTok API for Business v1.3 that speaks the real wire format, backed by the simulator.

Hooks used by the loopback runner, `adpilot fake-platform serve tiktok` and `adpilot bench sync`:
`create_app`, `settings_overrides`, `credentials_for`, `minimum_sync_calls`; tests also use
`fake_state` (settings, answered codes) and `issue_auth_code`.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from typing import Any

import numpy as np

from adpilot.fakes.tiktok.app import create_app
from adpilot.fakes.tiktok.state import FakeConfig, FakeState, fake_state
from adpilot.fakes.tiktok.wire import PAGE_SIZE_MAX
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.tiktok.reports import MAX_SPAN_DAYS, spans
from adpilot.sim.reports import ad_matrix, breakdown_totals
from adpilot.sim.tables import DELETED

__all__ = [
    "FakeConfig",
    "FakeState",
    "create_app",
    "credentials_for",
    "fake_state",
    "issue_auth_code",
    "minimum_sync_calls",
    "settings_overrides",
]

# An async report task costs at least three requests: create, one check, download.
TASK_CALLS = 3


def settings_overrides(base_url: str) -> dict[str, str]:
    return {"tiktok_base_url": base_url}


def credentials_for(world: FakeWorld, account_id: str) -> dict[str, Any]:
    """A long-term access token granted for this advertiser only (the same one on every call)."""
    state = fake_state(world)
    with world.lock:
        token = state.tokens_by_account.get(account_id)
        if token is None or token not in world.tokens:
            token = "act." + secrets.token_hex(20)
            world.add_token(token, accounts={account_id})
            state.tokens_by_account[account_id] = token
    return {"accessToken": token}


def issue_auth_code(world: FakeWorld, advertiser_ids: list[str]) -> str:
    """A one-time `auth_code` (as the authorization redirect carries) for these advertisers."""
    code = secrets.token_hex(16)
    with world.lock:
        fake_state(world).auth_codes[code] = {"advertiser_ids": list(advertiser_ids), "used": False}
    return code


def _pages(rows: int) -> int:
    return max(1, math.ceil(rows / PAGE_SIZE_MAX))


def _report(rows: int) -> int:
    # Pages of the synchronous report, or one async task, whichever is fewer requests.
    return min(_pages(rows), TASK_CALLS)


def minimum_sync_calls(world: FakeWorld, account_id: str, since: dt.date, until: dt.date) -> int:
    """The fewest requests TikTok's wire format allows for what a sync reads.

    A sync reads the advertiser, every campaign, ad group and ad (1000 per page), the daily ad
    report over the window (≤ 30 days per query), the country report per ad group, and hourly
    ad-group rows (one day per query) for the adapter's hourly days. Each report costs its pages
    or one async task (create, check, download), whichever is fewer.
    """
    from adpilot.platforms.tiktok.adapter import HOURLY_DAYS

    with world.lock:
        m = world.market(account_id)
        calls = 1 + _pages(len(m.campaigns.id)) + _pages(len(m.adsets.id)) + _pages(len(m.ads.id))
        for start, end in spans(since, until, MAX_SPAN_DAYS["stat_time_day"]):
            mx = ad_matrix(m, start, end)
            calls += _report(int(np.count_nonzero((mx.impressions > 0) | (mx.spend > 0))))
        live_sets = m.adsets.status != DELETED
        by_country, _ = breakdown_totals(m, since, until)
        calls += _report(int(np.count_nonzero(by_country[live_sets, :, 1] > 0)))
        first_hourly = max(since, until - dt.timedelta(days=HOURLY_DAYS - 1))
        for start, end in spans(first_hourly, until, MAX_SPAN_DAYS["stat_time_hour"]):
            _, by_hour = breakdown_totals(m, start, end)
            calls += _report(int(np.count_nonzero(by_hour[live_sets, :, 1] > 0)))
    return calls
