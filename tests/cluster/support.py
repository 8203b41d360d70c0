"""Cluster tests' harness: a fresh PostgreSQL database per test, the cluster's processes, an HTTP
client that rides out an API process being killed, and reads of what ended up in the database."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session, sessionmaker

from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import make_engine, make_session_factory
from adpilot.workers.cluster import LocalCluster, ensure_database

CLUSTER_URL_ENV = "ADPILOT_TEST_CLUSTER_DATABASE_URL"
REDIS_URL_ENV = "ADPILOT_TEST_REDIS_URL"
SECRET = "cluster-test-secret"
# Fast enough that a run of the cluster tests waits on work, not on polling.
FAST = {
    "ADPILOT_QUEUE_POLL_INTERVAL_SEC": "0.1",
    "ADPILOT_WORKER_UPKEEP_INTERVAL_SEC": "0.5",
    "ADPILOT_LOST_WORK_GRACE_SEC": "1",
    "ADPILOT_MAINTENANCE_CRON": "off",
    "ADPILOT_DISPATCH_RETRY_DELAYS": "[0.5, 1, 1, 2]",
}


def fresh_database(name: str) -> str:
    """Drop and create `<cluster database>_<name>`; under CI an unreachable server fails."""
    base = os.environ[CLUSTER_URL_ENV]
    parsed = make_url(base)
    url = parsed.set(database=f"{parsed.database}_{name}").render_as_string(hide_password=False)
    try:
        ensure_database(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("DROP SCHEMA IF EXISTS dbos CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {base} is unreachable: {exc}")
    return url


def redis_url() -> str:
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        pytest.fail(f"{REDIS_URL_ENV} is not set: the cluster runs with Redis")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:
        pytest.fail(f"Redis at {url} is unreachable: {exc}")
    return url


@dataclass
class Harness:
    cluster: LocalCluster
    factory: sessionmaker[Session]
    settings: Settings

    def bootstrap(self, orgs: int) -> list[dict[str, Any]]:
        # One seed for all: the sandbox markets are built once and reused (the slow part).
        return [
            bootstrap_org(self.settings, self.factory, name=f"Agency client {n}", seed=20261207)
            for n in range(orgs)
        ]

    def scalars(self, sql: str, **params: Any) -> list[Any]:
        with self.factory() as session:
            return list(session.execute(text(sql), params).scalars())

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.factory() as session:
            return list(session.execute(text(sql), params).all())


@contextmanager
def harness(name: str, tmp_path: Path, **extra_env: str) -> Iterator[Harness]:
    url = fresh_database(name)
    env = {
        "ADPILOT_DATABASE_URL": url,
        "ADPILOT_REDIS_URL": redis_url(),
        "ADPILOT_RATE_LIMIT_KEY_PREFIX": f"cluster-test-{uuid.uuid4().hex[:8]}",
        "ADPILOT_SECRET_KEY": SECRET,
        **FAST,
        **extra_env,
    }
    cluster = LocalCluster(env, log_dir=tmp_path / "logs")
    cluster.run("migrate")
    settings = Settings(database_url=url, secret_key=SECRET, mode="distributed")
    engine = make_engine(url)
    try:
        yield Harness(cluster, make_session_factory(engine), settings)
    finally:
        cluster.stop_all()
        engine.dispose()


class PatientApi:
    """Calls the API the way a partner's retrying client does: a refused connection, a 5xx or a
    429 is tried again after a pause; POSTs carry an Idempotency-Key so a retry is safe."""

    def __init__(self, base_url: str, key: str, timeout: float = 120.0) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        self.timeout = timeout

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if method == "POST":
            kwargs.setdefault("headers", {})["Idempotency-Key"] = uuid.uuid4().hex
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                answer = self.http.request(method, path, **kwargs)
                if answer.status_code < 500 and answer.status_code != 429:
                    return answer
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path} kept failing for {self.timeout}s")
            time.sleep(0.2)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")
