"""Dashboard pages over a real optimizer run: queue, approve/reject, run page, campaign charts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from adpilot.auth import service as auth_service
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.entities.models import Ad, AdDailyMetric
from adpilot.kit.clock import utcnow
from adpilot.pending.models import PendingAction
from adpilot.pending.workflows import dispatch_workflow_id
from tests.api.test_dashboard_support import (
    api_row,
    form_value,
    pending_url,
    queued_ids,
    sign_in,
)
from tests.api.test_dashboard_support import run as run  # a fixture, re-exported
from tests.conftest import Api


def test_the_pending_page_lists_the_rows_a_run_queued(
    client: TestClient, boot: dict[str, Any], partner: Api, run: dict[str, Any]
) -> None:
    sign_in(client, boot["customerKey"])
    page = client.get(pending_url(boot))
    assert page.status_code == 200
    api_rows = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/meta/pending", params={"limit": 200}
    ).json()["items"]
    assert {r["pendingId"] for r in api_rows} == set(queued_ids(run))
    for row in api_rows:
        assert f'id="{row["pendingId"]}"' in page.text
        assert str(escape(row["summary"])) in page.text
    for verb in ("approve", "reject"):
        assert page.text.count(f'/{verb}" class="decide-form"') == len(api_rows)
    # The overview's badge counts the same rows.
    overview = client.get(f"/app/projects/{boot['projectId']}")
    assert f"{len(api_rows)} pending" in overview.text


def test_approving_from_the_dashboard_dispatches_the_row(
    client: TestClient, boot: dict[str, Any], partner: Api, run: dict[str, Any], job_runtime: Any
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=pending_url(boot))
    pending_id = queued_ids(run)[0]
    done = client.post(
        f"{pending_url(boot)}/{pending_id}/approve",
        data={"csrf": form_value(page.text, "csrf"), "comment": "looks right"},
    )
    assert done.status_code == 200
    assert "Approved. The change is being sent to Meta." in done.text
    job_runtime.wait(dispatch_workflow_id(pending_id), timeout=60)
    row = api_row(partner, boot, pending_id)
    assert row["status"] == "dispatched", row["dispatchFailureReason"]
    assert row["comment"] == "looks right"
    assert row["decidedBy"]["actorType"] == "customer"
    # Deciding it again is refused with words, not an error envelope.
    again = client.post(
        f"{pending_url(boot)}/{pending_id}/reject",
        data={"csrf": form_value(page.text, "csrf"), "reason": "too late"},
    )
    assert again.status_code == 200
    assert "already decided: it is dispatched" in again.text
    shown = client.get(f"{pending_url(boot)}?status=dispatched")
    assert f'id="{pending_id}"' in shown.text


def test_rejecting_requires_a_reason(
    client: TestClient, boot: dict[str, Any], partner: Api, run: dict[str, Any]
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=pending_url(boot))
    csrf = form_value(page.text, "csrf")
    pending_id = queued_ids(run)[0]
    url = f"{pending_url(boot)}/{pending_id}/reject"
    for blank in ("", "   "):
        refused = client.post(url, data={"csrf": csrf, "reason": blank})
        assert "A reason is required to reject" in refused.text
        assert api_row(partner, boot, pending_id)["status"] == "pending"
    done = client.post(url, data={"csrf": csrf, "reason": "brand campaign, keep it"})
    assert "Rejected with the reason" in done.text
    row = api_row(partner, boot, pending_id)
    assert row["status"] == "rejected" and row["rejectionReason"] == "brand campaign, keep it"


def test_a_decision_without_the_csrf_token_is_refused(
    client: TestClient, boot: dict[str, Any], partner: Api, run: dict[str, Any]
) -> None:
    sign_in(client, boot["customerKey"])
    pending_id = queued_ids(run)[0]
    base = f"{pending_url(boot)}/{pending_id}"
    assert client.post(f"{base}/approve", data={}).status_code == 403
    assert client.post(f"{base}/approve", data={"csrf": "forged"}).status_code == 403
    assert client.post(f"{base}/reject", data={"reason": "x"}).status_code == 403
    assert api_row(partner, boot, pending_id)["status"] == "pending"


def test_the_run_page_shows_every_change(
    client: TestClient, boot: dict[str, Any], run: dict[str, Any]
) -> None:
    sign_in(client, boot["customerKey"])
    page = client.get(f"/app/projects/{boot['projectId']}/runs/{run['runId']}")
    assert page.status_code == 200
    assert run["changes"]
    for change in run["changes"]:
        assert str(escape(change["summary"])) in page.text
        if change["reason"]:
            assert str(escape(change["reason"])) in page.text
    for pending_id in queued_ids(run):
        assert f"{pending_url(boot)}/{pending_id}" in page.text
    assert page.text.count('class="change o-') == len(run["changes"])
    # The layer page lists the run.
    layer = client.get(f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}")
    assert f"/runs/{run['runId']}" in layer.text
    assert "Write classes" in layer.text and "Kill switch off" in layer.text


def _series_points(html: str, series: str) -> dict[str, int]:
    svg = re.search(rf'<svg[^>]*data-series="{series}".*?</svg>', html, re.S)
    assert svg is not None, f"no {series} chart"
    pairs = re.findall(r'data-date="([\d-]+)" data-value="(\d+)"', svg.group(0))
    return {day: int(value) for day, value in pairs}


def test_the_campaign_chart_plots_the_stored_metrics(
    client: TestClient,
    boot: dict[str, Any],
    partner: Api,
    run: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    campaigns = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/campaigns", params={"platforms": "meta_ads"}
    ).json()["items"]
    campaign_id = campaigns[0]["campaignId"]
    with session_factory() as session:
        stored = {
            day.isoformat(): (int(spend), int(conversions))
            for day, spend, conversions in session.execute(
                select(
                    AdDailyMetric.date,
                    func.sum(AdDailyMetric.spend_cents),
                    func.sum(AdDailyMetric.conversions),
                )
                .join(Ad, Ad.id == AdDailyMetric.ad_id)
                .where(Ad.campaign_id == campaign_id)
                .group_by(AdDailyMetric.date)
            )
        }
    assert stored
    sign_in(client, boot["customerKey"])
    page = client.get(f"/app/projects/{boot['projectId']}/campaigns/{campaign_id}")
    assert page.status_code == 200
    spend = _series_points(page.text, "spend")
    assert len(spend) == 30
    shown_days = [day for day in spend if day in stored]
    assert shown_days
    for day in shown_days:
        assert spend[day] == stored[day][0]
    cpa = _series_points(page.text, "cpa")
    for day, (cents, conversions) in stored.items():
        if day in spend and conversions:
            assert cpa[day] == round(cents / conversions)
    # Nothing on the page is fetched from anywhere but this app.
    for ref in re.findall(r'(?:src|href)="([^"]*)"', page.text):
        assert ref.startswith(("/", "#")), ref


def test_an_expired_row_is_refused_with_words(
    client: TestClient,
    boot: dict[str, Any],
    partner: Api,
    run: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=pending_url(boot))
    csrf = form_value(page.text, "csrf")
    pending_id = queued_ids(run)[0]
    with transaction(session_factory) as session:
        session.execute(
            update(PendingAction)
            .where(PendingAction.id == pending_id)
            .values(expires_at=utcnow() - dt.timedelta(minutes=1))
        )
    done = client.post(f"{pending_url(boot)}/{pending_id}/approve", data={"csrf": csrf})
    assert done.status_code == 200
    assert "expired before a decision" in done.text
    row = api_row(partner, boot, pending_id)
    assert row["status"] == "rejected" and row["rejectionReason"] == "expired"


def test_a_read_only_key_sees_pages_but_cannot_decide(
    client: TestClient,
    boot: dict[str, Any],
    partner: Api,
    run: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        issued = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=boot["organizationId"],
            scopes=["ads:read"],
            actor_type="customer",
        )
    page = sign_in(client, issued.key, next_path=pending_url(boot))
    assert page.status_code == 200
    pending_id = queued_ids(run)[0]
    refused = client.post(
        f"{pending_url(boot)}/{pending_id}/approve", data={"csrf": form_value(page.text, "csrf")}
    )
    assert refused.status_code == 403 and "ads:write:pending" in refused.text
    assert api_row(partner, boot, pending_id)["status"] == "pending"


def test_the_layer_page_shows_the_layers_goal(
    client: TestClient, partner: Api, boot: dict[str, Any]
) -> None:
    sign_in(client, boot["customerKey"])
    path = f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}"
    assert "Target CPA — pool average (30 days)" in client.get(path).text
    layer = f"/v1/layers/{boot['layers']['meta_ads']}"
    partner.patch(layer, json={"goal": {"type": "conversion_value", "valueCents": 4500}})
    assert "Conversion value — $45.00 a conversion" in client.get(path).text
    partner.patch(layer, json={"targetCpaCents": 3800})
    assert "Target CPA — $38.00" in client.get(path).text
