"""Prometheus metrics: requests by route and status, latency, query errors, timeouts, restarts, writes.

Each app has its own registry (several apps may live in one test process), and a pure ASGI
middleware counts every request under its route template (``/sparql``, not the query string),
so the label set stays small. When several server processes share a port (``mildip serve
--processes N``) they keep their values in ``$PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode) and ``/metrics`` reports the sums over all of them, whichever answers.
"""

from __future__ import annotations

import os
import time
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LIVE_SUM: Final = "livesum"
MAX_SERIES = 1024
"""Labelled series :class:`MetricsMiddleware` keeps at hand (the others are looked up each time)."""
"""How a gauge is combined over server processes: the sum over the live ones."""


class Metrics:
    """The server's metrics, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mildip_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mildip_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.query_errors = Counter(
            "mildip_query_errors",
            "SPARQL requests answered with an error, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.timeouts = Counter(
            "mildip_query_timeouts", "Queries stopped at the time limit", registry=self.registry
        )
        self.worker_restarts = Counter(
            "mildip_worker_restarts",
            "Query workers started to replace killed or dead ones",
            registry=self.registry,
        )
        self.writes = Counter(
            "mildip_writes",
            "Writes (SPARQL Update, Graph Store) by outcome: committed, unchanged, refused, failed",
            ["outcome"],
            registry=self.registry,
        )
        self.workers = Gauge(
            "mildip_workers",
            "Live query worker processes",
            registry=self.registry,
            multiprocess_mode=LIVE_SUM,
        )

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format (summed over the server processes when there are
        several), with its content type."""
        if not shared_between_processes():
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        combined = CollectorRegistry()
        MultiProcessCollector(combined)
        return generate_latest(combined), CONTENT_TYPE_LATEST


def shared_between_processes() -> bool:
    """True in a server process that shares its metrics with others (multiprocess mode)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def forget_this_process() -> None:
    """At a server process's exit: its gauges leave the sums (its counters stay counted)."""
    if shared_between_processes():
        mark_process_dead(os.getpid())


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self._counted: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        """The labelled counter and histogram of each route, method and status seen (looking a
        labelled child up takes a lock and a few dictionaries at every request otherwise)."""

    def _series(self, route: str, method: str, status: str) -> tuple[Any, Any]:
        found = self._counted.get((route, method, status))
        if found is None:
            found = self.metrics.requests.labels(route, method, status), self.metrics.latency.labels(route)
            if len(self._counted) < MAX_SERIES:  # methods and statuses are the client's to vary
                self._counted[route, method, status] = found
        return found

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
            requests, latency = self._series(route, scope["method"], str(status))
            requests.inc()
            latency.observe(time.perf_counter() - started)
