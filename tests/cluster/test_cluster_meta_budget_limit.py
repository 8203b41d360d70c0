"""Meta's 4 budget changes per ad set per hour, kept by two real workers sharing one Redis: a
person's direct budget writes to one ad set are sent at most 4 times in an hour whichever worker
dispatches them, the ones past the limit wait durably (never failed, lost or sent twice), and a
worker killed while holding them hands them over still waiting.

Each change to one ad set is judged against the value adpilot last saw (a change made on an older
value is refused as stale), so the first four changes to an ad set go out one after another, two
by each worker; the changes past the limit then race from both workers at once."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from adpilot.fakes.meta.nodes import currency_of, from_minor
from adpilot.fakes.meta.state import meta_state
from adpilot.fakes.server import running_fake
from adpilot.fakes.world import Call, FakeWorld
from adpilot.sim import reports
from tests.cluster.support import Harness, PatientApi, harness, wait_for
from tests.platforms import meta_support

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

LIMIT = 4  # Meta: budget changes per ad set per hour
PAST_LIMIT = 6  # further changes to the full ad set, sent at once from threads
LEASE_SEC = 3


class Writer:
    """A customer's direct budget writes to the live Meta account, through the API."""

    def __init__(self, h: Harness, boot: dict[str, Any]) -> None:
        self.h = h
        self.api = PatientApi(h.cluster.base_url, boot["customerKey"])
        self.path = f"/v1/projects/{boot['projectId']}/ads/meta/adsets"

    def change(self, adset_id: str, cents: int) -> str:
        """Send one budget change (its own Idempotency-Key, kept across retries); its job id."""
        answer = self.api.call(
            "PATCH",
            f"{self.path}/{adset_id}/budget",
            json={"dailyBudgetCents": cents, "overrideGuardrails": True},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "dispatched", answer.json()
        return str(answer.json()["jobId"])

    def job_status(self, job_id: str) -> str:
        return str(self.api.call("GET", f"/v1/jobs/{job_id}").json()["status"])

    def change_and_wait(self, adset_id: str, cents: int) -> str:
        """One change, sent once the previous one to this ad set went out."""
        job_id = self.change(adset_id, cents)
        wait_for(lambda: self.job_status(job_id) == "completed", 60, f"{job_id} to be sent")
        return job_id


def _row(h: Harness, job_id: str) -> tuple[str, str, int]:
    """(pending id, status, new daily budget) of the pending row a direct write made."""
    [(pending_id, status, new_value)] = h.rows(
        "SELECT id, status, new_value FROM pending_actions WHERE job_id = :j", j=job_id
    )
    new = new_value if isinstance(new_value, dict) else json.loads(new_value)
    return pending_id, status, int(new["dailyBudgetCents"])


def _workflows(h: Harness, pending_ids: list[str]) -> dict[str, tuple[str, str]]:
    """pending id → (workflow status, executor) of its dispatch."""
    rows = h.rows(
        "SELECT workflow_uuid, status, executor_id FROM dbos.workflow_status "
        "WHERE workflow_uuid = ANY(:ids)",
        ids=[f"dispatch-{p}" for p in pending_ids],
    )
    return {wf.removeprefix("dispatch-"): (status, executor) for wf, status, executor in rows}


def _wakes(h: Harness, pending_ids: list[str]) -> dict[str, float]:
    """pending id → when its dispatch's durable sleep ends (unix seconds), for those asleep."""
    rows = h.rows(
        "SELECT workflow_uuid, output FROM dbos.operation_outputs "
        "WHERE workflow_uuid = ANY(:ids) AND function_name = 'DBOS.sleep'",
        ids=[f"dispatch-{p}" for p in pending_ids],
    )
    return {wf.removeprefix("dispatch-"): float(json.loads(output)) for wf, output in rows}


def _budget_posts(world: FakeWorld, external_id: str) -> list[Call]:
    """Every budget change the fake Meta received for one ad set, refused ones included."""
    return [
        c
        for c in world.calls_to("", "POST")
        if c.path.rstrip("/").endswith(f"/{external_id}") and "daily_budget" in c.query
    ]


def _most_in_an_hour(posts: list[Call]) -> int:
    times = sorted(c.at for c in posts)
    hour = dt.timedelta(hours=1)
    return max((sum(1 for t in times if start <= t < start + hour) for start in times), default=0)


def test_two_workers_send_at_most_four_budget_changes_an_hour_to_one_meta_adset(
    tmp_path: Path,
) -> None:
    world = FakeWorld("meta")
    with running_fake(world) as meta:
        fake_env = {f"ADPILOT_{k.upper()}": v for k, v in meta.settings_overrides().items()}
        with harness(
            "metalimit", tmp_path, ADPILOT_WORKER_LEASE_SEC=str(LEASE_SEC), **fake_env
        ) as h:
            _check(h, world, meta.credentials_for)


def _check(h: Harness, world: FakeWorld, credentials_for: Callable[[str], dict[str, Any]]) -> None:
    [boot] = h.bootstrap(1)
    layer = boot["layers"]["meta_ads"]
    h.cluster.start_worker("worker-a")
    h.cluster.start_api()
    base = h.cluster.base_url
    partner = PatientApi(base, boot["partnerKey"])
    customer = PatientApi(base, boot["customerKey"])

    account = meta_support.new_account()
    connected = partner.call(
        "POST",
        f"/v1/projects/{boot['projectId']}/ads/ad-accounts",
        json={
            "platform": "meta_ads",
            "externalId": account,
            "mode": "live",
            "credentials": credentials_for(account),
            "replace": True,
        },
    )
    assert connected.status_code == 201, connected.text
    defaults = f"/v1/projects/{boot['projectId']}/ads/meta/defaults"
    answer = customer.call("PATCH", defaults, json={"defaults": {"tactical": "auto"}})
    assert answer.status_code == 200, answer.text

    with world.lock:
        held = [
            s.external_id
            for s in reports.adsets_data(world.market(account))
            if s.daily_budget_cents and s.status == "active"
        ]
        currency = currency_of(meta_state(world), account, world.market(account))
    assert len(held) >= 2, "the simulated account has ad sets holding their budgets"
    full_ext, other_ext = held[:2]

    def synced() -> dict[str, tuple[str, int]] | None:
        if h.scalars("SELECT count(*) FROM entity_syncs WHERE status = 'running'")[0]:
            return None
        rows = h.rows(
            "SELECT external_id, id, daily_budget_cents FROM adsets "
            "WHERE layer_id = :l AND external_id IN (:a, :b)",
            l=layer,
            a=full_ext,
            b=other_ext,
        )
        return {e: (i, int(c)) for e, i, c in rows} if len(rows) == 2 else None

    found = wait_for(synced, 120, "the live account's ad sets to be synced")
    (full, full_base), (other, other_base) = found[full_ext], found[other_ext]
    writer = Writer(h, boot)

    def steps(adset: str, values: list[int]) -> list[str]:
        return [writer.change_and_wait(adset, v) for v in values]

    # The first four changes to the full ad set: two by worker-a, then two by worker-b, so each
    # worker alone has sent only two. The other ad set's changes go out alongside.
    with ThreadPoolExecutor(2) as pool:
        a_full = pool.submit(steps, full, [full_base + 100, full_base + 200])
        a_other = pool.submit(steps, other, [other_base + 100])
        sent_by_a = a_full.result() + a_other.result()
    assert h.cluster.stop("worker-a") == 0
    h.cluster.start_worker("worker-b")
    with ThreadPoolExecutor(2) as pool:
        b_full = pool.submit(steps, full, [full_base + 300, full_base + 400])
        b_other = pool.submit(steps, other, [other_base + 200])
        sent_by_b = b_full.result() + b_other.result()
    h.cluster.start_worker("worker-a")
    wait_for(
        lambda: (
            sorted(h.scalars("SELECT executor_id FROM worker_leases WHERE stopped_at IS NULL"))
            == ["worker-a", "worker-b"]
        ),
        60,
        "both workers to be live",
    )

    # Past the limit: six more to the full ad set at once, and one more to the other.
    past_values = [full_base + 500 + 100 * n for n in range(PAST_LIMIT)]
    with ThreadPoolExecutor(PAST_LIMIT + 1) as pool:
        futures = [pool.submit(writer.change, full, v) for v in past_values]
        other_future = pool.submit(writer.change_and_wait, other, other_base + 300)
        past = [f.result() for f in futures]
        last_other = other_future.result()

    past_rows = [_row(h, job) for job in past]
    past_ids = [pending_id for pending_id, _, _ in past_rows]

    def all_deferred() -> dict[str, float] | None:
        found = _wakes(h, past_ids)
        return found if len(found) == PAST_LIMIT else None

    wakes = wait_for(
        all_deferred,
        60,
        "every change past the limit to be deferred",
    )
    now = time.time()
    # Deferred until the first of the four leaves the hour: a durable sleep, not a failure.
    assert all(now + 3000 < wake <= now + 3600 for wake in wakes.values()), wakes
    assert {status for _, status, _ in (_row(h, job) for job in past)} == {"approved"}
    assert {writer.job_status(job) for job in past} == {"running"}
    asleep = _workflows(h, past_ids)
    assert {status for status, _ in asleep.values()} == {"PENDING"}
    # Both workers took part: the first four went out two from each.
    sent = _workflows(h, [_row(h, job)[0] for job in sent_by_a + sent_by_b])
    by_a = {sent[_row(h, job)[0]] for job in sent_by_a}
    by_b = {sent[_row(h, job)[0]] for job in sent_by_b}
    assert by_a == {("SUCCESS", "worker-a")} and by_b == {("SUCCESS", "worker-b")}

    # What Meta received: at most four changes to each ad set within any hour, none refused,
    # each sent change once, and nothing of the deferred ones.
    for job in sent_by_a + sent_by_b + [last_other]:
        assert _row(h, job)[1] == "dispatched"
    full_posts = _budget_posts(world, full_ext)
    other_posts = _budget_posts(world, other_ext)
    assert _most_in_an_hour(full_posts) <= LIMIT and _most_in_an_hour(other_posts) <= LIMIT
    assert {c.status for c in full_posts + other_posts} == {200}, full_posts + other_posts
    full_sent = sorted(from_minor(int(c.query["daily_budget"]), currency) for c in full_posts)
    other_sent = sorted(from_minor(int(c.query["daily_budget"]), currency) for c in other_posts)
    assert full_sent == [full_base + 100 * n for n in (1, 2, 3, 4)]
    assert other_sent == [other_base + 100 * n for n in (1, 2, 3)]
    assert not set(full_sent) & set(past_values)

    # A worker killed while holding deferred changes: the other takes them over after the
    # lease, and they keep waiting for the same moment, unsent.
    holders = [executor for _, executor in asleep.values()]
    victim = max(set(holders), key=holders.count)
    survivor = "worker-b" if victim == "worker-a" else "worker-a"
    h.cluster.kill(victim)
    wait_for(
        lambda: {e for _, e in _workflows(h, past_ids).values()} == {survivor},
        60,
        f"{survivor} to take over the deferred changes",
    )
    time.sleep(1.0)  # let the recovered workflows replay to their sleep
    assert {status for status, _ in _workflows(h, past_ids).values()} == {"PENDING"}
    assert _wakes(h, past_ids) == wakes
    assert {_row(h, job)[1] for job in past} == {"approved"}
    assert len(_budget_posts(world, full_ext)) == LIMIT
    # The survivor holds the hour-long sleeps: a SIGTERM still stops it cleanly (within the
    # harness's 30 s), leaving them waiting in the database for its restart or a peer.
    assert h.cluster.stop(survivor) == 0
    assert {status for status, _ in _workflows(h, past_ids).values()} == {"PENDING"}
    assert len(_budget_posts(world, full_ext)) == LIMIT
