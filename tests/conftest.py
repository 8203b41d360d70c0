"""Test harness: a real database (SQLite by default, PostgreSQL when ADPILOT_TEST_DATABASE_URL
points at one), the real job engine launched once per session, tables emptied between tests."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.app import create_app
from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import make_engine, make_session_factory
from adpilot.deps import AppContext
from adpilot.fakes.server import RunningFake, running_fake
from adpilot.fakes.world import FakeWorld
from adpilot.migrate import upgrade
from adpilot.models import Base
from adpilot.platforms.base import PlatformName

PG_URL_ENV = "ADPILOT_TEST_DATABASE_URL"
REDIS_URL_ENV = "ADPILOT_TEST_REDIS_URL"
CLUSTER_URL_ENV = "ADPILOT_TEST_CLUSTER_DATABASE_URL"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Redis-backed tests run when the Makefile says Redis is there (always under CI); otherwise
    they are deselected, the way the PostgreSQL pass is not run on a machine without PostgreSQL.
    Browser tests are deselected in the PostgreSQL pass."""
    skipped_markers = set()
    if not os.environ.get(REDIS_URL_ENV):
        skipped_markers.add("redis")
    # The browser tests check pages, not storage: they run in the SQLite pass only.
    if os.environ.get(PG_URL_ENV):
        skipped_markers.add("browser")
    # Cluster tests start real processes on a PostgreSQL database of their own: they run when
    # `make test-cluster` names one (always under CI).
    if not os.environ.get(CLUSTER_URL_ENV):
        skipped_markers.add("cluster")
    # Markers, not keywords: a keyword also matches a folder of the same name.
    deselected = [
        item for item in items if any(item.get_closest_marker(m) for m in skipped_markers)
    ]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


def _worker_database(url: str) -> str:
    """Each pytest-xdist worker gets its own PostgreSQL database (`<name>_gw0`, …)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base, _, name = url.rpartition("/")
    worker_name = f"{name}_{worker}"
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": worker_name}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{worker_name}"'))
    except Exception as exc:
        # Under CI the PostgreSQL pass must fail, never skip, when the server is unreachable.
        pytest.exit(f"PostgreSQL at {url} is unreachable: {exc}", returncode=3)
    finally:
        engine.dispose()
    return f"{base}/{worker_name}"


def _prepare_postgres(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("DROP SCHEMA IF EXISTS dbos CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    except Exception as exc:
        pytest.exit(f"PostgreSQL at {url} is unreachable: {exc}", returncode=3)
    finally:
        engine.dispose()


# Platforms whose live adapter tests run against a wire-format fake on loopback.
LIVE_FAKES: tuple[PlatformName, ...] = ("meta", "tiktok", "apple")


@pytest.fixture(scope="session")
def fake_platforms() -> Iterator[dict[str, RunningFake]]:
    """One fake server per platform, over real HTTP on loopback, for the whole session.

    adpilot's settings point at them, so live accounts connected in tests talk to these.
    """
    with ExitStack() as stack:
        yield {name: stack.enter_context(running_fake(FakeWorld(name))) for name in LIVE_FAKES}


@pytest.fixture(scope="session")
def settings(
    tmp_path_factory: pytest.TempPathFactory, fake_platforms: dict[str, RunningFake]
) -> Settings:
    var_dir: Path = tmp_path_factory.mktemp("var")
    url = os.environ.get(PG_URL_ENV)
    if url:
        url = _worker_database(url)
        _prepare_postgres(url)
    return Settings(
        var_dir=var_dir,
        database_url=url or None,
        queue_poll_interval_sec=0.05,
        # Tests run maintenance by hand; a tick firing mid-test would race their assertions.
        maintenance_cron="off",
        dispatch_retry_delays=[0.05, 0.1, 0.2],
        webhook_retry_delays=[0, 0.2, 0.4, 0.8, 1, 1, 1, 1],
        platform_retry_delays=[0.01, 0.02, 0.04],
        **{k: v for fake in fake_platforms.values() for k, v in fake.settings_overrides().items()},
    )


@pytest.fixture(scope="session")
def session_factory(settings: Settings) -> sessionmaker[Session]:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    return make_session_factory(make_engine(settings.resolved_database_url))


@pytest.fixture(scope="session")
def job_runtime(settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[Any]:
    runtime = jobs.launch(settings, session_factory)
    yield runtime
    jobs.shutdown()


def _settle_workflows(timeout: float = 30.0) -> None:
    """Let workflows a test started finish before its rows are deleted under them."""
    from dbos import DBOS

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = [
            w
            for w in DBOS.list_workflows(
                status=["PENDING", "ENQUEUED"], load_input=False, load_output=False
            )
            if not (w.name or "").endswith("maintenance_tick")
        ]
        if not active:
            return
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def clean_tables(
    request: pytest.FixtureRequest, session_factory: sessionmaker[Session]
) -> Iterator[None]:
    yield
    if "job_runtime" in request.fixturenames:
        _settle_workflows()
    _empty_tables(session_factory.kw["bind"])


def _empty_tables(engine: Any, attempts: int = 5) -> None:
    """Delete every row. The once-a-minute maintenance tick may hold row locks at that moment;
    when PostgreSQL picks the TRUNCATE as a deadlock victim, try again."""
    tables = list(reversed(Base.metadata.sorted_tables))
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    names = ", ".join(t.name for t in tables)
                    conn.execute(text(f"TRUNCATE {names} CASCADE"))
                else:
                    for table in tables:
                        conn.execute(table.delete())
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


@pytest.fixture()
def ctx(settings: Settings, session_factory: sessionmaker[Session], job_runtime: Any) -> AppContext:
    return AppContext(settings=settings, session_factory=session_factory, jobs=job_runtime)


@pytest.fixture()
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture()
def boot(settings: Settings, session_factory: sessionmaker[Session]) -> dict[str, Any]:
    """A fresh org as `adpilot bootstrap --json` makes it, without its first sync job, so a
    test starts from a quiet job engine (the sync on bootstrap has tests of its own)."""
    # A fixed seed: the sandbox markets are built once per session and reused (the build is the
    # slow part of a bootstrap); each test still gets its own org, accounts and rows.
    return bootstrap_org(settings, session_factory, name="Test org", seed=20261122, sync=False)


class Api:
    """A thin client that sends a key the way partners do."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture()
def partner(client: TestClient, boot: dict[str, Any]) -> Api:
    return Api(client, boot["partnerKey"])


@pytest.fixture()
def customer(client: TestClient, boot: dict[str, Any]) -> Api:
    return Api(client, boot["customerKey"])


@dataclass
class Org:
    """An organization as one of its keys sees it: its id, a project of it and a client."""

    id: str
    project_id: str
    api: Api


@pytest.fixture()
def org(boot: dict[str, Any], partner: Api) -> Org:
    """The bootstrap org through its partner key."""
    return Org(boot["organizationId"], boot["projectId"], partner)
