"""Prometheus metrics: requests by route and status, latency, query errors, timeouts, restarts, writes.

Each app has its own registry (several apps may live in one test process), and a pure ASGI
middleware counts every request under its route template (``/sparql``, not the query string),
so the label set stays small.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    """The server's metrics, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("mildip_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("mildip_http_request_duration_seconds",
                                 "HTTP request latency by route",
                                 ["route"], registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.query_errors = Counter("mildip_query_errors",
                                    "SPARQL requests answered with an error, by reason",
                                    ["reason"], registry=self.registry)
        self.timeouts = Counter("mildip_query_timeouts", "Queries stopped at the time limit",
                                registry=self.registry)
        self.worker_restarts = Counter("mildip_worker_restarts", "Query workers started to replace "
                                       "killed or dead ones", registry=self.registry)
        self.writes = Counter("mildip_writes", "Writes (SPARQL Update, Graph Store) by outcome: committed, "
                              "unchanged, refused, failed", ["outcome"], registry=self.registry)
        self.workers = Gauge("mildip_workers", "Live query worker processes", registry=self.registry)

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, with its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
