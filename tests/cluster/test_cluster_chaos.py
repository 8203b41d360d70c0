"""A PostgreSQL cluster of one API process and two workers, each SIGKILLed at random moments and
restarted while runs and approvals go through it: nothing is lost, nothing is sent twice, nothing
is left approved, and the API process executes no workflow."""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from adpilot.platforms.registry import DbSandboxStore
from adpilot.platforms.sandbox import writelog
from tests.cluster.support import Harness, PatientApi, harness, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# Each org brings three layers (Meta, TikTok, Apple), so one optimizer run per layer and about a
# dozen approvals per Meta run. ADPILOT_CLUSTER_TEST_ORGS scales it up (34 orgs: 102 runs).
ORGS = int(os.environ.get("ADPILOT_CLUSTER_TEST_ORGS", "8"))
WORKERS = ("worker-a", "worker-b")
AUTO = {"defaults": {"creative": "auto", "tactical": "auto", "structural": "auto"}}


class Chaos:
    """Kills the API or a worker with SIGKILL at a random moment, restarts it, again and again;
    every process is a victim in turn (in a random order each round)."""

    def __init__(self, h: Harness, seed: int) -> None:
        self.h = h
        self.random = random.Random(seed)
        self.kills: dict[str, int] = {"api": 0, **{w: 0 for w in WORKERS}}
        self.stop_event = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop_event.is_set():
                victims = list(self.kills)
                self.random.shuffle(victims)
                for victim in victims:
                    if self.stop_event.wait(self.random.uniform(1.0, 4.0)):
                        return
                    self.h.cluster.kill(victim)
                    self.kills[victim] += 1
                    time.sleep(self.random.uniform(0.2, 2.0))
                    self._start(victim)
        except BaseException as exc:  # surfaced by the test, not lost in a thread
            self.failure = exc

    def _start(self, name: str) -> None:
        if name == "api":
            self.h.cluster.start_api()
        else:
            self.h.cluster.start_worker(name)

    def __enter__(self) -> Chaos:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(60)
        for name in self.kills:
            if not self.h.cluster.alive(name):
                self.h.cluster.procs.pop(name, None)
                self._start(name)


def _trigger(api: PatientApi, boot: dict[str, Any], platform: str) -> str:
    answer = api.call(
        "POST",
        f"/v1/projects/{boot['projectId']}/ads/optimizer/run",
        json={"layerId": boot["layers"][platform], "platform": platform},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["runId"])


def test_runs_and_approvals_survive_every_process_being_killed(tmp_path: Path) -> None:
    with harness("chaos", tmp_path) as h:
        boots = h.bootstrap(ORGS)
        for name in WORKERS:
            h.cluster.start_worker(name)
        h.cluster.start_api()
        base = h.cluster.base_url
        for n, boot in enumerate(boots):
            if n % 2:  # half the orgs let Meta changes go out on their own, inside the run
                customer = PatientApi(base, boot["customerKey"])
                path = f"/v1/projects/{boot['projectId']}/ads/meta/defaults"
                assert customer.call("PATCH", path, json=AUTO).status_code == 200

        with Chaos(h, seed=ORGS) as chaos:
            jobs = [
                (boot, platform)
                for boot in boots
                for platform in ("meta_ads", "tiktok_ads", "apple_ads")
            ]
            with ThreadPoolExecutor(8) as pool:
                run_ids = list(
                    pool.map(lambda j: _trigger(PatientApi(base, j[0]["partnerKey"]), *j), jobs)
                )

            def runs_finished() -> bool:
                left = h.scalars("SELECT count(*) FROM optimizer_runs WHERE status = 'running'")
                return left[0] == 0

            wait_for(runs_finished, 600, "every run to finish")
            listed = h.rows(
                "SELECT p.id, p.project_id, p.platform FROM pending_actions p "
                "WHERE p.status = 'pending'"
            )
            keys = {boot["projectId"]: boot["customerKey"] for boot in boots}
            short = {"meta_ads": "meta", "tiktok_ads": "tiktok", "apple_ads": "apple"}

            def approve(row: Any) -> int:
                pending_id, project_id, platform = row
                api = PatientApi(base, keys[project_id])
                path = f"/v1/projects/{project_id}/ads/{short.get(platform, platform)}/pending"
                return api.call("POST", f"{path}/{pending_id}/approve", json={}).status_code

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(approve, listed))
            assert codes == [200] * len(listed)

            def none_left_approved() -> bool:
                left = h.scalars("SELECT count(*) FROM pending_actions WHERE status = 'approved'")
                return left[0] == 0

            wait_for(none_left_approved, 600, "every approval to be dispatched")
        assert chaos.failure is None, chaos.failure
        assert all(count >= 1 for count in chaos.kills.values()), chaos.kills

        statuses = h.scalars("SELECT status FROM optimizer_runs")
        assert len(statuses) == len(run_ids) == 3 * ORGS
        assert set(statuses) == {"completed"}
        settled = h.rows("SELECT id, status, ad_account_id FROM pending_actions")
        assert {status for _, status, _ in settled} <= {
            "dispatched",
            "dispatch_failed",
            "pending",  # listed by a run that finished after the list was read: never approved
        }
        approved_ids = {row[0] for row in listed}
        assert all(status != "pending" for pid, status, _ in settled if pid in approved_ids)

        store = DbSandboxStore(h.factory)
        logs: dict[str, dict[str, Any]] = {}
        for pending_id, status, account_id in settled:
            if account_id not in logs:
                with store.transaction(account_id) as state:
                    logs[account_id] = dict(state)
            log = logs[account_id]
            # Each action reached the platform at most once; each dispatched one exactly once.
            assert writelog.write_count(log, pending_id) <= 1, pending_id
            assert writelog.applied_count(log, pending_id) == (status == "dispatched"), pending_id

        executors = h.rows(
            "SELECT executor_id, count(*) FROM dbos.workflow_status GROUP BY executor_id"
        )
        # Every workflow ran on a worker: the API process executed none.
        assert {executor for executor, _ in executors} <= set(WORKERS), executors
        print(f"\n{len(run_ids)} runs, {len(listed)} approvals, kills {chaos.kills}")
