"""The fake TikTok API for Business v1.3 as an ASGI app: routing, auth, faults, rate limits.

Every API answer is HTTP 200 with `{code, message, request_id, data}`; only a path the API does
not know (or one without its trailing slash) gets a real 404, as on TikTok. Queued faults
(`world.inject(kind, path=…)`) answer instead of the endpoint: `kind` is a TikTok code ("40100",
"50000", …; `message=` overrides the text), `http_429`/`http_500`/`http_503` (a real HTTP error,
`retry_after=` sets Retry-After), `partial` on a status update (every id refused in
`error_list`, code 20001: the one kind of write TikTok answers partly), or `FAILED`/`CANCELED` on
`report/task/check/` (the task ends that way). With
`after_apply=True` a write takes effect and then answers with the fault (a lost response).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from adpilot.fakes.tiktok import entities, reports, writes
from adpilot.fakes.tiktok.state import Answer, FakeState, fake_state
from adpilot.fakes.tiktok.wire import (
    REPORT_FILES,
    ApiError,
    envelope,
    id_list,
    invalid,
    json_param,
    request_id,
)
from adpilot.fakes.world import FakeWorld, Fault
from adpilot.platforms.tiktok.requests import API_PREFIX as API


@dataclass
class Call:
    world: FakeWorld
    state: FakeState
    advertiser_id: str
    params: dict[str, Any]
    token: str
    base_url: str
    fault: Fault | None


Handler = Callable[[Call], Any]


def _listing(entity: str) -> Handler:
    return lambda c: entities.listing(entity, c.world, c.state, c.advertiser_id, c.params)


def _status(entity: str) -> Handler:
    def handle(c: Call) -> Any:
        if c.fault is not None and c.fault.kind == "partial":
            return writes.partial_failure(entity, c.params, _fault_message(c.fault))
        return writes.status_update(entity, c.world, c.state, c.advertiser_id, c.params)

    return handle


def _write(fn: Callable[[FakeWorld, FakeState, str, dict[str, Any]], Any]) -> Handler:
    return lambda c: fn(c.world, c.state, c.advertiser_id, c.params)


def _advertisers_of_token(c: Call) -> Any:
    token = c.world.tokens.get(c.token)
    accounts = sorted(token.accounts) if token and token.accounts is not None else []
    with c.world.lock:
        items = [
            {"advertiser_id": a, "advertiser_name": c.world.market(a).account.name}
            for a in accounts
        ]
    return {"list": items}


def _exchange_auth_code(c: Call) -> Any:
    code = str(c.params.get("auth_code") or "")
    with c.world.lock:
        grant = c.state.auth_codes.get(code)
        if grant is None or grant["used"]:
            raise ApiError(40110)
        grant["used"] = True
        token = "act." + secrets.token_hex(20)
        c.world.add_token(token, accounts=set(grant["advertiser_ids"]))
    return {"access_token": token, "advertiser_ids": grant["advertiser_ids"], "scope": [1, 2, 3, 4]}


def _revoke(c: Call) -> Any:
    token = str(c.params.get("access_token") or "")
    if token not in c.world.tokens:
        raise ApiError(40105)
    c.world.revoke_token(token)
    return {}


GET: dict[str, Handler] = {
    "/advertiser/info/": lambda c: entities.advertiser_info(c.world, c.state, c.params),
    "/campaign/get/": _listing("campaign"),
    "/adgroup/get/": _listing("adgroup"),
    "/ad/get/": _listing("ad"),
    "/report/integrated/get/": lambda c: reports.integrated_get(
        c.world, c.state, c.advertiser_id, c.params
    ),
    "/report/task/check/": lambda c: reports.task_check(
        c.world, c.state, c.advertiser_id, c.params, c.fault
    ),
    "/report/task/download/": lambda c: reports.task_download(
        c.world, c.state, c.advertiser_id, c.params, c.base_url
    ),
    "/oauth2/advertiser/get/": _advertisers_of_token,
}
POST: dict[str, Handler] = {
    "/ad/status/update/": _status("ad"),
    "/adgroup/status/update/": _status("adgroup"),
    "/campaign/status/update/": _status("campaign"),
    "/adgroup/budget/update/": _write(writes.adgroup_budget_update),
    "/campaign/update/": _write(writes.campaign_update),
    "/adgroup/update/": _write(writes.adgroup_update),
    "/ad/create/": _write(writes.ad_create),
    "/ad/update/": _write(writes.ad_update),
    "/report/task/create/": lambda c: reports.task_create(
        c.world, c.state, c.advertiser_id, c.params
    ),
    "/report/task/cancel/": lambda c: reports.task_cancel(
        c.world, c.state, c.advertiser_id, c.params
    ),
    "/oauth2/access_token/": _exchange_auth_code,
    "/oauth2/revoke_token/": _revoke,
}
ENDPOINTS = GET.keys() | POST.keys()
# Endpoints authenticated by the app's id and secret, not by an access token.
APP_AUTH = frozenset({"/oauth2/access_token/", "/oauth2/revoke_token/"})
# Faults an endpoint answers itself (any other fault answers instead of the endpoint).
HANDLER_FAULTS: dict[str, frozenset[str]] = {
    **{f"/{e}/status/update/": frozenset({"partial"}) for e in ("ad", "adgroup", "campaign")},
    "/report/task/check/": frozenset({"FAILED", "CANCELED"}),
}
TOKEN_CODES = {"invalid": 40105, "expired": 40102, "forbidden": 40106}


def _fault_message(fault: Fault) -> str:
    return str(fault.data.get("message") or "The request was refused.")


def _fault_response(fault: Fault, rid: str) -> tuple[Response, int | None]:
    if fault.kind.startswith("http_"):
        status = int(fault.kind.removeprefix("http_"))
        headers = {}
        if fault.data.get("retry_after") is not None:
            headers["Retry-After"] = str(fault.data["retry_after"])
        return PlainTextResponse(f"{status} error", status_code=status, headers=headers), None
    if not fault.kind.isdigit():
        raise ValueError(f"the fake TikTok has no {fault.kind!r} fault for this endpoint")
    code = int(fault.kind)
    error = ApiError(code, fault.data.get("message"))
    return _json(envelope(code, error.message, {}, rid), rid), code


def _json(body: dict[str, Any], rid: str) -> Response:
    return JSONResponse(body, headers={"X-Tt-Logid": rid, "x-tt-trace-id": rid})


def _advertiser(path: str, params: dict[str, Any]) -> str:
    if path == "/advertiser/info/":
        ids = id_list(json_param(params, "advertiser_ids", []), "advertiser_ids")
        return ids[0] if ids else ""
    return str(params.get("advertiser_id") or "")


def _authorize(world: FakeWorld, path: str, token: str, params: dict[str, Any]) -> str:
    """The request's advertiser id once the token may act for it (ApiError otherwise)."""
    if not token:
        raise ApiError(40104)
    advertiser_id = _advertiser(path, params)
    wanted = [advertiser_id]
    if path == "/advertiser/info/":
        wanted = id_list(json_param(params, "advertiser_ids", []), "advertiser_ids")
    elif not advertiser_id and path != "/oauth2/advertiser/get/":
        raise invalid("advertiser_id: required")
    for one in wanted or [""]:
        verdict = world.check_token(token, one or None)
        if verdict != "ok":
            raise ApiError(TOKEN_CODES[verdict])
    return advertiser_id


