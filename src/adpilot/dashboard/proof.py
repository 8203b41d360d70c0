"""The dashboard's proof page of a layer: the holdout report and the layer's backtests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from adpilot.backtest import service as backtests
from adpilot.dashboard import backtest_form, render, views
from adpilot.dashboard import session as sess
from adpilot.dashboard.render import guarded, page, redirect
from adpilot.db import read_session
from adpilot.deps import Ctx, FormBody
from adpilot.holdout.report import holdout_report
from adpilot.kit.clock import utcnow
from adpilot.layers.models import Layer, Project

router = APIRouter(prefix="/app", include_in_schema=False)

BACKTESTS_SHOWN = 5
VERDICTS = ("right", "wrong", "inconclusive", "not_yet")


def week_rows(by_week: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A backtest's weeks as table rows: how many changes it would have made, by verdict."""
    rows = []
    for week in by_week:
        counts = dict.fromkeys(VERDICTS, 0)
        for proposal in week["proposals"]:
            counts[proposal["verdict"]] = counts.get(proposal["verdict"], 0) + 1
        rows.append({**week, "changes": len(week["proposals"]), "counts": counts})
    return rows


def backtests_part(session: Session, project: Project, layer: Layer) -> dict[str, Any]:
    """The layer's latest backtests: the section that refreshes itself while one runs."""
    shown = [
        backtests.to_api(bt)
        for bt in backtests.latest(session, project.id, layer.id, BACKTESTS_SHOWN)
    ]
    for bt in shown:
        bt["weekRows"] = week_rows(bt["byWeek"])
    return {
        "project": project,
        "layer": layer,
        "backtests": shown,
        "running": any(bt["status"] == "running" for bt in shown),
    }


def proof_page(session: Session, project: Project, layer: Layer) -> dict[str, Any]:
    return {
        **backtests_part(session, project, layer),
        # The same report, for the same day, as GET /v1/layers/{layerId}/holdout.
        "holdout": holdout_report(session, layer, utcnow().date()),
        "max_weeks": backtest_form.MAX_WEEKS,
        "form_key": backtest_form.new_form_key(),
    }


def _url(project: Project, layer: Layer) -> str:
    return f"/app/projects/{project.id}/layers/{layer.id}/proof"


def _read_page(
    request: Request,
    ctx: Ctx,
    project_id: str,
    layer_id: str,
    build: Callable[[Session, Project, Layer], dict[str, Any]],
    template: str,
) -> Response:
    """A read-only view of one layer: the whole page, or the section that refreshes itself."""
    current = sess.current(request, ctx)
    views.require_read(current.principal)
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, project_id)
        found = views.find_layer(session, project, layer_id)
        data = build(session, project, found)
    return page(request, ctx, template, data)


@router.get("/projects/{projectId}/layers/{layerId}/proof")
@guarded
def proof(request: Request, ctx: Ctx, projectId: str, layerId: str) -> Response:
    return _read_page(request, ctx, projectId, layerId, proof_page, "proof.html")


@router.get("/projects/{projectId}/layers/{layerId}/proof/backtests")
@guarded
def proof_backtests(request: Request, ctx: Ctx, projectId: str, layerId: str) -> Response:
    return _read_page(request, ctx, projectId, layerId, backtests_part, "_backtests.html")


@router.post("/projects/{projectId}/layers/{layerId}/backtest")
@guarded
def start_backtest(
    request: Request, ctx: Ctx, raw: FormBody, projectId: str, layerId: str
) -> Response:
    current = sess.current(request, ctx)
    form = render.form_fields(raw)
    sess.check_csrf(request, ctx, form.get("csrf"))
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
        found = views.find_layer(session, project, layerId)
    outcome = backtest_form.start(
        ctx, current.principal, request.state.request_id, project, found, form
    )
    flash = ("ok" if outcome.ok else "error", outcome.message)
    return redirect(request, ctx, _url(project, found), flash)
