"""A live Apple Ads account through adpilot's API: connect, run, approve, dispatch — against the
fake Apple Ads Platform API over loopback, with the real database and job engine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.config import Settings
from adpilot.fakes import apple as fake_apple
from adpilot.fakes.server import RunningFake
from adpilot.fakes.world import FakeWorld
from adpilot.layers.models import AdAccount
from tests.conftest import Api
from tests.platforms import live_api
from tests.platforms.apple_support import calls, mark, new_account_id, shared_fake
from tests.platforms.live_api import connect_live, pending_of


@pytest.fixture()
def fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


@pytest.fixture()
def world(fake: RunningFake) -> FakeWorld:
    return fake.world


def accounts_path(boot: dict[str, Any]) -> str:
    return f"/v1/projects/{boot['projectId']}/ads/ad-accounts"


def connect(
    api: Api,
    boot: dict[str, Any],
    fake: RunningFake,
    account: str | None = None,
    creds: dict[str, Any] | None = None,
) -> tuple[Any, str, dict[str, Any]]:
    account = account or new_account_id()
    creds = creds or fake.credentials_for(account)
    # The bootstrap project's Apple layer holds a sandbox account: replace it.
    answer = connect_live(api, boot["projectId"], "apple", account, creds, replace=True)
    return answer, account, creds


def run_to_end(api: Api, boot: dict[str, Any], job_runtime: Any) -> dict[str, Any]:
    layer_id = boot["layers"]["apple_ads"]
    return live_api.run_to_end(api, boot["projectId"], layer_id, "apple", job_runtime)


def approve_and_wait(
    api: Api, boot: dict[str, Any], job_runtime: Any, pending_id: str
) -> dict[str, Any]:
    return live_api.approve_and_wait(api, boot["projectId"], "apple", pending_id, job_runtime)


def apple_account_row(api: Api, boot: dict[str, Any]) -> dict[str, Any]:
    items = api.get(accounts_path(boot)).json()["items"]
    return next(a for a in items if a["platform"] == "apple_ads")


def live_rows(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        query = select(func.count()).select_from(AdAccount).where(AdAccount.mode == "live")
        return int(session.scalar(query) or 0)


# ------------------------------------------------------------------------------------ connect


def test_connecting_validates_with_one_read_and_never_shows_the_credentials(
    partner: Api,
    boot: dict[str, Any],
    fake: RunningFake,
    world: FakeWorld,
    session_factory: sessionmaker[Session],
) -> None:
    start = mark(world)
    response, account, creds = connect(partner, boot, fake)
    assert response.status_code == 201, response.text
    row = response.json()
    assert row["platform"] == "apple_ads" and row["externalId"] == account
    assert row["mode"] == "live" and row["tokenStatus"] == "valid"
    assert (row["currency"], row["timezone"]) == ("USD", "UTC")
    assert row["tokenLastValidatedAt"] is not None
    # A token, then one cheap read of the account (the sync the connect starts reads after).
    assert [(c.method, c.path) for c in calls(world, start)][:2] == [
        ("POST", "/auth/oauth2/token"),
        ("GET", f"/v1/ad-accounts/{account}"),
    ]
    listing = partner.get(accounts_path(boot))
    for text in (response.text, listing.text):
        assert "credentials" not in text and creds["clientId"] not in text
        assert "PRIVATE KEY" not in text
    assert apple_account_row(partner, boot)["adAccountId"] == row["adAccountId"]
    with session_factory() as session:
        stored = session.get(AdAccount, row["adAccountId"])
        assert stored is not None and stored.credentials_encrypted
        assert creds["keyId"].encode() not in bytes(stored.credentials_encrypted)


def test_refused_credentials_are_a_422_with_apples_code_and_store_nothing(
    partner: Api,
    boot: dict[str, Any],
    fake: RunningFake,
    world: FakeWorld,
    session_factory: sessionmaker[Session],
) -> None:
    before = apple_account_row(partner, boot)
    account = new_account_id()
    creds = fake.credentials_for(account)
    fake_apple.revoke_client(world, creds["clientId"])
    response, _, _ = connect(partner, boot, fake, account, creds)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "PLATFORM_REJECTED"
    assert error["details"]["platformCode"] == "invalid_client"
    # Credentials of another account: Apple forbids the read.
    response, _, _ = connect(partner, boot, fake, new_account_id(), fake.credentials_for(account))
    assert response.status_code == 422
    assert response.json()["error"]["details"]["platformCode"] == "forbidden"
    assert live_rows(session_factory) == 0
    assert apple_account_row(partner, boot) == before


def test_an_unreachable_platform_is_a_502(
    partner: Api,
    boot: dict[str, Any],
    fake: RunningFake,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: sessionmaker[Session],
) -> None:
    # Nothing listens on port 9 of loopback.
    monkeypatch.setattr(settings, "apple_base_url", "http://127.0.0.1:9")
    monkeypatch.setattr(settings, "apple_token_url", "http://127.0.0.1:9/auth/oauth2/token")
    response, _, _ = connect(partner, boot, fake)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "PLATFORM_ERROR"
    assert live_rows(session_factory) == 0


# ------------------------------------------------------------------------------------ runs


def test_a_run_on_a_live_account_proposes_and_an_approval_reaches_apple(
    partner: Api, boot: dict[str, Any], fake: RunningFake, world: FakeWorld, job_runtime: Any
) -> None:
    response, account, _ = connect(partner, boot, fake)
    assert response.status_code == 201, response.text
    run = run_to_end(partner, boot, job_runtime)
    assert run["status"] == "completed", run["error"]
    queued = {c["actionType"] for c in run["changes"] if c["outcome"] == "queued"}
    assert "update_budget" in queued and queued & {"pause_ad", "pause_adset"}, queued
    m = world.market(account)
    synced = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/campaigns", params={"platforms": "apple"}
    ).json()["items"]
    assert sorted(c["externalId"] for c in synced) == sorted(m.campaigns.id)

    pending = pending_of(partner, boot["projectId"], "apple", run["runId"])
    context = {"X-AP-Context": f"adAccountId={account}"}
    for row in pending:  # each shows the exact Apple request(s) it will send
        detail = row["proposedAction"]["detail"]
        for step in detail.get("steps", [detail]):
            assert step["headers"] == context and step["path"].startswith("/v1/")
        if row["actionType"] == "pause_ad":
            assert detail["method"] == "PUT" and detail["path"].startswith("/v1/ads/")
            assert detail["body"] == {"status": "PAUSED"}
        if row["actionType"] == "pause_adset":
            assert detail["path"].startswith("/v1/adgroups/")
    budget = next(p for p in pending if p["actionType"] == "update_budget")
    cents = budget["newValue"]["dailyBudgetCents"]
    campaign = budget["proposedAction"]["detail"]["path"].removeprefix("/v1/campaigns/")
    assert budget["proposedAction"]["detail"] == {
        "method": "PUT",
        "path": f"/v1/campaigns/{campaign}",
        "headers": context,
        "body": {
            "dailyBudget": {
                "value": {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": "USD"}
            }
        },
    }
    assert budget["currentValue"]["dailyBudgetCents"] == int(
        m.campaigns.budget[m.index_of("campaign", campaign)]
    )

    start = mark(world)
    row = approve_and_wait(partner, boot, job_runtime, budget["pendingId"])
    assert row["status"] == "dispatched", row["dispatchFailureReason"]
    assert int(m.campaigns.budget[m.index_of("campaign", campaign)]) == cents
    writes = [(c.method, c.path, c.status) for c in calls(world, start) if c.method == "PUT"]
    assert writes == [("PUT", f"/v1/campaigns/{campaign}", 200)]  # read first, then sent once


def test_a_refusal_by_apple_ends_in_dispatch_failed_with_its_code_and_message(
    partner: Api, boot: dict[str, Any], fake: RunningFake, world: FakeWorld, job_runtime: Any
) -> None:
    response, account, _ = connect(partner, boot, fake)
    assert response.status_code == 201, response.text
    run = run_to_end(partner, boot, job_runtime)
    assert run["status"] == "completed", run["error"]
    pause = next(
        p
        for p in pending_of(partner, boot["projectId"], "apple", run["runId"])
        if p["actionType"].startswith("pause_")
    )
    path = pause["proposedAction"]["detail"]["path"]
    world.inject(
        "validation",
        path=path,
        method="PUT",
        code="CAMPAIGN_BUDGET_EXHAUSTED",
        message="The campaign has no budget left today",
    )
    row = approve_and_wait(partner, boot, job_runtime, pause["pendingId"])
    assert row["status"] == "dispatch_failed"
    reason = row["dispatchFailureReason"]
    assert "The campaign has no budget left today [CAMPAIGN_BUDGET_EXHAUSTED]" in reason
    assert reason.endswith("(code VALIDATION_ERROR)")
    kind = "ad" if pause["actionType"] == "pause_ad" else "adset"
    entity = path.rsplit("/", 1)[1]
    assert world.market(account).status_of(kind, entity) == "active"  # nothing changed


@pytest.mark.parametrize("failure", ["revoked", "expired"])
def test_credentials_failing_mid_run_fail_the_run_and_mark_the_account(
    partner: Api,
    boot: dict[str, Any],
    fake: RunningFake,
    world: FakeWorld,
    job_runtime: Any,
    failure: str,
) -> None:
    response, _, creds = connect(partner, boot, fake)
    assert response.status_code == 201, response.text
    if failure == "revoked":
        fake_apple.revoke_client(world, creds["clientId"])
    else:
        # Apple refuses the token, and the fresh one too.
        world.inject("unauthorized", path="/v1/campaigns/query", count=2)
    run = run_to_end(partner, boot, job_runtime)
    assert run["status"] == "failed"
    assert run["error"]["code"] == "PLATFORM_AUTH_FAILED"
    expected = "invalid" if failure == "revoked" else "expired"
    assert apple_account_row(partner, boot)["tokenStatus"] == expected
