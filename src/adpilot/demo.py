"""`adpilot demo`: a sandbox org, one optimizer run per layer shown live, then the server stays up.

The demo drives the same partner API a client would, over HTTP against the server it started.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adpilot import jobs
from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings

TERMINAL = ("completed", "failed", "canceled")


class _ThreadedServer(uvicorn.Server):
    """Signals belong to the demo's own loop: a server in a background thread must not take them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _start_server(
    application: Any, host: str, port: int
) -> tuple[uvicorn.Server, threading.Thread]:
    server = _ThreadedServer(uvicorn.Config(application, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server, thread


def _trigger_runs(client: httpx.Client, boot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    runs = {}
    for platform, layer_id in boot["layers"].items():
        response = client.post(
            f"/v1/projects/{boot['projectId']}/ads/optimizer/run",
            json={"layerId": layer_id, "platform": platform},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        response.raise_for_status()
        runs[platform] = response.json()
    return runs


def _follow(
    client: httpx.Client, console: Console, runs: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    finished: dict[str, Any] = {}
    columns = (
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.fields[stage]:<12}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks = {p: progress.add_task(p, total=1.0, stage="queued") for p in runs}
        deadline = time.monotonic() + 300
        while len(finished) < len(runs) and time.monotonic() < deadline:
            for platform, envelope in runs.items():
                if platform in finished:
                    continue
                run = client.get(envelope["runUrl"]).json()
                progress.update(tasks[platform], completed=run["progress"], stage=run["stage"])
                if run["status"] in TERMINAL:
                    finished[platform] = run
            time.sleep(0.2)
    return finished


def _money_table(run: dict[str, Any]) -> Table:
    summary = run["summary"]
    title = (
        f"{run['platform']} — {run['status']}: {summary['proposed']} proposed · "
        f"{summary['queued']} queued · {summary['dispatched']} dispatched · "
        f"{summary['held']} held · {summary['denied']} denied"
    )
    table = Table(title=title, show_lines=False, title_justify="left")
    table.add_column("outcome", style="bold")
    table.add_column("action")
    table.add_column("change")
    table.add_column("conf.", justify="right")
    table.add_column("why", overflow="fold")
    for change in run["changes"]:
        why = (
            change["rationale"]
            if change["outcome"] in ("queued", "dispatched")
            else (change["reason"] or "")
        )
        table.add_row(
            change["outcome"],
            change["actionType"],
            change["summary"],
            f"{change['confidence']:.2f}",
            why,
        )
    return table


def run_demo(
    settings: Settings,
    application: Any,
    host: str,
    port: int,
    console: Console,
    *,
    serve_forever: bool = True,
) -> dict[str, Any]:
    server, thread = _start_server(application, host, port)
    base_url = f"http://{host}:{port}"
    boot = bootstrap_org(settings, application.state.ctx.session_factory, name="Demo org")
    console.print(
        f"[bold]adpilot demo[/] — sandbox org {boot['organizationId']}, project {boot['projectId']}"
    )
    headers = {"Authorization": f"Bearer {boot['partnerKey']}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        runs = _trigger_runs(client, boot)
        finished = _follow(client, console, runs)
    for platform in runs:
        run = finished.get(platform)
        if run is None:
            console.print(f"[red]{platform}: the run did not finish in time[/]")
            continue
        console.print(_money_table(run))
        if run["error"]:
            console.print(f"[red]{run['error']['code']}: {run['error']['message']}[/]")
    console.print()
    console.print(f"API:        {base_url}/v1  (docs at {base_url}/docs)")
    console.print(f"Dashboard:  {base_url}/app")
    console.print(f"Partner key:  {boot['partnerKey']}")
    console.print(f"Customer key: {boot['customerKey']}")
    console.print(
        f"Try:  curl -H 'Authorization: Bearer {boot['partnerKey']}' "
        f"{base_url}/v1/projects/{boot['projectId']}/ads/meta/pending"
    )
    if serve_forever:
        console.print("Serving until Ctrl-C.")
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            console.print("stopping")
    server.should_exit = True
    thread.join(10)
    jobs.shutdown()
    return {"boot": boot, "runs": finished}