def _route(method: str, path: str) -> tuple[str, dict[str, Handler]] | Response:
    """The endpoint (path below the version) and its method's routes, or a plain HTTP error."""
    sub = path.removeprefix(API)
    routes = GET if method == "GET" else POST if method == "POST" else {}
    if not path.startswith(API + "/") or not path.endswith("/") or sub not in ENDPOINTS:
        return PlainTextResponse("404 page not found", status_code=404)
    if sub not in routes:
        return PlainTextResponse("405 method not allowed", status_code=405)
    return sub, routes


@dataclass(frozen=True)
class Incoming:
    """A request read once as it arrives; the rate limiter, the endpoint and the log share it."""

    method: str
    path: str
    query: dict[str, str]
    params: dict[str, Any]  # the query, or a POST's JSON body ({} when it is not JSON)
    bad_body: ApiError | None  # the answer to a POST body that is not a JSON object

    @classmethod
    def read(cls, method: str, path: str, query: dict[str, str], body: bytes) -> Incoming:
        if method != "POST":
            return cls(method, path, query, dict(query), None)
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return cls(method, path, query, {}, invalid("The request body must be JSON"))
        if not isinstance(parsed, dict):
            return cls(method, path, query, {}, invalid("The request body must be a JSON object"))
        return cls(method, path, query, parsed, None)


