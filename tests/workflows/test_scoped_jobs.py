"""Disable-underperforming and content-refresh: jobs of their own kinds over the engine's rules."""

from __future__ import annotations

from collections import Counter
from typing import Any

from adpilot import jobs
from tests.conftest import Api


def start(api: Api, boot: dict[str, Any], what: str, body: dict[str, Any]) -> dict[str, Any]:
    r = api.post(f"/v1/projects/{boot['projectId']}/ads/meta/{what}", json=body)
    assert r.status_code == 202, r.text
    return dict(r.json())


def finish(api: Api, runtime: jobs.JobRuntime, started: dict[str, Any]) -> dict[str, Any]:
    runtime.wait(started["runId"], timeout=180)
    return dict(api.get(started["runUrl"]).json())


def test_disable_underperforming_proposes_only_pauses_and_is_a_job_of_its_own_kind(
    partner: Api, boot: dict[str, Any], job_runtime: jobs.JobRuntime
) -> None:
    started = start(partner, boot, "disable-underperforming", {})
    assert started["kind"] == "ads_disable_underperforming"
    run = finish(partner, job_runtime, started)
    assert run["status"] == "completed", run
    kinds = {c["actionType"] for c in run["changes"]}
    assert kinds and kinds <= {"pause_ad", "pause_adset"}, kinds
    job = partner.get(started["locationUrl"]).json()
    assert job["kind"] == "ads_disable_underperforming" and job["status"] == "completed"
    # Queued under the default draft axes, approvable like any run's output.
    queued = [c for c in run["changes"] if c["outcome"] == "queued"]
    assert queued and all(c["pendingId"] for c in queued)


def test_content_refresh_proposes_only_creative_changes_within_the_cap_per_ad_set(
    partner: Api, boot: dict[str, Any], job_runtime: jobs.JobRuntime
) -> None:
    started = start(partner, boot, "content-refresh", {"maxNewCreatives": 1})
    assert started["kind"] == "ads_content_refresh"
    run = finish(partner, job_runtime, started)
    assert run["status"] == "completed", run
    kinds = {c["actionType"] for c in run["changes"]}
    assert kinds and kinds <= {"push_creative", "replace_creative", "prune_creative"}, kinds
    pushes = Counter(
        c["entityId"]
        for c in run["changes"]
        if c["actionType"] == "push_creative" and c["outcome"] != "held"
    )
    assert all(n <= 1 for n in pushes.values()), pushes


def test_a_refresh_asks_for_a_sane_cap(partner: Api, boot: dict[str, Any]) -> None:
    r = partner.post(
        f"/v1/projects/{boot['projectId']}/ads/meta/content-refresh", json={"maxNewCreatives": 0}
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"]["fields"][0]["field"] == "maxNewCreatives"
