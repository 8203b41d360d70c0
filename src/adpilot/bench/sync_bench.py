"""Time a full 30-day sync of a large account through each platform's real client and fake.

The fake runs on loopback with a fixed latency per request, so the figure is dominated by how
many round trips the client makes and how many it overlaps; the report sets the requests made
beside the fewest the wire format allows.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any

from adpilot.config import Settings
from adpilot.fakes.server import fake_module, running_fake
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.base import PlatformName
from adpilot.platforms.registry import LiveAccount, open_live
from adpilot.sim.generate import generate_market

# Account ids as adpilot stores them (`externalId`).
BENCH_ACCOUNTS: dict[PlatformName, str] = {
    "meta": "act_1000000001",
    "tiktok": "7000000000000000001",
    "apple": "4000001",
}
ADS_PER_ADSET = 4


def bench_account(platform: PlatformName, n_ads: int, today: dt.date) -> Any:
    n_adsets = max(1, n_ads // ADS_PER_ADSET)
    n_campaigns = max(1, min(20, n_adsets // 10))
    return generate_market(
        platform,
        seed=20261205,
        n_campaigns=n_campaigns,
        n_adsets=n_adsets,
        ads_per_adset=ADS_PER_ADSET,
        daily_spend_range=(5_000.0, 20_000.0),
        today=today,
        history_days=31,
        account_external_id=BENCH_ACCOUNTS[platform],
    )


def bench_sync(
    platform: PlatformName, *, n_ads: int = 1000, latency_ms: float = 50.0, repeats: int = 1
) -> dict[str, Any]:
    """Median wall time of `fetch_snapshot` over the last 30 complete days, and its requests."""
    today = dt.datetime.now(dt.UTC).date()
    since, until = today - dt.timedelta(days=30), today - dt.timedelta(days=1)
    account_id = BENCH_ACCOUNTS[platform]
    world = FakeWorld(platform)
    world.add_market(account_id, bench_account(platform, n_ads, today))
    timings: list[float] = []
    requests: list[int] = []
    with running_fake(world, latency_sec=latency_ms / 1000.0) as fake:
        settings = Settings(**fake.settings_overrides())  # type: ignore[arg-type]
        live = LiveAccount(platform, account_id, fake.credentials_for(account_id))
        snapshot = None
        for _ in range(repeats):
            world.reset_calls()
            adapter = open_live(settings, live)
            start = time.perf_counter()
            snapshot = adapter.fetch_snapshot(since, until)
            timings.append(time.perf_counter() - start)
            requests.append(len(world.calls))
        minimum = fake_module(platform).minimum_sync_calls(world, account_id, since, until)
    assert snapshot is not None
    return {
        "platform": platform,
        "ads": len(snapshot.ads),
        "metricRows": len(snapshot.metrics),
        "days": (until - since).days + 1,
        "latencyMs": latency_ms,
        "medianSec": round(statistics.median(timings), 3),
        "requests": int(statistics.median(requests)),
        "minimumRequests": minimum,
    }