def _admit(state: FakeState, incoming: Incoming) -> int | None:
    """Count the request against the rate limits as it arrives; the refusal code if over."""
    route = _route(incoming.method, incoming.path)
    if isinstance(route, Response):
        return None
    try:
        advertiser_id = _advertiser(route[0], incoming.params)
    except ApiError:
        advertiser_id = ""
    return state.limiter.admit(route[0], advertiser_id, state.config)


def handle(
    world: FakeWorld,
    incoming: Incoming,
    headers: Any,
    base_url: str,
    refused: int | None = None,
) -> tuple[Response, int | None]:
    """One request → (response, TikTok code or None); `refused` is the rate limiter's verdict."""
    method, path, params = incoming.method, incoming.path, incoming.params
    state = fake_state(world)
    rid = request_id()
    if path.startswith(REPORT_FILES) and method == "GET":
        text = reports.task_file(world, state, path.removeprefix(REPORT_FILES).removesuffix(".csv"))
        if text is None:
            return PlainTextResponse("404 page not found", status_code=404), None
        return Response(text, media_type="text/csv"), None
    route = _route(method, path)
    if isinstance(route, Response):
        return route, None
    sub, routes = route
    try:
        if incoming.bad_body is not None:
            raise incoming.bad_body
        fault = world.take_fault(method, path)
        if fault is not None and fault.kind not in HANDLER_FAULTS.get(sub, ()):
            return _fault_response(fault, rid)
        token = str(headers.get("access-token") or "")
        advertiser_id = (
            _advertiser(sub, params) if sub in APP_AUTH else _authorize(world, sub, token, params)
        )
        if refused is not None:
            raise ApiError(refused)
        result = routes[sub](Call(world, state, advertiser_id, params, token, base_url, fault))
    except ApiError as exc:
        return _json(envelope(exc.code, exc.message, {}, rid), rid), exc.code
    lost = world.take_fault(method, path, after_apply=True)
    if lost is not None:
        return _fault_response(lost, rid)
    if isinstance(result, str):
        return Response(result, media_type="text/csv"), None
    code, message, data = result if isinstance(result, tuple) else (0, "OK", result)
    return _json(envelope(code, message, data, rid), rid), code


def _handle_and_log(
    world: FakeWorld,
    incoming: Incoming,
    headers: Any,
    base_url: str,
    refused: int | None,
    arrived: float,
) -> Response:
    response, code = handle(world, incoming, headers, base_url, refused)
    world.log_call(incoming.method, incoming.path, incoming.query, response.status_code)
    answer = Answer(
        arrived,
        time.monotonic(),
        incoming.method,
        incoming.path,
        code,
        response.status_code,
        incoming.params,
    )
    fake_state(world).answers.append(answer)
    return response


def create_app(world: FakeWorld) -> Starlette:
    async def endpoint(request: Request) -> Response:
        arrived = time.monotonic()
        body = await request.body()
        incoming = Incoming.read(request.method, request.url.path, dict(request.query_params), body)
        # Rate limits count a request when it arrives, before it waits for a worker thread.
        refused = _admit(fake_state(world), incoming)
        base_url = str(request.base_url).rstrip("/")
        return await run_in_threadpool(
            _handle_and_log, world, incoming, request.headers, base_url, refused, arrived
        )

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
