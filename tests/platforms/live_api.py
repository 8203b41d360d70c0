"""Driving a live (fake-backed) account through the API the way partners do: connect, run,
list what the run queued, approve and wait for the dispatch. `platform` is the short name."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from adpilot import jobs
from adpilot.kit.platform_names import to_long
from adpilot.pending import workflows
from adpilot.syncs.models import EntitySync
from tests.conftest import Api


def connect_live(
    api: Api,
    project_id: str,
    platform: str,
    external_id: str,
    credentials: dict[str, Any],
    *,
    replace: bool = False,
) -> httpx.Response:
    body: dict[str, Any] = {
        "platform": to_long(platform),
        "externalId": external_id,
        "mode": "live",
        "credentials": credentials,
    }
    if replace:
        body["replace"] = True
    answer = api.post(f"/v1/projects/{project_id}/ads/ad-accounts", json=body)
    wait_for_syncs()
    return answer


def wait_for_syncs() -> None:
    """Let the sync a connect starts finish, so faults a test injects next meet its run."""
    try:
        runtime = jobs.runtime()
    except RuntimeError:
        return  # no job engine in this test: nothing was enqueued
    with runtime.session_factory() as session:
        running = session.scalars(select(EntitySync.id).where(EntitySync.status == "running")).all()
    for sync_id in running:
        runtime.wait(sync_id, timeout=120)


def run_to_end(
    api: Api, project_id: str, layer_id: str, platform: str, runtime: jobs.JobRuntime
) -> dict[str, Any]:
    """Trigger a run of the layer, wait for it, and return the run as the API shows it."""
    started = api.post(
        f"/v1/projects/{project_id}/ads/optimizer/run",
        json={"layerId": layer_id, "platform": to_long(platform)},
    )
    assert started.status_code == 202, started.text
    runtime.wait(started.json()["runId"], timeout=120)
    return dict(api.get(started.json()["runUrl"]).json())


def pending_of(api: Api, project_id: str, platform: str, run_id: str) -> list[dict[str, Any]]:
    answer = api.get(
        f"/v1/projects/{project_id}/ads/{platform}/pending",
        params={"runId": run_id, "limit": 200},
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def approve_and_wait(
    api: Api, project_id: str, platform: str, pending_id: str, runtime: jobs.JobRuntime
) -> dict[str, Any]:
    """Approve one pending action, wait for its dispatch, and return the row as it ends."""
    path = f"/v1/projects/{project_id}/ads/{platform}/pending/{pending_id}"
    approved = api.post(f"{path}/approve", json={})
    assert approved.status_code == 200, approved.text
    runtime.wait(workflows.dispatch_workflow_id(pending_id), timeout=90)
    return dict(api.get(path).json())
