"""A dispatch over a platform limit adpilot counts is deferred, never sent to be refused."""

from __future__ import annotations

from typing import Any

from adpilot.deps import AppContext
from adpilot.fakes.server import RunningFake
from adpilot.pending.workflows import attempt_dispatch
from adpilot.platforms.base import WriteRequest
from adpilot.platforms.http import HttpOptions
from adpilot.platforms.registry import LiveAccount, open_live
from adpilot.sim import reports
from tests.conftest import Api
from tests.helpers_pending import add_action, get_row, set_row
from tests.platforms import meta_support
from tests.platforms.live_api import connect_live


def test_a_fifth_budget_change_in_an_hour_is_deferred_with_its_reason_not_sent(
    ctx: AppContext, partner: Api, boot: dict[str, Any], fake_platforms: dict[str, RunningFake]
) -> None:
    meta = fake_platforms["meta"]
    account = meta_support.new_account()
    credentials = meta.credentials_for(account)
    connected = connect_live(partner, boot["projectId"], "meta", account, credentials, replace=True)
    assert connected.status_code == 201, connected.text
    with meta.world.lock:
        adset = next(
            s.external_id
            for s in reports.adsets_data(meta.world.market(account))
            if s.daily_budget_cents
        )
    # Four changes by another worker of this deployment (the same shared count).
    other = open_live(
        ctx.settings,
        LiveAccount("meta", account, credentials),
        HttpOptions.from_settings(ctx.settings),
    )
    for step in range(4):
        cents = 10_000 + step * 100
        other.apply(
            WriteRequest(
                "update_budget", "adset", adset, {}, {"dailyBudgetCents": cents}, f"o{step}"
            )
        )
    live = other.read_state("adset", adset).daily_budget_cents
    pending_id = add_action(
        ctx.session_factory,
        boot["layers"]["meta_ads"],
        entity_type="adset",
        entity_external_id=adset,
        current={"dailyBudgetCents": live},
        new={"dailyBudgetCents": (live or 0) + 500},
    )
    set_row(ctx.session_factory, pending_id, status="approved")
    posts = len(meta_support.calls(meta.world, f"/{adset}", "POST"))

    outcome = attempt_dispatch(ctx.settings, ctx.session_factory, pending_id, 3)

    assert outcome["status"] == "approved" and outcome["deferred"] is True
    assert 3500 < outcome["retryInSec"] <= 3600
    assert "not sent" in outcome["reason"] and "budget changes" in outcome["reason"]
    # Waiting for the limit is not a failed attempt: even at the last step of the retry ladder
    # the row stays approved, and nothing reached Meta.
    assert get_row(ctx.session_factory, pending_id).status == "approved"
    assert len(meta_support.calls(meta.world, f"/{adset}", "POST")) == posts
    set_row(ctx.session_factory, pending_id, status="rejected")
