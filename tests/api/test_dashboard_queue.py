"""The queue in bulk: filters, deciding many rows at once (each its own verdict), and the live
run page that follows what became of each change."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

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


def audit_events(api: Api, event_type: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(
        "/v1/audit-log", params={"eventType": event_type, "limit": 200}
    ).json()["items"]
    return items


def test_ticked_rows_are_approved_together_each_with_its_own_verdict(
    client: TestClient, boot: dict[str, Any], partner: Api, run: dict[str, Any], job_runtime: Any
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=pending_url(boot))
    chosen = queued_ids(run)[:3]
    done = client.post(
        f"{pending_url(boot)}/bulk",
        data={
            "csrf": form_value(page.text, "csrf"),
            "verb": "approve",
            "scope": "selected",
            "ids": chosen,
            "text": "weekly review",
        },
    )
    assert "Approved 3 actions. They are being sent to Meta." in done.text
    for pending_id in chosen:
        job_runtime.wait(dispatch_workflow_id(pending_id), timeout=60)
        row = api_row(partner, boot, pending_id)
        assert row["status"] == "dispatched", row["dispatchFailureReason"]
        assert row["comment"] == "weekly review"
    approved = audit_events(partner, "pending.approved")
    assert sorted(e["data"]["pendingId"] for e in approved) == sorted(chosen)
    rest = queued_ids(run)[3:]
    assert all(api_row(partner, boot, p)["status"] == "pending" for p in rest)


def test_rejecting_in_bulk_needs_a_reason_and_changes_nothing_without_one(
    client: TestClient, boot: dict[str, Any], partner: Api, run: dict[str, Any]
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=pending_url(boot))
    chosen = queued_ids(run)[:2]
    form = {"csrf": form_value(page.text, "csrf"), "verb": "reject", "scope": "selected"}
    refused = client.post(f"{pending_url(boot)}/bulk", data={**form, "ids": chosen, "text": ""})
    assert "A reason is required to reject" in refused.text
    assert all(api_row(partner, boot, p)["status"] == "pending" for p in chosen)
    nothing = client.post(f"{pending_url(boot)}/bulk", data={**form, "text": "no"})
    assert "Select at least one pending action first." in nothing.text


def test_all_that_match_a_filter_are_rejected_and_nothing_else(
    client: TestClient, boot: dict[str, Any], partner: Api, run: dict[str, Any]
) -> None:
    queued = [c for c in run["changes"] if c["outcome"] == "queued"]
    kinds = {c["actionType"] for c in queued}
    kind = sorted(kinds)[0]
    matching = {c["pendingId"] for c in queued if c["actionType"] == kind}
    page = sign_in(client, boot["customerKey"], next_path=pending_url(boot))
    filtered = client.get(pending_url(boot), params={"status": "pending", "action_type": kind})
    assert filtered.text.count('name="ids"') == len(matching)
    assert f"All {len(matching)} pending that match these filters" in filtered.text
    done = client.post(
        f"{pending_url(boot)}/bulk",
        data={
            "csrf": form_value(page.text, "csrf"),
            "verb": "reject",
            "scope": "matching",
            "action_type": kind,
            "text": "not this week",
        },
    )
    assert f"Rejected {len(matching)} action" in done.text
    for change in queued:
        row = api_row(partner, boot, change["pendingId"])
        if change["pendingId"] in matching:
            assert row["status"] == "rejected" and row["rejectionReason"] == "not this week"
        else:
            assert row["status"] == "pending"
    assert len(audit_events(partner, "pending.rejected")) == len(matching)


def test_the_confidence_and_campaign_filters_narrow_the_queue(
    client: TestClient,
    boot: dict[str, Any],
    partner: Api,
    run: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    sign_in(client, boot["customerKey"])
    rows = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/meta/pending", params={"limit": 200}
    ).json()["items"]
    confident = [r for r in rows if r["confidence"] >= 0.8]
    page = client.get(pending_url(boot), params={"status": "pending", "min_confidence": "80"})
    assert page.text.count('name="ids"') == len(confident)
    with session_factory() as session:
        found = session.execute(select(PendingAction.id, PendingAction.campaign_id)).all()
    campaign_of = {pending_id: campaign for pending_id, campaign in found}
    campaign_id = next(c for c in campaign_of.values() if c)
    of_campaign = [r for r in rows if campaign_of[r["pendingId"]] == campaign_id]
    page = client.get(pending_url(boot), params={"status": "pending", "campaign": campaign_id})
    assert page.text.count('name="ids"') == len(of_campaign)


def test_the_run_page_shows_what_became_of_each_change(
    client: TestClient, boot: dict[str, Any], partner: Api, run: dict[str, Any], job_runtime: Any
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=pending_url(boot))
    first, second = queued_ids(run)[:2]
    csrf = form_value(page.text, "csrf")
    client.post(f"{pending_url(boot)}/{first}/approve", data={"csrf": csrf})
    client.post(f"{pending_url(boot)}/{second}/reject", data={"csrf": csrf, "reason": "no"})
    job_runtime.wait(dispatch_workflow_id(first), timeout=60)
    shown = client.get(f"/app/projects/{boot['projectId']}/runs/{run['runId']}").text
    assert 'data-state="dispatched"' in shown and 'data-state="rejected"' in shown
    assert shown.count('data-state="pending"') == len(queued_ids(run)) - 2
    assert ">Sent<" in shown and ">Rejected<" in shown and ">Awaiting approval<" in shown
    # Nothing is on its way; rows still wait for a decision, so the page checks back slowly.
    assert 'hx-trigger="every 10s"' in shown
    client.post(
        f"{pending_url(boot)}/bulk",
        data={"csrf": csrf, "verb": "reject", "scope": "matching", "text": "later"},
    )
    settled = client.get(f"/app/projects/{boot['projectId']}/runs/{run['runId']}").text
    assert 'data-live="off"' in settled and "hx-trigger" not in settled


def test_creative_changes_name_the_creative_not_its_library_id(
    client: TestClient, boot: dict[str, Any], partner: Api, run: dict[str, Any]
) -> None:
    creative = [
        c for c in run["changes"] if "adsContentId" in {**c["currentValue"], **c["newValue"]}
    ]
    assert creative, "the bootstrap account's first run proposes creative changes"
    sign_in(client, boot["customerKey"])
    library = partner.get(
        f"/v1/projects/{boot['projectId']}/ads-content", params={"limit": 200}
    ).json()["items"]
    names = {c["adsContentId"]: c["name"] for c in library}
    for page in (
        client.get(pending_url(boot), params={"status": "all"}).text,
        client.get(f"/app/projects/{boot['projectId']}/runs/{run['runId']}").text,
    ):
        values = re.findall(r'<p class="values small">([^<]*)</p>', page)
        assert values and not any("adc_" in v for v in values)
        shown = {c["newValue"]["adsContentId"] for c in creative if "adsContentId" in c["newValue"]}
        for content_id in shown:
            assert str(escape(names[content_id])) in page


def test_a_rejected_row_no_longer_says_it_will_be_sent(
    client: TestClient, boot: dict[str, Any], run: dict[str, Any]
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=pending_url(boot))
    pending_id = queued_ids(run)[0]
    row_url = f"{pending_url(boot)}/{pending_id}"
    assert "will be sent to Meta if this is approved" in client.get(row_url).text
    client.post(f"{row_url}/reject", data={"csrf": form_value(page.text, "csrf"), "reason": "no"})
    rejected = client.get(row_url).text
    assert "Rejected: this will never be sent to Meta." in rejected
    assert "when approved" not in rejected and "if this is approved" not in rejected


def test_a_dry_run_is_badged_on_the_project_card(
    client: TestClient, boot: dict[str, Any], partner: Api, job_runtime: Any
) -> None:
    response = partner.post(
        f"/v1/projects/{boot['projectId']}/ads/optimizer/run",
        json={"layerId": boot["layers"]["meta_ads"], "platform": "meta_ads", "dryRun": True},
    )
    job_runtime.wait(response.json()["runId"], timeout=60)
    sign_in(client, boot["customerKey"])
    card = client.get(f"/app/projects/{boot['projectId']}").text
    meta = card[card.index(boot["layers"]["meta_ads"]) :]
    last_run = meta[meta.index('class="last-run"') :]
    assert 'class="badge b-dry_run">dry run<' in last_run[: last_run.index("</div>")]
