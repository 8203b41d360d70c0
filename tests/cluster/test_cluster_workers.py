"""Worker identity and lost workers on a real cluster: a worker needs an id of its own, and the
work of a worker that never comes back is finished by another, after its lease or by hand."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from adpilot.workers.cluster import cli
from tests.cluster.support import Harness, PatientApi, harness, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

LEASE_SEC = 4


def _start_runs(h: Harness, orgs: int) -> None:
    for boot in h.bootstrap(orgs):
        api = PatientApi(h.cluster.base_url, boot["partnerKey"])
        for platform in ("meta_ads", "tiktok_ads", "apple_ads"):
            answer = api.call(
                "POST",
                f"/v1/projects/{boot['projectId']}/ads/optimizer/run",
                json={"layerId": boot["layers"][platform], "platform": platform},
            )
            assert answer.status_code == 202, answer.text


def _unfinished_of(h: Harness, executor_id: str) -> set[str]:
    return set(
        h.scalars(
            "SELECT workflow_uuid FROM dbos.workflow_status "
            "WHERE status = 'PENDING' AND executor_id = :e",
            e=executor_id,
        )
    )


def _kill_mid_work(h: Harness, executor_id: str) -> set[str]:
    """SIGKILL the worker while it holds unfinished workflows; returns them."""
    wait_for(lambda: _unfinished_of(h, executor_id), 120, f"{executor_id} to start work")
    h.cluster.kill(executor_id)
    held = _unfinished_of(h, executor_id)
    assert held, "the worker died holding work"
    return held


def _all_runs_completed(h: Harness) -> bool:
    return set(h.scalars("SELECT status FROM optimizer_runs")) == {"completed"}


def _finished_by(h: Harness, workflow_ids: set[str]) -> set[tuple[str, str]]:
    rows = h.rows(
        "SELECT status, executor_id FROM dbos.workflow_status WHERE workflow_uuid = ANY(:ids)",
        ids=list(workflow_ids),
    )
    return {(status, executor) for status, executor in rows}


def test_a_distributed_worker_refuses_to_start_without_an_id_of_its_own(tmp_path: Path) -> None:
    with harness("identity", tmp_path) as h:
        env = h.cluster.process_env({"ADPILOT_EXECUTOR_ID": ""})
        unnamed = subprocess.run(cli("worker"), env=env, capture_output=True, timeout=60)
        assert unnamed.returncode == 2
        assert b"ADPILOT_EXECUTOR_ID" in unnamed.stderr + unnamed.stdout

        h.cluster.start_worker("worker-a")
        wait_for(lambda: h.scalars("SELECT executor_id FROM worker_leases"), 60, "the lease")
        twin = subprocess.run(
            cli("worker"),
            env=h.cluster.process_env({"ADPILOT_EXECUTOR_ID": "worker-a"}),
            capture_output=True,
            timeout=60,
        )
        assert twin.returncode == 2
        assert b"in use by a live worker" in twin.stderr + twin.stdout
        assert h.cluster.alive("worker-a")


def test_a_worker_killed_for_good_has_its_work_finished_by_the_other_after_its_lease(
    tmp_path: Path,
) -> None:
    with harness("lease", tmp_path, ADPILOT_WORKER_LEASE_SEC=str(LEASE_SEC)) as h:
        h.cluster.start_worker("worker-a")
        h.cluster.start_api()
        _start_runs(h, orgs=3)
        held = _kill_mid_work(h, "worker-a")
        h.cluster.start_worker("worker-b")

        wait_for(lambda: _all_runs_completed(h), 300, "the runs to complete on worker-b")
        assert _finished_by(h, held) == {("SUCCESS", "worker-b")}
        [(by, taken_at, last_seen)] = h.rows(
            "SELECT taken_over_by, taken_over_at, heartbeat_at FROM worker_leases "
            "WHERE executor_id = 'worker-a'"
        )
        assert by == "worker-b"
        # Not before the lease ran out: a worker merely slow to renew keeps its work.
        assert taken_at - last_seen >= dt.timedelta(seconds=LEASE_SEC)


def test_an_operator_hands_a_lost_workers_work_to_the_live_ones(tmp_path: Path) -> None:
    # A lease far longer than the test: only the operator's command can move the work.
    with harness("operator", tmp_path, ADPILOT_WORKER_LEASE_SEC="3600") as h:
        h.cluster.start_worker("worker-a")
        h.cluster.start_api()
        _start_runs(h, orgs=3)
        held = _kill_mid_work(h, "worker-a")
        h.cluster.start_worker("worker-b")
        wait_for(
            lambda: "alive" in h.cluster.run("workers", "list").stdout.decode(), 60, "worker-b"
        )

        refused = subprocess.run(
            cli("workers", "take-over", "worker-b"),
            env=h.cluster.process_env(),
            capture_output=True,
        )
        assert refused.returncode == 2
        assert b"alive" in refused.stderr + refused.stdout
        assert _unfinished_of(h, "worker-a") == held, "nothing moves on its own within the lease"

        moved = h.cluster.run("workers", "take-over", "worker-a").stdout.decode()
        assert f"{len(held)} unfinished workflows of worker-a" in moved
        wait_for(lambda: _all_runs_completed(h), 300, "the runs to complete on worker-b")
        assert _finished_by(h, held) == {("SUCCESS", "worker-b")}
        listed = json.loads(h.cluster.run("workers", "list", "--json").stdout)
        states = {row["executorId"]: row["state"] for row in listed}
        assert states == {"worker-a": "taken over by operator", "worker-b": "alive"}


def test_adpilot_cluster_starts_an_api_and_two_workers_and_stops_them_cleanly(
    tmp_path: Path,
) -> None:
    import signal

    from adpilot.workers.cluster import free_port

    with harness("command", tmp_path) as h:
        port = free_port()
        env = h.cluster.process_env()
        command = subprocess.Popen(
            cli("cluster", "--port", str(port), "--log-dir", str(tmp_path / "cluster-logs")),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:

            def two_workers_alive() -> bool:
                try:  # the command may still be migrating
                    listed = json.loads(h.cluster.run("workers", "list", "--json").stdout)
                except subprocess.CalledProcessError:
                    return False
                return [row["state"] for row in listed] == ["alive", "alive"]

            wait_for(two_workers_alive, 300, "two live workers")
            h.cluster.api_port = port
            h.cluster.wait_healthy()
        finally:
            command.send_signal(signal.SIGINT)  # Ctrl-C
            output = command.communicate(timeout=120)[0].decode()
        assert command.returncode == 0, output
        stopped = [line for line in output.splitlines() if line.startswith("stopped ")]
        assert len(stopped) == 3 and all(line.endswith("(exit 0)") for line in stopped), output
        listed = json.loads(h.cluster.run("workers", "list", "--json").stdout)
        assert [row["state"] for row in listed] == ["stopped", "stopped"]
