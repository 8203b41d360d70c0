"""A sturdier platform edge: listings end when the platform says so, never on a short page, and
a refused breakdown report costs that breakdown only, not the sync."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adpilot.fakes.apple.state import state_of
from adpilot.fakes.server import RunningFake
from adpilot.sim import reports
from tests.platforms import apple_support


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
