"""A sturdier platform edge: listings end when the platform says so, never on a short page, and
a refused breakdown report costs that breakdown only, not the sync."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.entities.models import Ad, AdDailyMetric, AdSetBreakdown
from adpilot.fakes.apple.state import state_of
from adpilot.fakes.meta.state import FakeConfig as MetaConfig
from adpilot.fakes.meta.state import meta_state
from adpilot.fakes.server import RunningFake
from adpilot.fakes.tiktok.state import fake_state as tiktok_state
from adpilot.fakes.world import FakeWorld
from adpilot.sim import reports
from tests.conftest import Api
from tests.platforms import apple_support, meta_support, tiktok_support
from tests.platforms.live_api import connect_live, run_to_end


@pytest.fixture()
def apple(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    fake = fake_platforms["apple"]
    state = state_of(fake.world)
    yield fake
    with fake.world.lock:
        state.page_cap, state.omit_total_count = None, False


@pytest.mark.parametrize("omit_total", [False, True], ids=["with totalCount", "without totalCount"])
def test_an_apple_server_capping_its_pages_still_yields_every_entity_and_all_spend(
    apple: RunningFake, omit_total: bool
) -> None:
    state = state_of(apple.world)
    with apple.world.lock:
        state.page_cap, state.omit_total_count = 2, omit_total
    account = apple_support.new_account_id()
    since, until = apple_support.window()
    snap = apple_support.adapter(apple, account).fetch_snapshot(since, until)
    truth = reports.snapshot(apple.world.market(account), since, until)
    assert len(truth.adsets) > 2  # more than one capped page
    assert sorted(a.external_id for a in snap.adsets) == sorted(a.external_id for a in truth.adsets)
    assert sorted(a.external_id for a in snap.ads) == sorted(a.external_id for a in truth.ads)
    assert len(snap.campaigns) == len(truth.campaigns)
    assert sum(m.spend_cents for m in snap.metrics) == sum(m.spend_cents for m in truth.metrics)


# --- refused breakdowns -------------------------------------------------------------------


def _refuse(world: FakeWorld, platform: str, refuse: bool) -> None:
    """Make the platform's fake refuse the country breakdown and the hour breakdown (or not)."""
    with world.lock:
        if platform == "meta":
            meta_state(world).config = MetaConfig(
                breakdowns=() if refuse else MetaConfig().breakdowns
            )
        elif platform == "tiktok":
            tiktok_state(world).config.refused_dimensions = (
                ("country_code", "stat_time_hour") if refuse else ()
            )
        else:
            state_of(world).refused_breakdowns = ("country", "hour") if refuse else ()


@pytest.fixture(params=["meta", "tiktok", "apple"])
def refusing(
    request: pytest.FixtureRequest, fake_platforms: dict[str, RunningFake]
) -> Iterator[tuple[str, RunningFake]]:
    platform = str(request.param)
    fake = fake_platforms[platform]
    _refuse(fake.world, platform, True)
    yield platform, fake
    _refuse(fake.world, platform, False)


ACCOUNT_IDS = {
    "meta": meta_support.new_account,
    "tiktok": tiktok_support.new_advertiser,
    "apple": apple_support.new_account_id,
}


def test_a_refused_breakdown_is_dropped_for_the_run_with_a_reason_and_the_sync_goes_on(
    refusing: tuple[str, RunningFake],
    partner: Api,
    boot: dict[str, Any],
    job_runtime: jobs.JobRuntime,
    session_factory: sessionmaker[Session],
) -> None:
    platform, fake = refusing
    account = ACCOUNT_IDS[platform]()
    answer = connect_live(
        partner, boot["projectId"], platform, account, fake.credentials_for(account), replace=True
    )
    assert answer.status_code == 201, answer.text
    layer_id = answer.json()["layerId"]
    run = run_to_end(partner, boot["projectId"], layer_id, platform, job_runtime)
    assert run["status"] == "completed", run
    syncing = next(s for s in run["stages"] if s["stage"] == "syncing")
    dropped = " | ".join(syncing.get("dropped") or [])
    assert "country breakdown refused by the platform" in dropped, syncing
    assert "hour breakdown refused by the platform" in dropped, syncing
    with session_factory() as session:
        ads = session.scalar(select(func.count()).select_from(Ad).where(Ad.layer_id == layer_id))
        spend = session.scalar(
            select(func.sum(AdDailyMetric.spend_cents)).where(AdDailyMetric.layer_id == layer_id)
        )
        split = session.scalar(
            select(func.count())
            .select_from(AdSetBreakdown)
            .where(AdSetBreakdown.layer_id == layer_id)
        )
    assert ads and spend and spend > 0
    assert split == 0
