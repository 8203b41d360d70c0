"""Business-use-case limits of the fake Meta: a sliding window of points per ad account (read 1,
write 3), the usage headers every answer carries, and the block once an account is over."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import deque
from typing import Any

from adpilot.fakes.meta.graph import GraphFault, graph_error
from adpilot.fakes.meta.state import meta_state
from adpilot.fakes.world import FakeWorld


def use(world: FakeWorld, account: str, write: bool, insights: bool) -> dict[str, str]:
    """Count one call against the account's budget and answer its usage headers; an account
    over budget is refused (80000 insights, 80004 management) until its block ends."""
    state, now, config = meta_state(world), world.clock(), meta_state(world).config
    kind = "ads_insights" if insights else "ads_management"
    with world.lock:
        blocked = state.blocked_until.get(account)
        if blocked is not None and blocked > now:
            raise throttled(world, account, kind)
        entries = state.usage.setdefault(account, deque())
        _trim(world, entries, now)
        _trim(world, state.app_usage, now)
        weight = 3.0 if write else 1.0
        if sum(w for _, w in entries) + weight > config.buc_budget:
            state.blocked_until[account] = now + dt.timedelta(seconds=config.buc_block_sec)
            raise throttled(world, account, kind)
        entries.append((now, weight))
        state.app_usage.append((now, weight))
        return headers(world, account, kind)


def _trim(world: FakeWorld, entries: deque[tuple[dt.datetime, float]], now: dt.datetime) -> None:
    horizon = now - dt.timedelta(seconds=meta_state(world).config.buc_window_sec)
    while entries and entries[0][0] <= horizon:
        entries.popleft()


def throttled(world: FakeWorld, account: str, kind: str) -> GraphFault:
    code = 80000 if kind == "ads_insights" else 80004
    return graph_error(
        code,
        f"(#{code}) There have been too many calls to this ad-account. Wait a bit and try "
        "again. For more info, please refer to "
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
        subcode=2446079,
        headers=headers(world, account, kind),
    )


def buc_entry(kind: str, pct: float, regain_min: float) -> dict[str, Any]:
    return {
        "type": kind,
        "call_count": int(pct),
        "total_cputime": int(pct * 0.5),
        "total_time": int(pct * 0.7),
        "estimated_time_to_regain_access": int(regain_min),
        "ads_api_access_tier": "standard_access",
    }


def headers(world: FakeWorld, account: str, kind: str) -> dict[str, str]:
    """`X-Business-Use-Case-Usage`, `X-Ad-Account-Usage` and `X-App-Usage` as they stand now."""
    state, now = meta_state(world), world.clock()
    config = state.config
    entries = state.usage.get(account, deque())
    pct = min(100.0 * sum(w for _, w in entries) / config.buc_budget, 100.0)
    blocked = state.blocked_until.get(account)
    regain = math.ceil((blocked - now).total_seconds() / 60) if blocked and blocked > now else 0
    if regain:
        pct = 100.0
    oldest = entries[0][0] if entries else now
    # Seconds until the oldest counted call leaves the window (rounded up: never too early).
    reset = max(math.ceil(config.buc_window_sec - (now - oldest).total_seconds()), 0)
    app_pct = min(100.0 * sum(w for _, w in state.app_usage) / config.app_budget, 100.0)
    acct = account.removeprefix("act_")
    return {
        "X-Business-Use-Case-Usage": json.dumps({acct: [buc_entry(kind, pct, regain)]}),
        "X-Ad-Account-Usage": json.dumps(
            {
                "acc_id_util_pct": round(pct, 2),
                "reset_time_duration": reset,
                "ads_api_access_tier": "standard_access",
            }
        ),
        "X-App-Usage": json.dumps(
            {
                "call_count": int(app_pct),
                "total_cputime": int(app_pct * 0.5),
                "total_time": int(app_pct * 0.7),
            }
        ),
    }
