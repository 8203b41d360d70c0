"""The fake Meta Graph API as an ASGI app: auth, faults, usage limits, routing, the call log.

Every request goes through the same pipeline: version prefix → token (query, form or Bearer) and
`appsecret_proof` → a queued fault for this path → the ad account's business-use-case budget →
the handler → usage headers on the answer → the world's call log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from adpilot.fakes.meta import insights, nodes, reports, usage, writes
from adpilot.fakes.meta.graph import (
    GraphFault,
    graph_error,
    invalid_param,
    json_param,
    paged,
    parse_fields,
    select,
    unknown_object,
)
from adpilot.fakes.meta.state import MetaState, meta_state
from adpilot.fakes.world import FakeWorld, Fault

VERSION = re.compile(r"^v\d+\.\d+$")
EDGES = {"campaigns": "campaign", "adsets": "adset", "ads": "ad", "adcreatives": "creative"}
# Faults that shape an answer instead of replacing it.
SHAPING_FAULTS = {"empty_page", "job_failed", "job_skipped"}


@dataclass
class Call:
    """One request as the handlers see it."""

    method: str
    path: str
    parts: list[str]
    params: dict[str, str]
    url: str  # scheme://host/path, for paging links
    query: dict[str, str]  # the query string alone (paging links repeat it)
    fault: Fault | None = None
    kind: nodes.Kind | None = None  # of the object node (found with its owner)

    @property
    def write(self) -> bool:
        return self.method in ("POST", "DELETE") and not (
            len(self.parts) == 3 and self.parts[2] == "insights"
        )


class MetaFake:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    @property
    def state(self) -> MetaState:
        return meta_state(self.world)

    def now(self) -> dt.datetime:
        return self.world.clock()

    # ---------------------------------------------------------------- pipeline

    def handle(self, call: Call, bearer: str | None) -> tuple[int, Any, dict[str, str]]:
        headers: dict[str, str] = {}
        account: str | None = None
        try:
            if len(call.parts) < 2 or not VERSION.match(call.parts[0]):
                raise graph_error(2500, f"Unknown path components: {call.path}")
            token = call.params.get("access_token") or bearer
            if not token:
                raise graph_error(104, "An access token is required to request this resource.")
            account = self._owner(call)
            self._check_token(token, account, call.params)
            # Faults match a substring of "<path>?": a fault path ending in "?" pins the end
            # (".../ads?" is the ads edge, not ".../adsets").
            fault = self.world.take_fault(call.method, call.path + "?")
            if fault is not None and fault.kind not in SHAPING_FAULTS:
                raise self._fault_error(fault, account)
            call.fault = fault
            insights_call = "insights" in call.parts
            if account is not None:
                headers = usage.use(self.world, account, call.write, insights_call)
            body = self._route(call, account)
            if call.write:
                late = self.world.take_fault(call.method, call.path + "?", after_apply=True)
                if late is not None:
                    raise self._fault_error(late, account)
            return 200, body, headers
        except GraphFault as fault:
            return fault.status, fault if fault.text else fault.body, {**headers, **fault.headers}

    def _owner(self, call: Call) -> str | None:
        """The ad account a request acts on (None for an unknown object); for an object node
        also its kind, kept on the call for routing."""
        node = call.parts[1]
        if node.startswith("act_"):
            return node
        with self.world.lock:
            report = self.state.reports.get(node)
            if report is not None:
                return report.account
            found = nodes.find_node(self.world, node)
        if found is None:
            return None
        account, call.kind = found
        return account

    def _check_token(self, token: str, account: str | None, params: dict[str, str]) -> None:
        verdict = self.world.check_token(token, account)
        if verdict == "expired":
            raise graph_error(
                190,
                "Error validating access token: Session has expired.",
                subcode=463,
            )
        if verdict == "invalid":
            known = token in self.world.tokens
            raise graph_error(
                190,
                "Error validating access token: The session has been invalidated because the "
                "user changed their password or Facebook has changed the session for security "
                "reasons."
                if known
                else "Invalid OAuth access token - Cannot parse access token",
                subcode=467 if known else None,
            )
        if verdict == "forbidden":
            raise unknown_object(account or "")
        secret = self.state.app_secrets.get(token)
        if secret is not None:
            proof = params.get("appsecret_proof")
            if not proof:
                raise graph_error(
                    100,
                    "API calls from the server require an appsecret_proof argument",
                    kind="GraphMethodException",
                )
            wanted = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(proof, wanted):
                raise graph_error(
                    100,
                    "Invalid appsecret_proof provided in the API argument",
                    kind="GraphMethodException",
                )

    def _fault_error(self, fault: Fault, account: str | None) -> GraphFault:
        data = fault.data
        if fault.kind.startswith("http_"):
            status = int(fault.kind.removeprefix("http_"))
            return GraphFault(status, None, text=str(data.get("text") or "Service Unavailable"))
        code = int(fault.kind)
        headers: dict[str, str] = {}
        regain = data.get("regain_minutes")
        if regain is not None:
            acct = (account or "act_0").removeprefix("act_")
            kind = "ads_insights" if code == 80000 else "ads_management"
            headers["X-Business-Use-Case-Usage"] = json.dumps(
                {acct: [usage.buc_entry(kind, 100.0, float(regain))]}
            )
        return graph_error(
            code,
            str(data.get("message") or f"(#{code}) Simulated error"),
            subcode=data.get("subcode"),
            status=data.get("status"),
            user_msg=data.get("user_msg"),
            transient=bool(data.get("is_transient", code in (1, 2))),
            headers=headers,
        )

    # ---------------------------------------------------------------- routing

    def _route(self, call: Call, account: str | None) -> Any:
        parts, method = call.parts, call.method
        if account is None:
            raise unknown_object(parts[1], method.lower())
        with self.world.lock:
            market = self.world.market(account)
            state, now = self.state, self.now()
            if parts[1].startswith("act_"):
                return self._account_route(call, account, market)
            node = parts[1]
            if node in state.reports:
                return self._report_route(call, reports.live_report(state, node, now), node)
            kind = call.kind
            assert kind is not None
            if len(parts) == 2 and method == "GET":
                i = market.index_of(kind, node)  # type: ignore[arg-type]
                obj = nodes.render(state, account, market, kind, i, now)
                return select(
                    obj,
                    parse_fields(call.params.get("fields")),
                    nodes.NODE_TYPES[kind],
                    nodes.KNOWN_FIELDS[kind],
                )
            if len(parts) == 2 and method == "POST":
                return writes.update(state, account, market, kind, node, call.params, now)
            if len(parts) == 2 and method == "DELETE" and kind in ("campaign", "adset", "ad"):
                return writes.update(state, account, market, kind, node, {"status": "DELETED"}, now)
            if len(parts) == 3 and method == "GET" and parts[2] in ("ads", "adsets"):
                return self._child_listing(call, account, market, kind, node, EDGES[parts[2]])
        raise unknown_object(node, method.lower())

    def _account_route(self, call: Call, account: str, market: Any) -> Any:
        parts, method, params = call.parts, call.method, call.params
        state, now = self.state, self.now()
        if len(parts) == 2 and method == "GET":
            obj = nodes.account_object(state, account, market)
            return select(
                obj, parse_fields(params.get("fields")), "AdAccount", nodes.KNOWN_FIELDS["account"]
            )
        edge = parts[2] if len(parts) == 3 else None
        if edge in EDGES and method == "GET":
            kind = EDGES[edge]
            statuses = json_param(params, "effective_status")
            objs = nodes.listing(state, account, market, kind, now, statuses)
            return self._page(call, objs, kind)
        if edge == "insights" and method == "GET":
            q, currency = self._insights_query(params, account, market)
            found = insights.cached_rows(state, market, account, currency, q)
            refused = insights.too_large(found, state.config.sync_row_limit)
            if refused is not None:
                raise refused
            return self._paged_rows(call, found)
        if edge == "insights" and method == "POST":
            q, currency = self._insights_query(params, account, market)
            found = insights.rows(market, account, currency, q)
            outcome = {"job_failed": "failed", "job_skipped": "skipped"}.get(
                call.fault.kind if call.fault else "", "ok"
            )
            report = reports.start_report(state, account, found, q, now, outcome)
            return {"report_run_id": report.id}
        if edge == "ads" and method == "POST":
            return writes.create_ad(state, account, market, params, now)
        raise unknown_object(f"{account}/{edge}", method.lower())

    def _insights_query(
        self, params: dict[str, str], account: str, market: Any
    ) -> tuple[insights.Query, str]:
        """An insights request (sync or async) parsed, and the currency its rows are in."""
        q = insights.Query(params, market.local_date(self.now()))
        if q.breakdown and q.breakdown not in self.state.config.breakdowns:
            raise invalid_param(f"breakdowns {q.breakdown} is not available for this ad account")
        return q, nodes.currency_of(self.state, account, market)

    def _report_route(self, call: Call, report: Any, node: str) -> Any:
        state, now = self.state, self.now()
        if report is None:
            raise graph_error(
                100,
                f"(#100) The report {node} has expired or does not exist",
                subcode=33,
                kind="GraphMethodException",
            )
        if len(call.parts) == 2 and call.method == "GET":
            return reports.report_status(state, report, now, poll=True)
        if len(call.parts) == 3 and call.parts[2] == "insights" and call.method == "GET":
            return self._paged_rows(call, reports.finished_rows(state, report, now))
        raise unknown_object(node, call.method.lower())

    def _child_listing(
        self, call: Call, account: str, market: Any, parent_kind: str, node: str, kind: str
    ) -> Any:
        if (parent_kind, kind) == ("adset", "ad"):
            picked = market.ads.adset == market.index_of("adset", node)
        elif parent_kind == "campaign":
            in_campaign = market.adsets.campaign == market.index_of("campaign", node)
            picked = in_campaign if kind == "adset" else in_campaign[market.ads.adset]
        else:
            raise unknown_object(f"{node}/{kind}s")
        rows = [int(i) for i in np.flatnonzero(picked)]
        statuses = json_param(call.params, "effective_status")
        objs = nodes.listing(self.state, account, market, kind, self.now(), statuses, rows)
        return self._page(call, objs, kind)

    def _page(self, call: Call, objs: list[dict[str, Any]], kind: str) -> Any:
        """One page of objects with the requested fields (and `summary.total_count`)."""
        specs = parse_fields(call.params.get("fields"))
        node_type, known = nodes.NODE_TYPES[kind], nodes.KNOWN_FIELDS[kind]
        summary = (
            {"total_count": len(objs)}
            if call.params.get("summary") in ("true", "1", "total_count")
            else None
        )
        body = self._paged_rows(call, objs, summary=summary)
        body["data"] = [select(o, specs, node_type, known) for o in body["data"]]
        return body

    def _paged_rows(
        self,
        call: Call,
        found: list[dict[str, Any]],
        *,
        summary: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        config = self.state.config
        return paged(
            found,
            call.url,
            call.query,
            default_limit=config.default_limit,
            max_limit=config.max_limit,
            empty=bool(call.fault and call.fault.kind == "empty_page"),
            summary=summary,
        )


def create_app(world: FakeWorld) -> Starlette:
    fake = MetaFake(world)

    async def endpoint(request: Request) -> Response:
        query = dict(request.query_params)
        params = dict(query)
        if request.method == "POST":
            # Graph writes are form-encoded (application/x-www-form-urlencoded).
            params.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        auth = request.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        path = request.url.path
        call = Call(
            method=request.method,
            path=path,
            parts=[p for p in path.split("/") if p],
            params=params,
            url=f"{request.url.scheme}://{request.url.netloc}{path}",
            query=query,
        )
        status, body, headers = await run_in_threadpool(fake.handle, call, bearer)
        world.log_call(request.method, path, params, status)
        if isinstance(body, GraphFault):
            return PlainTextResponse(body.text, status_code=status, headers=headers)
        return Response(
            json.dumps(body, separators=(",", ":")),
            status_code=status,
            headers=headers,
            media_type="application/json",
        )

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST", "DELETE"])])
