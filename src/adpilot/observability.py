"""Prometheus metrics: request counts and latencies per route template, served at /metrics."""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

router = APIRouter(include_in_schema=False)


class HttpMetrics:
    """One registry per app, so several apps in one process (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "adpilot_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "adpilot_http_request_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )


def _route_template(request: Request) -> str:
    # The template ("/v1/jobs/{jobId}"), never the raw path: ids would explode the label space.
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


def configure_logging() -> None:
    """Pretty logs in a terminal, JSON lines otherwise (a service's log collector reads those).

    Tracebacks are rendered plainly: a rich traceback with every frame's local variables takes
    seconds per error and would let bad requests tie up a worker.
    """
    if sys.stderr.isatty():
        renderer: Any = structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.plain_traceback
        )
        processors: list[Any] = []
    else:
        renderer = structlog.processors.JSONRenderer()
        processors = [structlog.processors.format_exc_info]
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *processors,
            renderer,
        ],
        cache_logger_on_first_use=False,
    )


def install(app: FastAPI) -> None:
    metrics = HttpMetrics()
    app.state.http_metrics = metrics

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_template(request)
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response


@router.get("/metrics")
def prometheus_metrics(request: Request) -> Response:
    metrics: HttpMetrics = request.app.state.http_metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
