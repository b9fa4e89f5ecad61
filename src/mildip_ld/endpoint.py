"""The HTTP server: a SPARQL 1.1 Protocol endpoint at ``/sparql``, ``/health`` and ``/metrics``.

Queries never run in the server process: they go to a pool of worker processes
(:mod:`mildip_ld.pool`), each with the release's store open read-only, under a time limit that
kills the worker when it is passed. The dumps and page routers are mounted beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import conneg, dumps, pages, service_description
from .build import current_release
from .metrics import Metrics, MetricsMiddleware
from .namespaces import GRAPH_BASE, PREFIXES
from .pool import PoolError, QueryTimeoutError, WorkerConfig, WorkerPool
from .protocol import Operation, ProtocolError, SparqlRequest, read_request
from .query_scan import refused_services, scan
from .settings import EMBEDDED_STORE, Settings

OWN_PATHS = ("/sparql", "/health", "/metrics")
STATS_TIMEOUT_S = 120.0
DISCONNECT_POLL_S = 0.25


def resolve_release(settings: Settings) -> Path:
    """The release folder to serve: the build's current release, or ``settings.store`` as a path."""
    if settings.store == EMBEDDED_STORE:
        release = current_release(Path(settings.build_dir))
        if release is None:
            raise FileNotFoundError(f"nothing built in {settings.build_dir}; run `mildip build`")
        return release
    return Path(settings.store).resolve()


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> PlainTextResponse:
    return PlainTextResponse(message.rstrip("\n") + "\n", status_code=status, headers=headers)


