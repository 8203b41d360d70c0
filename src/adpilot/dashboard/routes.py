"""HTTP routes of the customer dashboard at /app: sign-in, pages, and approve/reject forms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from adpilot import errors
from adpilot.dashboard import control, queue, render, views
from adpilot.dashboard import session as sess
from adpilot.dashboard.render import guarded, page, redirect
from adpilot.db import read_session
from adpilot.deps import Ctx, FormBody

router = APIRouter(prefix="/app", include_in_schema=False)

Cursor = Annotated[str | None, Query()]
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


# --- sign-in -------------------------------------------------------------------------------


@router.get("")
@guarded
def home(request: Request, ctx: Ctx) -> Response:
    if not request.cookies.get(sess.SESSION_COOKIE):
        return render.signin_page(request, ctx, next_path=request.query_params.get("next", "/app"))
    current = sess.current(request, ctx)
    views.require_read(current.principal)
    with read_session(ctx.session_factory) as session:
        projects = views.visible_projects(session, current.principal)
    if len(projects) == 1:
        return redirect(request, ctx, f"/app/projects/{projects[0].id}")
    return page(request, ctx, "projects.html", {"projects": projects})


@router.post("/sign-in")
@guarded
def sign_in(request: Request, ctx: Ctx, raw: FormBody) -> Response:
    form = render.form_fields(raw)
    next_path = render.safe_next(form.get("next"))
    if not sess.check_signin_token(request, form.get("signin_token")):
        return render.signin_page(
            request,
            ctx,
            message="The sign-in form expired. Please paste your key again.",
            status=403,
            next_path=next_path,
        )
    key = form.get("key", "").strip()
    try:
        principal = sess.authenticate(ctx, key)
    except errors.ApiError as err:
        return render.signin_page(
            request, ctx, message=err.message, status=401, next_path=next_path
        )
    response = redirect(request, ctx, next_path)
    sess.sign_in(request, response, ctx, principal)
    return response


@router.post("/sign-out")
@guarded
def sign_out(request: Request, ctx: Ctx, raw: FormBody) -> Response:
    sess.check_csrf(request, ctx, render.form_fields(raw).get("csrf"))
    response = redirect(request, ctx, "/app")
    sess.sign_out(request, response, ctx)
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    # Only files that ship in static/ itself: no paths, no dotfiles.
    path = render.STATIC_DIR / name
    if "/" in name or name.startswith(".") or not path.is_file() or path.suffix not in STATIC_TYPES:
        raise errors.not_found(f"Static file {name}")
    response = FileResponse(path, media_type=STATIC_TYPES[path.suffix])
    response.headers["Cache-Control"] = "public, max-age=3600"
    return render.secure_headers(response, cache=True)


# --- pages ---------------------------------------------------------------------------------


@router.get("/projects/{projectId}")
@guarded
def project_overview(request: Request, ctx: Ctx, projectId: str) -> Response:
    current = sess.current(request, ctx)
    views.require_read(current.principal)
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
    with read_session(ctx.session_factory) as session:
        data = views.overview(session, ctx.settings.secret_key, project)
    return page(request, ctx, "project.html", data)


@router.get("/projects/{projectId}/layers/{layerId}")
@guarded
def layer(
    request: Request, ctx: Ctx, projectId: str, layerId: str, cursor: Cursor = None
) -> Response:
    current = sess.current(request, ctx)
    views.require_read(current.principal)
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
        found = views.find_layer(session, project, layerId)
    with read_session(ctx.session_factory) as session:
        data = views.layer_page(session, ctx.settings.secret_key, project, found, cursor)
    return page(request, ctx, "layer.html", data)


@router.get("/projects/{projectId}/runs/{runId}")
@guarded
def run(request: Request, ctx: Ctx, projectId: str, runId: str) -> Response:
    current = sess.current(request, ctx)
    views.require_read(current.principal)
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
        data = views.run_page(session, project, runId)
    return page(request, ctx, "run.html", data)


@router.get("/projects/{projectId}/campaigns/{campaignId}")
@guarded
def campaign(request: Request, ctx: Ctx, projectId: str, campaignId: str) -> Response:
    current = sess.current(request, ctx)
    views.require_read(current.principal)
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
        data = views.campaign_page(session, ctx.settings.secret_key, project, campaignId)
    return page(request, ctx, "campaign.html", data)


@router.get("/projects/{projectId}/layers/{layerId}/pending")
@guarded
def pending_queue(
    request: Request,
    ctx: Ctx,
    projectId: str,
    layerId: str,
    status: Annotated[list[str] | None, Query()] = None,
    cursor: Cursor = None,
) -> Response:
    current = sess.current(request, ctx)
    views.require_read(current.principal)
    statuses = queue.statuses_from(status)
    narrowing = queue.Narrowing.from_query(request.query_params)
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
        found = views.find_layer(session, project, layerId)
    with read_session(ctx.session_factory) as session:
        data = queue.queue_page(
            session, ctx.settings.secret_key, project, found, statuses, cursor, narrowing
        )
    return page(request, ctx, "pending.html", data)


@router.post("/projects/{projectId}/layers/{layerId}/pending/bulk")
@guarded
def decide_bulk(
    request: Request, ctx: Ctx, raw: FormBody, projectId: str, layerId: str
) -> Response:
    current = sess.current(request, ctx)
    form = render.form_fields(raw)
    sess.check_csrf(request, ctx, form.get("csrf"))
    verb = form.get("verb", "")
    if verb not in ("approve", "reject"):
        raise errors.validation("verb", "must be approve or reject")
    narrowing = queue.Narrowing.from_query(form)
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
        found = views.find_layer(session, project, layerId)
        if form.get("scope") == "matching":
            ids = queue.matching_ids(session, project, found, narrowing)
        else:
            ids = render.form_lists(raw).get("ids", [])
    outcome = queue.decide_many(
        ctx,
        principal=current.principal,
        project=project,
        layer=found,
        pending_ids=ids,
        verb=verb,
        text=form.get("text", ""),
        request_id=request.state.request_id,
    )
    back = f"/app/projects/{project.id}/layers/{found.id}/pending?status=pending{narrowing.query()}"
    return redirect(request, ctx, back, ("ok" if outcome.ok else "error", outcome.message))


@router.get("/projects/{projectId}/layers/{layerId}/pending/{pendingId}")
@guarded
def pending_row(
    request: Request, ctx: Ctx, projectId: str, layerId: str, pendingId: str
) -> Response:
    current = sess.current(request, ctx)
    views.require_read(current.principal)
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
        found = views.find_layer(session, project, layerId)
    with read_session(ctx.session_factory) as session:
        data = queue.one_row(session, project, found, pendingId)
    return page(request, ctx, "pending_row.html", data)


def _decide(
    request: Request,
    ctx: Ctx,
    raw: bytes,
    project_id: str,
    layer_id: str,
    pending_id: str,
    verb: str,
) -> Response:
    current = sess.current(request, ctx)
    form = render.form_fields(raw)
    sess.check_csrf(request, ctx, form.get("csrf"))
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, project_id)
        found = views.find_layer(session, project, layer_id)
    outcome = queue.decide(
        ctx,
        principal=current.principal,
        project=project,
        layer=found,
        pending_id=pending_id,
        verb=verb,
        text=form.get("comment" if verb == "approve" else "reason", ""),
        request_id=request.state.request_id,
    )
    back = f"/app/projects/{project.id}/layers/{found.id}/pending"
    next_path = render.safe_next(form.get("next"))
    to = next_path if next_path.startswith(back) else back
    return redirect(request, ctx, to, ("ok" if outcome.ok else "error", outcome.message))


@router.post("/projects/{projectId}/layers/{layerId}/pending/{pendingId}/approve")
@guarded
def approve(
    request: Request, ctx: Ctx, raw: FormBody, projectId: str, layerId: str, pendingId: str
) -> Response:
    return _decide(request, ctx, raw, projectId, layerId, pendingId, "approve")


@router.post("/projects/{projectId}/layers/{layerId}/pending/{pendingId}/reject")
@guarded
def reject(
    request: Request, ctx: Ctx, raw: FormBody, projectId: str, layerId: str, pendingId: str
) -> Response:
    return _decide(request, ctx, raw, projectId, layerId, pendingId, "reject")


# --- the customer's controls ----------------------------------------------------------------


@router.post("/projects/{projectId}/layers/{layerId}/settings/{what}")
@guarded
def change_layer(
    request: Request, ctx: Ctx, raw: FormBody, projectId: str, layerId: str, what: str
) -> Response:
    current = sess.current(request, ctx)
    form = render.form_fields(raw)
    sess.check_csrf(request, ctx, form.get("csrf"))
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
        found = views.find_layer(session, project, layerId)
    outcome = control.change_layer(
        ctx, current.principal, request.state.request_id, found, what, form
    )
    back = f"/app/projects/{project.id}/layers/{found.id}"
    return redirect(request, ctx, back, ("ok" if outcome.ok else "error", outcome.message))


@router.post("/projects/{projectId}/campaigns/{campaignId}/authority")
@guarded
def change_campaign(
    request: Request, ctx: Ctx, raw: FormBody, projectId: str, campaignId: str
) -> Response:
    current = sess.current(request, ctx)
    form = render.form_fields(raw)
    sess.check_csrf(request, ctx, form.get("csrf"))
    with read_session(ctx.session_factory) as session:
        project = views.visible_project(session, current.principal, projectId)
        found = views.campaign_layer(session, project, campaignId)
    outcome = control.change_campaign(
        ctx, current.principal, request.state.request_id, found, campaignId, form
    )
    back = f"/app/projects/{project.id}/campaigns/{campaignId}"
    return redirect(request, ctx, back, ("ok" if outcome.ok else "error", outcome.message))
