"""The backtest job replays the engine over stored history and answers with an estimate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import time_machine

from tests.conftest import Api
from tests.workflows.test_runs import run_to_end


def test_a_backtest_job_replays_stored_history_and_answers_with_the_summary(
    partner: Api, boot: dict[str, Any], job_runtime: Any
) -> None:
    layer_id = boot["layers"]["meta_ads"]
    project = boot["projectId"]
    run_to_end(partner, boot, job_runtime, dryRun=True)
    # Three weeks later a second sync has added to the stored history: 51 days in all.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=21)
    with time_machine.travel(later, tick=True):
        run_to_end(partner, boot, job_runtime, dryRun=True)
        started = partner.post(
            f"/v1/projects/{project}/ads/optimizer/backtest", json={"layerId": layer_id}
        )
        assert started.status_code == 202, started.text
        envelope = started.json()
        assert envelope["kind"] == "ads_optimizer_backtest"
        assert envelope["locationUrl"] == f"/v1/jobs/{envelope['jobId']}"
        job_runtime.wait(envelope["backtestId"], timeout=120)
        job = partner.get(envelope["locationUrl"]).json()
    assert job["status"] == "completed" and job["progress"] == 1.0
    assert job["result"]["backtestUrl"] == envelope["backtestUrl"]
    body = partner.get(envelope["backtestUrl"]).json()
    summary = body["summary"]
    assert summary["estimate"] is True and summary["weeks"] == 12
    assert summary["weeksReplayed"] >= 3
    assert summary["changes"] > 0
    assert summary["changes"] == sum(len(w["proposals"]) for w in body["byWeek"])
    assert summary["judged"] == summary["right"] + summary["wrong"] > 0
    assert summary["sentence"].startswith(
        f"Over the last 12 weeks adpilot would have made {summary['changes']} changes; "
        f"of the {summary['judged']} we could judge, {summary['right']} were right; "
        "estimated effect"
    )
    assert "nothing was applied" in summary["sentence"]
    verdicts = {p["verdict"] for w in body["byWeek"] for p in w["proposals"]}
    assert verdicts <= {"right", "wrong", "inconclusive", "not_yet"}
    # The latest week's horizon has not matured: it is not judged yet, never guessed.
    last = [p["verdict"] for p in body["byWeek"][-1]["proposals"]]
    assert "not_yet" in last and not {"right", "wrong"} & set(last)


def test_backtest_input_errors_name_the_field(partner: Api, boot: dict[str, Any]) -> None:
    url = f"/v1/projects/{boot['projectId']}/ads/optimizer/backtest"
    bad = partner.post(url, json={"layerId": boot["layers"]["meta_ads"], "weeks": 13})
    assert bad.status_code == 422 and "weeks" in bad.text
    missing = partner.post(url, json={"layerId": "lyr_nope"})
    assert missing.status_code == 404