def _reason(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


class Endpoint:
    """The state and handlers of one served release."""

    def __init__(self, settings: Settings, release: Path, metrics: Metrics) -> None:
        self.settings, self.release, self.metrics = settings, release, metrics
        size = 1 if settings.updates_enabled else settings.workers  # one writer, never beside readers
        config = WorkerConfig(str(release), writable=settings.updates_enabled,
                              max_results=settings.max_results, memory_mb=settings.worker_memory_mb,
                              prefixes={prefix: str(ns) for prefix, ns in PREFIXES.items()})
        self.pool = WorkerPool(config, size, on_restart=metrics.worker_restarts.inc)
        self.counts: dict[str, Any] = {"graphs": {}, "default": 0, "quads": 0}
        self._tasks: set[asyncio.Future[None]] = set()

    async def refresh_counts(self) -> None:
        """Count the triples of each graph (run at start and after each update)."""
        reply = await self.pool.run({"op": "stats"}, STATS_TIMEOUT_S)
        if reply.status == 200:
            self.counts = json.loads(reply.body)

    def graph_counts(self) -> dict[str, int]:
        """Triples per named graph, keyed by short name for the project's graphs."""
        return {iri.removeprefix(GRAPH_BASE): count for iri, count in self.counts["graphs"].items()}

    def limits(self) -> str:
        """The limits every query runs under, in words."""
        return (f"Every query is stopped after {self.settings.query_timeout_s:g} s; an answer may hold at "
                f"most {self.settings.max_results} solutions or triples; a query may be at most "
                f"{self.settings.max_query_bytes} bytes long.")

    def refuse(self, status: int, message: str, headers: dict[str, str] | None = None,
               reason: str | None = None) -> PlainTextResponse:
        """A plain-text error answer, counted as a query error."""
        self.metrics.query_errors.labels(reason or _reason(status)).inc()
        return _text(status, message, headers)

    def _authorize(self, request: Request) -> None:
        token = self.settings.update_token
        if not self.settings.updates_enabled or token is None:
            raise ProtocolError(403, "SPARQL Update is disabled: this endpoint is read-only")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), token.get_secret_value().encode()):
            raise ProtocolError(403, "SPARQL Update needs the header 'Authorization: Bearer <token>' "
                                     "with this endpoint's update token; it is missing or wrong")

    def _job(self, request: Request, operation: SparqlRequest) -> dict[str, Any]:
        """The worker job for a query or update, after the safety checks and content negotiation."""
        found = scan(operation.text)
        if found.loads:
            raise ProtocolError(400, "LOAD is not allowed on this endpoint (it would fetch from the network)")
        refused = refused_services(found, self.settings.service_allowlist)
        if refused:
            allowed = ", ".join(f"<{iri}>" for iri in self.settings.service_allowlist)
            raise ProtocolError(400, f"SERVICE {', '.join(refused)} is not allowed: federated queries may "
                                     f"only call {allowed or 'no endpoint (SERVICE is disabled here)'}")
        if operation.operation is Operation.UPDATE:
            return {"op": "update", "text": operation.text}
        try:
            choice = conneg.choose(request.headers.get("accept"), operation.formats)
        except conneg.UnknownFormatError as failure:
            raise ProtocolError(400, str(failure)) from None
        if choice.results is None and choice.graph is None:
            raise ProtocolError(406, f"nothing this endpoint serves is acceptable ({choice.asked}); it "
                                     f"offers {conneg.offered('results')} for SELECT/ASK and "
                                     f"{conneg.offered('graph')} for CONSTRUCT/DESCRIBE")
        job: dict[str, Any] = {"op": "query", "text": operation.text, "asked": choice.asked,
                               "results": choice.results.media_type if choice.results else None,
                               "graph": choice.graph.media_type if choice.graph else None,
                               "union": not found.has_dataset_clause}
        if operation.dataset_given:
            job |= {"default_graphs": operation.default_graphs, "named_graphs": operation.named_graphs}
        return job

    async def _run(self, request: Request, job: dict[str, Any]) -> Response:
        """Run ``job`` on the pool; kill its worker if the client goes away before the answer."""
        task = asyncio.ensure_future(self.pool.run(job, self.settings.query_timeout_s))
        while not (await asyncio.wait({task}, timeout=DISCONNECT_POLL_S))[0]:
            if await request.is_disconnected():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                self.metrics.query_errors.labels("client_disconnected").inc()
                return Response(status_code=499)
        try:
            reply = task.result()
        except PoolError as failure:
            if isinstance(failure, QueryTimeoutError):
                self.metrics.timeouts.inc()
            return self.refuse(failure.status, str(failure), failure.headers, failure.reason)
        if reply.status >= 400:
            return self.refuse(reply.status, reply.body.decode("utf-8", "replace"))
        if job["op"] == "update":
            refresh = asyncio.ensure_future(self.refresh_counts())
            self._tasks.add(refresh)
            refresh.add_done_callback(self._tasks.discard)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    def description(self, request: Request, operation: SparqlRequest) -> Response:
        """The service description, in the RDF format the client prefers."""
        try:
            fmt = conneg.choose(request.headers.get("accept"), operation.formats).graph
        except conneg.UnknownFormatError as failure:
            return self.refuse(400, str(failure))
        if fmt is None:
            return self.refuse(406, f"the service description is offered as {conneg.offered('graph')}")
        triples = service_description.describe(
            str(request.url_for("sparql")), self.counts["graphs"], self.counts["quads"],
            updates=self.settings.updates_enabled, federation=bool(self.settings.service_allowlist),
            limits=self.limits())
        return Response(service_description.serialize(triples, fmt), media_type=conneg.media_type(fmt))

    async def sparql(self, request: Request) -> Response:
        """The SPARQL 1.1 Protocol operation: query, update or service description."""
        try:
            operation = await read_request(request, self.settings.max_query_bytes)
            if operation.operation is Operation.DESCRIPTION:
                return self.description(request, operation)
            if operation.operation is Operation.UPDATE:
                self._authorize(request)
            job = self._job(request, operation)
        except ProtocolError as failure:
            return self.refuse(failure.status, failure.message, failure.headers)
        return await self._run(request, job)

    def health(self) -> JSONResponse:
        """Liveness without touching a worker (so it answers while every worker is busy)."""
        alive = len(self.pool.pids)
        status = "ok" if alive >= self.pool.size else "degraded" if alive else "down"
        return JSONResponse({"status": status, "release": self.release.name,
                             "triples": self.counts["quads"], "graphs": self.graph_counts(),
                             "workers": alive}, status_code=503 if status == "down" else 200)

    def router(self) -> APIRouter:
        """The routes of this module: /sparql, /health, /metrics."""
        router = APIRouter()
        router.add_api_route("/sparql", self.sparql, methods=["GET", "POST"], name="sparql",
                             summary="SPARQL 1.1 Protocol: query, update, service description",
                             response_class=Response)
        router.add_api_route("/health", self.health, methods=["GET"], summary="Liveness and size",
                             response_class=JSONResponse)
        router.add_api_route("/metrics", self.prometheus, methods=["GET"], summary="Prometheus metrics",
                             response_class=Response)
        return router

    def prometheus(self) -> Response:
        """Prometheus text exposition of the metrics."""
        self.metrics.workers.set(len(self.pool.pids))
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)


async def _plain_errors(request: Request, failure: Exception) -> Response:
    """Readable text errors (405, 404...) on this module's routes; the default elsewhere."""
    assert isinstance(failure, StarletteHTTPException)
    if request.url.path.startswith(OWN_PATHS):
        return _text(failure.status_code, str(failure.detail), failure.headers)
    return await http_exception_handler(request, failure)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI application serving the release chosen by ``settings`` (environment by default)."""
    settings = settings or Settings()
    release = resolve_release(settings)
    metrics = Metrics()
    endpoint = Endpoint(settings, release, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await endpoint.pool.start()
        try:
            await endpoint.refresh_counts()
            yield
        finally:
            await endpoint.pool.close()

    app = FastAPI(title="mildip-ld", summary="Linked data on military diplomacy: SPARQL endpoint",
                  lifespan=lifespan)
    app.state.settings, app.state.release, app.state.endpoint = settings, release, endpoint
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"],
                       allow_headers=["*"], max_age=3600)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_exception_handler(StarletteHTTPException, _plain_errors)
    app.include_router(endpoint.router())
    app.include_router(dumps.router)
    app.include_router(pages.router)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory mildip_ld.endpoint:app_from_env`` (settings from MILDIP_*)."""
    return create_app(Settings())
