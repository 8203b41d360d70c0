"""A local distributed-mode cluster as child processes: migrate, API processes, workers.

Used by `adpilot cluster` (watch distributed mode work), the cluster tests and
`adpilot bench cluster`, which kill and restart its processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import make_url, text

from adpilot.db import make_engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database `url` names when it does not exist yet."""
    parsed = make_url(url)
    engine = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
            ).first()
            if not found:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        engine.dispose()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "adpilot.cli", *args]


@dataclass
class LocalCluster:
    """`env` carries the shared settings (database, Redis, secret); each worker gets its id."""

    env: Mapping[str, str]
    log_dir: Path | None = None
    api_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("ADPILOT_")}
        return {**base, "ADPILOT_MODE": "distributed", **self.env, **(extra or {})}

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """One CLI command against the cluster's database (migrate, bootstrap, workers list)."""
        return subprocess.run(cli(*args), env=self.process_env(), check=True, capture_output=True)

    def _spawn(self, name: str, args: list[str], extra: Mapping[str, str] | None = None) -> None:
        out: Any = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (kept for the process)
            self._logs.append(out)
        self.procs[name] = subprocess.Popen(
            cli(*args),
            env=self.process_env(extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_api(self, name: str = "api") -> None:
        self._spawn(name, ["api", "--host", "127.0.0.1", "--port", str(self.api_port)])
        self.wait_healthy()

    def start_worker(self, executor_id: str, extra: Mapping[str, str] | None = None) -> None:
        self._spawn(executor_id, ["worker"], {"ADPILOT_EXECUTOR_ID": executor_id, **(extra or {})})

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API at {self.base_url} did not become ready")

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to clean up, as when a machine dies."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)

    def stop(self, name: str, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit code."""
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(10)
        # uvicorn re-raises the SIGTERM it handled once its graceful shutdown is done.
        return 0 if code == -signal.SIGTERM and name.startswith("api") else code

    def stop_all(self) -> dict[str, int]:
        codes = {name: self.stop(name) for name in list(self.procs)}
        for log in self._logs:
            log.close()
        self._logs.clear()
        return codes
