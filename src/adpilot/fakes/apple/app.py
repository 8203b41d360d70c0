"""The fake Apple Ads Platform API v1 as an ASGI app over a FakeWorld.

Every request, in order: a queued fault for it answers instead (kinds below); the token
endpoint is served without a bearer; API calls need a live bearer token (401 otherwise) and an
`X-AP-Context: adAccountId=…` the token may use (403 otherwise); each ad account has a request
window whose `RateLimit-Limit/Remaining/Reset` headers go on every answer, and an exhausted
window answers 429 with `Retry-After`. A write may be followed by an `after_apply` fault: the
change is made, the caller sees the failure (a lost answer). Every request is logged.

Faults (`world.inject(kind, path=…, method=…, count=…, after_apply=…, exact=…, **data)`):
`http_<status>` (e.g. http_500, http_503, http_429 with `retry_after`), `unauthorized`,
`forbidden`, `validation` (`code`/`message` data), `invalid_client` (token endpoint),
`delay` (`seconds` before answering normally).
"""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adpilot.fakes.apple.errors import ApiFailure, invalid
from adpilot.fakes.apple.oauth import OAuthError, issue_token
from adpilot.fakes.apple.routes import ApiCall, route
from adpilot.fakes.world import FakeWorld, Fault

TOKEN_PATH = "/auth/oauth2/token"
_CONTEXT = re.compile(r"^\s*adAccountId\s*=\s*(\d+)\s*$")
_NO_CONTEXT = ("/v1/me", "/v1/acls")


def _fault_answer(fault: Fault) -> Response:
    data = fault.data
    if fault.kind == "invalid_client":
        return JSONResponse({"error": "invalid_client"}, status_code=400)
    if fault.kind == "unauthorized":
        failure = ApiFailure(401, "unauthorized", str(data.get("message", "Invalid access token")))
    elif fault.kind == "forbidden":
        failure = ApiFailure(403, "forbidden", str(data.get("message", "Access denied")))
    elif fault.kind == "validation":
        failure = invalid(
            str(data.get("message", "Invalid request")), str(data.get("code", "INVALID_VALUE"))
        )
    elif fault.kind.startswith("http_"):
        status = int(fault.kind.removeprefix("http_"))
        headers = {}
        if status == 429:
            headers["Retry-After"] = str(data.get("retry_after", 1))
        code = {429: "rate_limit_exceeded", 503: "service_unavailable"}.get(
            status, "internal_server_error" if status >= 500 else "bad_request"
        )
        failure = ApiFailure(
            status, code, str(data.get("message", "Simulated failure")), headers=headers
        )
    else:
        raise ValueError(f"unknown Apple fault kind {fault.kind!r}")
    return JSONResponse(failure.body(), status_code=failure.status, headers=failure.headers)


def create_app(world: FakeWorld) -> Starlette:
    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        method, path = request.method.upper(), request.url.path
        query = dict(request.query_params)
        fault = world.take_fault(method, path)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(float(fault.data.get("seconds", 1.0)))
            fault = None
        if fault is not None:
            response = _fault_answer(fault)
        elif path == TOKEN_PATH and method == "POST":
            response = _token(world, query, raw)
        else:
            response = await run_in_threadpool(_api, world, request, raw)
        world.log_call(method, path, query, response.status_code)
        return response

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])


def _token(world: FakeWorld, query: dict[str, str], raw: bytes) -> Response:
    params = dict(query)
    params.update(dict(parse_qsl(raw.decode("utf-8", "replace"))))
    try:
        return JSONResponse(issue_token(world, params))
    except OAuthError as exc:
        return JSONResponse(
            {"error": exc.error, "error_description": exc.description}, status_code=400
        )


def _api(world: FakeWorld, request: Request, raw: bytes) -> Response:
    headers: dict[str, str] = {}
    malformed = False
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body, malformed = None, True
    call = ApiCall(world, request, body)
    try:
        _authorize(call)
        key = call.account_id or "-"
        allowed, limit, remaining, reset = call.state.consume(key)
        headers = {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset),
        }
        if not allowed:
            raise ApiFailure(
                429,
                "rate_limit_exceeded",
                "Too many requests; retry after the window resets",
                headers={"Retry-After": str(reset)},
            )
        if malformed:
            raise ApiFailure(400, "bad_request", "The request body is not valid JSON")
        with world.lock:
            status, payload = route(call)
            if call.method in ("PUT", "POST", "DELETE") and not call.path.endswith("/query"):
                lost = world.take_fault(call.method, call.path, after_apply=True)
                if lost is not None:
                    return _with(_fault_answer(lost), headers)
        return JSONResponse(payload, status_code=status, headers=headers)
    except ApiFailure as failure:
        return JSONResponse(
            failure.body(), status_code=failure.status, headers={**headers, **failure.headers}
        )


def _with(response: Response, headers: dict[str, str]) -> Response:
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    return response


def _authorize(call: ApiCall) -> None:
    auth = call.request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    context = call.request.headers.get("x-ap-context")
    if call.path not in _NO_CONTEXT:
        found = _CONTEXT.match(context or "")
        if found is None:
            check = call.world.check_token(token)
            if check != "ok":
                raise _auth_failure(check)
            raise ApiFailure(403, "forbidden", "X-AP-Context: adAccountId=<id> is required")
        call.account_id = found.group(1)
    check = call.world.check_token(token, call.account_id)
    if check == "forbidden":
        raise ApiFailure(403, "forbidden", f"No access to ad account {call.account_id}")
    if check != "ok":
        raise _auth_failure(check)


def _auth_failure(check: str) -> ApiFailure:
    message = "Access token expired" if check == "expired" else "Invalid access token"
    return ApiFailure(401, "unauthorized", message)
