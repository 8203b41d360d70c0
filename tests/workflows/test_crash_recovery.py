"""Kill the server (SIGKILL) in the middle of a run; on restart the run finishes and no platform
write was sent twice. Runs `adpilot serve` as a real process on its own embedded database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from adpilot.db import make_engine, make_session_factory
from adpilot.pending.models import PendingAction
from adpilot.platforms.registry import DbSandboxStore
from adpilot.platforms.sandbox import faults, writelog

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADPILOT_")}
    env.update(
        {
            "ADPILOT_VAR_DIR": str(var_dir),
            "ADPILOT_QUEUE_POLL_INTERVAL_SEC": "0.05",
            # Long enough retry pauses that the kill lands while writes are still going out.
            "ADPILOT_DISPATCH_RETRY_DELAYS": "[1.5, 1.5, 1.5, 1.5]",
        }
    )
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "adpilot.cli", *args]


class Server:
    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            _cli("serve", "--port", str(self.port)),
            env=_env(self.var_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    yield srv
    if srv.proc is not None:
        srv.kill()


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_mid_dispatch_the_run_finishes_and_sends_nothing_twice(server: Server) -> None:
    boot = json.loads(
        subprocess.run(
            _cli("bootstrap", "--json"),
            env=_env(server.var_dir),
            check=True,
            capture_output=True,
        ).stdout
    )
    server.start()
    partner = {"Authorization": f"Bearer {boot['partnerKey']}"}
    customer = {"Authorization": f"Bearer {boot['customerKey']}"}
    project, layer = boot["projectId"], boot["layers"]["meta_ads"]
    auto = {"defaults": {"creative": "auto", "tactical": "auto", "structural": "auto"}}
    patched = httpx.patch(
        f"{server.base}/v1/projects/{project}/ads/meta/defaults", json=auto, headers=customer
    )
    assert patched.status_code == 200, patched.text

    factory = make_session_factory(make_engine(f"sqlite:///{server.var_dir}/adpilot.sqlite"))
    with factory() as session:
        from adpilot.layers.models import AdAccount

        account_id = session.scalars(select(AdAccount.id).where(AdAccount.layer_id == layer)).one()
    store = DbSandboxStore(factory)
    # The first writes fail transiently (the dispatch retries after a pause), and one write is
    # applied by the platform but its answer is lost: the classic double-send trap.
    faults.inject_fault(store, account_id, "lost_response", 1)
    faults.inject_fault(store, account_id, "transient", 2)

    envelope = httpx.post(
        f"{server.base}/v1/projects/{project}/ads/optimizer/run",
        json={"layerId": layer, "platform": "meta_ads"},
        headers=partner,
    )
    assert envelope.status_code == 202, envelope.text
    run_url = server.base + envelope.json()["runUrl"]

    def dispatching() -> bool:
        return bool(httpx.get(run_url, headers=partner).json()["stage"] == "dispatching")

    _wait_for(dispatching, 60, "the run to start dispatching")
    time.sleep(0.5)  # inside the first retry pause
    server.kill()
    with factory() as session:
        in_flight = session.scalars(
            select(PendingAction).where(PendingAction.run_id == envelope.json()["runId"])
        ).all()
        assert in_flight, "the run had created its actions before the kill"
        assert any(row.status == "approved" for row in in_flight), "killed before all were sent"

    server.start()

    def finished() -> dict[str, Any] | None:
        run = httpx.get(run_url, headers=partner).json()
        return run if run["status"] != "running" else None

    run = _wait_for(finished, 90, "the recovered run to finish")
    assert run["status"] == "completed", run["error"]
    assert run["stage"] == "done"
    assert run["summary"]["dispatched"] >= 1
    with factory() as session:
        rows = session.scalars(
            select(PendingAction).where(PendingAction.run_id == run["runId"])
        ).all()
    sent = [row for row in rows if row.status == "dispatched"]
    assert len(sent) == run["summary"]["dispatched"]
    with store.transaction(account_id) as state:
        log = dict(state)
    for row in rows:
        # Every action reached the platform at most once, and each dispatched one exactly once.
        assert writelog.applied_count(log, row.id) == (1 if row.status == "dispatched" else 0)
        assert writelog.write_count(log, row.id) <= 1
    assert all(row.status in ("dispatched", "dispatch_failed") for row in rows)
