"""A fake Apple Ads Platform API v1 (and its OAuth token endpoint) backed by the simulator.

Hooks the fake server runner, the CLI and the benchmarks use: `create_app`,
`settings_overrides`, `credentials_for`, `minimum_sync_calls`. Test helpers: `revoke_client`,
`expire_tokens`, `set_rate_limit`.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np

from adpilot.fakes.apple.app import TOKEN_PATH, create_app
from adpilot.fakes.apple.state import (
    MAX_PAGE_SIZE,
    expire_tokens,
    new_credentials,
    revoke_client,
    set_rate_limit,
    state_of,
)
from adpilot.fakes.world import FakeWorld
from adpilot.sim.reports import ad_matrix, breakdown_totals
from adpilot.sim.tables import DELETED

__all__ = [
    "create_app",
    "credentials_for",
    "expire_tokens",
    "minimum_sync_calls",
    "revoke_client",
    "set_rate_limit",
    "settings_overrides",
]

HOURLY_LOOKBACK_DAYS = 7


def settings_overrides(base_url: str) -> dict[str, str]:
    """Point adpilot's Apple client (API and token endpoint) at a fake running at `base_url`."""
    base = base_url.rstrip("/")
    return {"apple_base_url": base, "apple_token_url": f"{base}{TOKEN_PATH}"}


def credentials_for(world: FakeWorld, account_id: str) -> dict[str, Any]:
    """A new EC P-256 key pair registered with the fake's token endpoint for `account_id`."""
    return new_credentials(world, account_id)


def _pages(n: int) -> int:
    return max(1, math.ceil(n / MAX_PAGE_SIZE))


def minimum_sync_calls(world: FakeWorld, account_id: str, since: dt.date, until: dt.date) -> int:
    """The fewest requests a full sync of [since, until] needs on Apple's wire format.

    With 1000-item pages: the account (currency, time zone); campaigns, ad groups and ads
    (deleted ones too); one geo lookup for targeted countries; and — reports take one campaign
    each — per campaign that can have delivery in the window, the ads report (DAILY), the ad
    groups report by country, and the ad groups report by HOUR when the window reaches into the
    last 7 days. The token exchange is not counted: a token lasts an hour and is reused.
    """
    state = state_of(world)
    with world.lock:
        m = world.market(account_id)
        today = m.through + dt.timedelta(days=1)
        as_of = today
        n_c, n_s, n_a = len(m.campaigns.id), len(m.adsets.id), len(m.ads.id)
        calls = 1 + _pages(n_c) + _pages(n_s) + _pages(n_a)
        if any(m.adsets.geo[j].any() for j in range(n_s)):
            calls += 1
        mx = ad_matrix(m, since, until, as_of)
        delivered = (mx.spend.sum(axis=1) > 0) | (mx.impressions.sum(axis=1) > 0)
        by_country, _ = breakdown_totals(m, since, until, as_of)
        hourly_since = max(since, today - dt.timedelta(days=HOURLY_LOOKBACK_DAYS))
        by_hour = None
        if hourly_since <= until:
            _, by_hour = breakdown_totals(m, hourly_since, until, as_of)
        for c in range(n_c):
            if int(m.campaigns.status[c]) == DELETED:
                changed = state.modified.get(("campaign", m.campaigns.id[c]))
                if changed is None or m.local_date(changed) < since:
                    continue
            groups = np.flatnonzero(m.adsets.campaign == c)
            ads = np.isin(m.ads.adset, groups)
            calls += _pages(int((ads & delivered).sum()))
            country_rows = int((by_country[groups, :, 0] + by_country[groups, :, 1] > 0).sum())
            calls += _pages(country_rows)
            if by_hour is not None:
                hour_rows = int((by_hour[groups, :, :2].sum(axis=(1, 2)) > 0).sum())
                calls += _pages(hour_rows)
    return calls
