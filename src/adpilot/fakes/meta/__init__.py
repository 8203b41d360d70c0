"""A fake Meta Marketing API (Graph) backed by the simulated market.

Speaks the wire format adpilot's Meta client speaks to the real one: `access_token` (query,
form or Bearer) with optional `appsecret_proof`, cursor paging with absolute `next` links,
insights (sync and the async report state machine), Graph error envelopes, business-use-case
usage headers and limits, the 4-budget-changes-per-hour rule, and faults queued through
`world.inject(kind, path=…, method=…, count=…, **data)` (`path` matches a substring of
"<request path>?", so "act_1/ads?" is the ads edge alone, not "act_1/adsets"):

- `kind` a Graph error code ("190", "2", "17", "80004", …) with `subcode`, `message`,
  `status`, `user_msg`, `is_transient`, `regain_minutes` (BUC `estimated_time_to_regain_access`);
- `"http_500"`, `"http_503"`, … a bare HTTP failure without a Graph body;
- `"empty_page"` a page with no rows that still links to the rows (paging must follow `next`);
- `"job_failed"` / `"job_skipped"` on `POST …/insights`: the async report ends that way;
- `after_apply=True` on a write: the change is made, then the error is answered (lost answer).
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from typing import Any

from adpilot.fakes.meta.app import create_app
from adpilot.fakes.meta.insights import HOURLY, Query, rows
from adpilot.fakes.meta.state import FakeConfig, configure, meta_state, set_currency
from adpilot.fakes.world import FakeWorld

__all__ = [
    "FakeConfig",
    "configure",
    "create_app",
    "credentials_for",
    "minimum_sync_calls",
    "set_currency",
    "settings_overrides",
]


def settings_overrides(base_url: str) -> dict[str, str]:
    """Point adpilot's Meta client at a fake running at `base_url` (any Graph version works)."""
    return {"meta_base_url": base_url}


def credentials_for(world: FakeWorld, account_id: str) -> dict[str, Any]:
    """A fresh access token for this account only, and the app secret its calls must prove."""
    token = "EAAB" + secrets.token_urlsafe(32)
    secret = secrets.token_hex(16)
    world.add_token(token, accounts={account_id})
    with world.lock:
        meta_state(world).app_secrets[token] = secret
    return {"accessToken": token, "appSecret": secret}


def _pages(count: int, limit: int) -> int:
    """Requests to page through `count` items: an empty edge still costs one."""
    return max(1, math.ceil(count / limit))


def minimum_sync_calls(world: FakeWorld, account_id: str, since: dt.date, until: dt.date) -> int:
    """The fewest requests the Graph wire format allows for a full sync of the account, with
    this fake's page size: the account; campaigns, ad sets and ads (every status) in full
    pages; the ad-level daily insights (sync pages, or, past the sync row limit, one async
    report: start, one poll, result pages); the country and hour breakdowns in full pages.
    The batch API is not counted as a saving (Meta counts each batched call on its own)."""
    config: FakeConfig = meta_state(world).config
    limit = config.max_limit
    with world.lock:
        m = world.market(account_id)
        currency = m.account.currency
        total = 1
        total += _pages(len(m.campaigns.id), limit)
        total += _pages(len(m.adsets.id), limit)
        total += _pages(len(m.ads.id), limit)
        span = {"time_range": f'{{"since":"{since}","until":"{until}"}}'}
        today = m.local_date(world.clock())
        daily = Query({**span, "level": "ad", "fields": "ad_id", "time_increment": "1"}, today)
        n_daily = len(rows(m, account_id, currency, daily))
        total += _pages(n_daily, limit) + (2 if n_daily > config.sync_row_limit else 0)
        for breakdown in ("country", HOURLY):
            q = Query(
                {**span, "level": "adset", "fields": "adset_id", "breakdowns": breakdown}, today
            )
            total += _pages(len(rows(m, account_id, currency, q)), limit)
    return total
