"""The HTTP server: a SPARQL 1.1 Protocol endpoint at ``/sparql``, ``/health`` and ``/metrics``.

Queries never run in the server process: they go to a pool of worker processes
(:mod:`mildip_ld.engine.pool`), each with the release's store open read-only, under a time limit that
kills the worker when it is passed. Writes (SPARQL Update here, the Graph Store Protocol in
:mod:`mildip_ld.server.graph_store`) are parsed first by a parser process under the parse budget
(:mod:`mildip_ld.curation.write_parse`), then go to a writer process (:mod:`mildip_ld.curation.writer`) that
publishes a new, validated release; the server then moves its workers, pages and dumps to that release
(:meth:`Endpoint.switch`). The dumps and page routers are mounted beside it.

The served build folder's ``current`` link is read again at every request
(:class:`ReleaseFollowMiddleware`): a release published by ``mildip build``, or by a write
answered by another server process on the same port, is served from the next request on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from mildip_ld.curation.write_parse import N_TRIPLES, ParserConfig
from mildip_ld.curation.writer import WriterConfig
from mildip_ld.engine.backend import QueryBackend
from mildip_ld.engine.messages import Answer, Job, QueryJob, StatsJob
from mildip_ld.engine.pool import (
    PoolClosedError,
    PoolError,
    QueryTimeoutError,
    WorkerConfig,
    WorkerDiedError,
    WorkerPool,
)
from mildip_ld.engine.remote import RemoteStore, remote_url
from mildip_ld.release.build import CURRENT_LINK, MANIFEST_FILE, current_release
from mildip_ld.release.releases import PreconditionError, write_conditions
from mildip_ld.server import graph_store, openapi, service_description
from mildip_ld.server.http_limits import REFUSED
from mildip_ld.server.metrics import Metrics
from mildip_ld.server.protocol import (
    ClientDisconnectedError,
    Operation,
    ProtocolError,
    SparqlRequest,
    read_request,
)
from mildip_ld.server.render_gate import RenderGate
from mildip_ld.server.response_cache import CACHEABLE, ResponseCache
from mildip_ld.server.security import UnauthorizedError, authorize
from mildip_ld.vocab import conneg
from mildip_ld.vocab.namespaces import GRAPH_BASE, PREFIXES
from mildip_ld.vocab.settings import EMBEDDED_STORE, Settings

if TYPE_CHECKING:
    from uvicorn._types import HTTPScope

OWN_PATHS = ("/sparql", "/health", "/metrics", graph_store.PATH)
STATS_TIMEOUT_S = 120.0
DISCONNECT_POLL_S = 0.25
WRITE_ANSWER = "mildip.write_answer"
"""Set in the request's scope when /sparql answers an update (whose answer does not vary on Accept)."""
ENDPOINT_URLS = 256
"""Distinct URLs of the endpoint (one per ``Host`` a client sends) kept by :meth:`Endpoint.endpoint_url`."""
CLIENT_CLOSED_REQUEST = 499
"""nginx's status for a request whose client closed the connection before it was answered."""
log = logging.getLogger(__name__)
access_log = logging.getLogger("uvicorn.access")
"""uvicorn's access log (silent under ``--no-access-log``), which records no request whose client
has gone: :meth:`Endpoint.client_gone` writes their line."""


class DisconnectWatch:
    """Within its block, checks every :data:`DISCONNECT_POLL_S` whether the client of ``request``
    went away, and if so cancels the task running the block (whose query's worker is then killed:
    :meth:`~mildip_ld.engine.pool.WorkerPool.run`). The checks start from a timer, so an answer
    quicker than the first costs no task and no wait of its own."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._checking: asyncio.Task[None] | None = None
        self._done = self._gone = False

    def __enter__(self) -> DisconnectWatch:
        self._task = asyncio.current_task()
        self._schedule()
        return self

    def __exit__(self, *_: object) -> None:
        self._done = True
        if self._timer is not None:
            self._timer.cancel()

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(DISCONNECT_POLL_S, self._start_check)

    def _start_check(self) -> None:
        self._checking = asyncio.get_running_loop().create_task(self._check())  # kept: a task is weak

    async def _check(self) -> None:
        gone = await self.request.is_disconnected()
        if self._done:
            return
        if gone and self._task is not None:
            self._gone = True
            self._task.cancel()
        else:
            self._schedule()

    def stopped(self) -> bool:
        """True when the block was cancelled because the client went away (the cancellation is
        then taken back: the task goes on to answer the client that left)."""
        if self._gone and self._task is not None:
            self._task.uncancel()
        return self._gone


class RequestOnlyRoute(APIRoute):
    """A route whose endpoint takes the request alone and returns its whole response: it is called
    as it is, without FastAPI's dependency solving and response validation (a sixth of a
    lookup's time in the server, for an endpoint that has neither). Its OpenAPI description is
    the route's own, as for any route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


def resolve_release(settings: Settings) -> Path:
    """The release folder to serve: the build's current release (whose pages and dumps a remote
    store's server serves too), or ``settings.store`` as a path."""
    if settings.store == EMBEDDED_STORE or remote_url(settings.store) is not None:
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
    """The state and handlers of the served release: query workers, the writer, the counts."""

    def __init__(self, settings: Settings, release: Path, metrics: Metrics) -> None:
        self.settings, self.release, self.metrics = settings, release, metrics
        self.pool: QueryBackend = self._query_pool(release)
        self.writer: WorkerPool | None = None
        self.parser: WorkerPool | None = None
        """Parses each write before the writer sees it (:mod:`mildip_ld.curation.write_parse`)."""
        if settings.updates_enabled:
            self.writer = WorkerPool(WriterConfig.of(settings), 1, module="mildip_ld.curation.writer")
            self.parser = WorkerPool(
                ParserConfig(settings.parse_memory_mb, settings.worker_nice, settings.max_nesting),
                1,
                module="mildip_ld.curation.write_parse",
            )
        self.counts: dict[str, Any] = {"graphs": {}, "default": 0, "quads": 0}
        self.on_release: Callable[[Path], None] = lambda _: None
        """Called with the new release after each switch (the app points its pages there)."""
        self._tasks: set[asyncio.Future[None]] = set()
        self._write_lock = asyncio.Lock()
        self._switch_lock = asyncio.Lock()
        self._current_link = os.path.join(settings.build_dir, CURRENT_LINK)
        self._followed = self._read_current()
        """The ``current`` link's text when it was last followed (a write's own switch is followed
        at the next request, which then finds its release served already)."""
        self._endpoint_urls: dict[tuple[Any, ...], str] = {}
        self.cache: ResponseCache | None = None
        if settings.response_cache_mb and remote_url(settings.store) is None:
            self.cache = ResponseCache(settings.response_cache_mb * 2**20, metrics)
        self.gate = RenderGate(
            settings.render_concurrency,
            settings.render_queue,
            settings.render_timeout_s,
            settings.page_cache_mb * 2**20,
            metrics,
        )
        """Renders pages, VoID, dumps listings and Graph Store reads (:mod:`mildip_ld.server.render_gate`)."""

    def _query_pool(self, release: Path) -> QueryBackend:
        config = WorkerConfig(
            str(release),
            max_results=self.settings.max_results,
            memory_mb=self.settings.worker_memory_mb,
            nice=self.settings.worker_nice,
            prefixes=dict(PREFIXES),
            service_allowlist=self.settings.service_allowlist,
            max_nesting=self.settings.max_nesting,
        )
        url = remote_url(self.settings.store)
        if url is not None:  # a remote SPARQL store (mildip_ld.engine.remote) in the pool's place
            return RemoteStore(
                url,
                config,
                self.settings.workers,
                max_pending=self.settings.max_pending,
                credentials=self.settings.store_credentials(),
            )
        return WorkerPool(
            config,
            self.settings.workers,
            on_restart=self._worker_restarted,
            max_pending=self.settings.max_pending,
        )

    def _count_workers(self) -> None:
        """Update the live-workers gauge (other server processes read it through the shared metrics)."""
        self.metrics.workers.set(len(self.pool.pids))

    def _worker_restarted(self) -> None:
        self.metrics.worker_restarts.inc()
        self._count_workers()

    async def start(self) -> None:
        """Start the query workers (and the writer and its parser), then count the triples."""
        helpers = [pool.start() for pool in (self.writer, self.parser) if pool is not None]
        await asyncio.gather(self.pool.start(), *helpers)  # each process starts on its own
        self._count_workers()
        for who, backend in self._confined_pools():
            warning = backend.confinement.warning(who) if backend.confinement else None
            if warning:
                log.warning(warning)
        await self.refresh_counts()

    def _confined_pools(self) -> list[tuple[str, QueryBackend]]:
        """The backends whose processes run under the network sandbox (a remote store has none)."""
        named = (
            ("the query workers", self.pool),
            ("the writer", self.writer),
            ("the write parser", self.parser),
        )
        return [(who, pool) for who, pool in named if pool is not None and pool.confinement is not None]

    def network_sandbox(self) -> str:
        """The weakest network sandbox any query worker or the writer runs in (``none`` without one)."""
        found = [pool.confinement for _, pool in self._confined_pools() if pool.confinement is not None]
        return min(found, key=lambda confinement: len(confinement.applied)).name if found else "none"

    async def close(self) -> None:
        """Stop every worker process (the writer included)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pool.close()
        for pool in (self.writer, self.parser):
            if pool is not None:
                await pool.close()
        self.gate.close()

    def _background(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def submit(self, job: Job, timeout: float) -> Answer:
        """Run ``job`` on the current release's workers (the new ones if a switch happens meanwhile)."""
        while True:
            pool = self.pool
            try:
                return await pool.run(job, timeout)
            except PoolClosedError:
                if pool is self.pool:
                    raise

    async def refresh_counts(self) -> None:
        """Count the triples of each graph (run at start and after each switch)."""
        reply = await self.submit(StatsJob(), STATS_TIMEOUT_S)
        if reply.status == 200:
            self.counts = json.loads(reply.body)

    async def switch(self, release: Path) -> None:
        """Serve ``release`` from now on: start its workers, hand them new jobs, let the old
        workers finish what they run (then stop them), and point the pages and dumps there."""
        release = release.resolve()
        async with self._switch_lock:  # one switch at a time: a write's and a follower's may race
            if release == self.release:
                return
            pool = self._query_pool(release)
            await pool.start()
            old, self.pool, self.release = self.pool, pool, release
            self._count_workers()
            if self.cache is not None:
                self.cache.clear()
            self.gate.clear()
            self.on_release(release)
            self._background(old.drain(2 * self.settings.query_timeout_s + 1))
            await self.refresh_counts()

    def _read_current(self) -> str | None:
        """What the build's ``current`` link says (``releases/NAME``), or None without one."""
        try:
            return os.readlink(self._current_link)
        except OSError:
            return None

    def current_moved(self) -> bool:
        """True when ``current`` changed since it was last followed: one readlink, no allocation
        of paths, as it runs before every request."""
        return self._read_current() != self._followed

    async def follow_current(self) -> None:
        """Switch to the release ``current`` names if it is not the one served. A release that
        cannot be served is logged and skipped until ``current`` moves again."""
        link = self._read_current()
        if link is None or link == self._followed:
            return
        release = (Path(self.settings.build_dir) / link).resolve()
        if release != self.release:
            try:
                await self.switch(release)
            except (OSError, RuntimeError) as failure:
                log.error(
                    "cannot serve the new current release %s, still serving %s: %s",
                    release.name,
                    self.release.name,
                    failure,
                )
        self._followed = link

    def graph_counts(self) -> dict[str, int]:
        """Triples per named graph, keyed by short name for the project's graphs."""
        return {iri.removeprefix(GRAPH_BASE): count for iri, count in self.counts["graphs"].items()}

    def limits(self) -> str:
        """The limits every query runs under, in words."""
        return (
            f"Every query is stopped after {self.settings.query_timeout_s:g} s; an answer may hold at "
            f"most {self.settings.max_results} solutions or triples; a query may be at most "
            f"{self.settings.max_query_bytes} bytes long."
        )

    def refuse(
        self, status: int, message: str, headers: dict[str, str] | None = None, reason: str | None = None
    ) -> PlainTextResponse:
        """A plain-text error answer, counted as a query error."""
        self.metrics.query_errors.labels(reason or _reason(status)).inc()
        return _text(status, message, headers)

    def client_gone(self, request: Request) -> Response:
        """The answer to a client that closed its connection (the query killed, the body not
        read): counted, and one line in the access log, in uvicorn's own format, status 499 (none
        when the HTTP layer refused the request's trailer and logged that: :data:`REFUSED`)."""
        self.metrics.query_errors.labels("client_disconnected").inc()
        if REFUSED not in request.scope:
            scope = cast("HTTPScope", request.scope)
            access_log.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(scope),
                request.method,
                get_path_with_query_string(scope),
                request.scope.get("http_version", "1.1"),
                CLIENT_CLOSED_REQUEST,
            )
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    def endpoint_url(self, request: Request) -> str:
        """This endpoint's URL as ``request`` names it (``url_for("sparql")``: scheme, ``Host``, root
        path), kept per distinct name: working it out walks the routes, a tenth of a lookup's time
        in the server. At most :data:`ENDPOINT_URLS` are kept (``Host`` is the client's to choose)."""
        scope = request.scope
        key = (
            scope.get("scheme"),
            scope.get("server"),
            scope.get("root_path", ""),
            request.headers.get("host"),
        )
        found = self._endpoint_urls.get(key)
        if found is None:
            if len(self._endpoint_urls) >= ENDPOINT_URLS:
                self._endpoint_urls.clear()
            found = self._endpoint_urls[key] = str(request.url_for("sparql"))
        return found

    def authorize(self, request: Request, what: str) -> None:
        """Raise a 403 :class:`ProtocolError` unless ``request`` may write."""
        try:
            authorize(request, self.settings, what)
        except UnauthorizedError as refused:
            raise ProtocolError(403, str(refused)) from None

    def _job(self, request: Request, operation: SparqlRequest) -> QueryJob | dict[str, Any]:
        """The worker job for a query or update, after content negotiation. The safety checks of
        :func:`~mildip_ld.engine.query_safety.refusal` run in the worker (or writer), off the event loop.
        Relative IRIs resolve against the endpoint's URL (the base the SPARQL 1.1 Protocol allows)."""
        base_iri = self.endpoint_url(request)
        if operation.operation is Operation.UPDATE:
            return {
                "op": "update",
                "text": operation.text,
                "base_iri": base_iri,
                "using_graphs": operation.using_graphs,
                "using_named_graphs": operation.using_named_graphs,
            }
        try:
            choice = conneg.choose(request.headers.get("accept"), operation.formats)
        except conneg.UnknownFormatError as failure:
            raise ProtocolError(400, str(failure)) from None
        if choice.results is None and choice.graph is None:
            raise ProtocolError(
                406,
                f"nothing this endpoint serves is acceptable ({choice.asked}); it "
                f"offers {conneg.offered('results')} for SELECT/ASK and "
                f"{conneg.offered('graph')} for CONSTRUCT/DESCRIBE",
            )
        given = operation.dataset_given
        return QueryJob(
            operation.text,
            results=choice.results.media_type if choice.results else None,
            graph=choice.graph.media_type if choice.graph else None,
            asked=choice.asked,
            base_iri=base_iri,
            default_graphs=operation.default_graphs if given else None,
            named_graphs=operation.named_graphs if given else None,
        )

    async def run_query(self, request: Request, job: QueryJob) -> Response:
        """Run ``job`` on the backend; kill its worker if the client goes away before the answer
        (:class:`DisconnectWatch`)."""
        with DisconnectWatch(request) as watch:
            try:
                reply = await self.submit(job, self.settings.query_timeout_s)
            except asyncio.CancelledError:
                if not watch.stopped():
                    raise
                return self.client_gone(request)
            except PoolError as failure:
                if isinstance(failure, QueryTimeoutError):
                    self.metrics.timeouts.inc()
                return self.refuse(failure.status, str(failure), failure.headers, failure.reason)
        if reply.status >= 400:
            return self.refuse(reply.status, reply.body.decode("utf-8", "replace"))
        if reply.meta.get("repeatable"):
            request.scope[CACHEABLE] = True
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    def _committed(self, write_id: str) -> Path | None:
        """The current release if it was published by the write ``write_id`` (a writer killed after
        its switch of ``current`` but before its answer did commit)."""
        release = current_release(Path(self.settings.build_dir))
        if release is None or release == self.release:
            return None
        with contextlib.suppress(OSError, ValueError):
            if json.loads((release / MANIFEST_FILE).read_text()).get("write_id") == write_id:
                return release
        return None

    async def write(self, request: Request, job: dict[str, Any]) -> Response:
        """Run a write job on the writer, one at a time; on success serve the release it published.

        204 when applied (or when it changed nothing); otherwise the refusal, with the shape
        violations as text, or as JSON when the client prefers ``application/json``.
        """
        if self.writer is None:
            return self.refuse(403, "writes are disabled: this endpoint is read-only")
        parsed = await self._parse(request, job)
        if isinstance(parsed, Response):
            return parsed
        try:
            job = {**parsed, "write_id": uuid.uuid4().hex, **write_conditions(request.headers)}
        except PreconditionError as refused:
            return self.refuse(refused.status, refused.message)
        async with self._write_lock:
            try:
                reply = await self.writer.run(job, self.settings.write_timeout_s)
            except PoolError as failure:
                committed = self._committed(job["write_id"])
                if committed is None:
                    self.metrics.writes.labels("failed").inc()
                    stopped = (
                        f"exceeded the {self.settings.write_timeout_s:g} s limit and was stopped"
                        if isinstance(failure, QueryTimeoutError)
                        else "failed: the writer process died"
                    )
                    return self.refuse(
                        503,
                        f"the write {stopped}; nothing was changed",
                        failure.headers,
                        "write_" + failure.reason,
                    )
                reply = Answer(204, None, b"", {"release": str(committed)})
            if reply.status >= 400:
                self.metrics.writes.labels("refused" if reply.status < 500 else "failed").inc()
                return self.write_refusal(request, reply)
            timings = dict(reply.meta.get("timings", {}))
            if reply.meta.get("release"):
                started = time.perf_counter()
                await self.switch(Path(reply.meta["release"]))
                timings["switch"] = time.perf_counter() - started
        self.metrics.writes.labels("committed" if reply.meta.get("release") else "unchanged").inc()
        server_timing = ", ".join(f"{stage};dur={seconds * 1000:.0f}" for stage, seconds in timings.items())
        return Response(
            status_code=204,
            headers={
                "X-Mildip-Release": self.release.name,
                "X-Mildip-Write": job["write_id"],
                "Server-Timing": server_timing,
            },
        )

    async def _parse(self, request: Request, job: dict[str, Any]) -> dict[str, Any] | Response:
        """Parse a write's body or update in the parser process, outside the writer's lock, under
        the parse budget (killed past it); the job for the writer (a body as the N-Triples the
        parser gave), or the refusal."""
        if job["op"] == "graph" and job["method"] == "DELETE":
            return job
        assert self.parser is not None
        settings = self.settings
        try:
            reply = await self.parser.run(job, settings.parse_timeout_s, wait=settings.write_timeout_s)
        except PoolError as failure:
            self.metrics.writes.labels("refused").inc()
            return self.refuse(*self._parse_failure(failure), failure.headers, "parse_" + failure.reason)
        if reply.status >= 400:
            self.metrics.writes.labels("refused").inc()
            return self.write_refusal(request, reply)
        if job["op"] == "graph":
            return {**job, "payload": base64.b64encode(reply.body).decode("ascii"), "media_type": N_TRIPLES}
        return job

    def _parse_failure(self, failure: PoolError) -> tuple[int, str]:
        """The status and message of a parse the parser process did not finish."""
        if isinstance(failure, QueryTimeoutError):
            return 422, (
                f"parsing the write took longer than its {self.settings.parse_timeout_s:g} s budget "
                f"(MILDIP_PARSE_TIMEOUT_S) and was stopped; nothing was changed"
            )
        if isinstance(failure, WorkerDiedError):
            return 413, (
                f"parsing the write needed more than its {self.settings.parse_memory_mb} MiB memory "
                f"budget (MILDIP_PARSE_MEMORY_MB) and was stopped; nothing was changed"
            )
        return 503, f"the write could not be parsed now ({failure}); nothing was changed"

    def write_refusal(self, request: Request, reply: Answer) -> Response:
        """A refused write's answer: JSON when asked for, else text naming each violated shape."""
        refusal = json.loads(reply.body)
        if conneg.prefers_json(request.headers.get("accept")):
            self.metrics.query_errors.labels(_reason(reply.status)).inc()
            return JSONResponse(refusal, status_code=reply.status)
        lines = [refusal["message"]]
        for violation in refusal["violations"]:
            lines.append(f"- shape: {violation['rule']}")
            lines += [f"  {key}: {violation[key]}" for key in ("focus", "path", "value") if violation[key]]
            lines.append(f"  message: {violation['message']}")
        return self.refuse(reply.status, "\n".join(lines))

    def description(self, request: Request, operation: SparqlRequest) -> Response:
        """The service description, in the RDF format the client prefers."""
        try:
            fmt = conneg.choose(request.headers.get("accept"), operation.formats).graph
        except conneg.UnknownFormatError as failure:
            return self.refuse(400, str(failure))
        if fmt is None:
            return self.refuse(406, f"the service description is offered as {conneg.offered('graph')}")
        triples = service_description.service_triples(
            self.endpoint_url(request),
            self.counts["graphs"],
            self.counts["quads"],
            updates=self.settings.updates_enabled,
            federation=bool(self.settings.service_allowlist),
            limits=self.limits(),
            graph_store=str(request.url_for("graph_store")),
        )
        return Response(service_description.serialize(triples, fmt), media_type=conneg.media_type(fmt))

    async def sparql(self, request: Request) -> Response:
        """The SPARQL 1.1 Protocol operation: query, update or service description; every answer
        but a write's varies on ``Accept`` (``Vary: Accept``), which chose its format."""
        answer = await self._sparql(request)
        if not request.scope.get(WRITE_ANSWER):
            answer.headers["Vary"] = "Accept"
        return answer

    async def _sparql(self, request: Request) -> Response:
        try:
            limits = self.settings.max_query_bytes, self.settings.max_url_bytes
            operation = await read_request(request, *limits)
            if operation.operation is Operation.DESCRIPTION:
                return self.description(request, operation)
            if operation.operation is Operation.UPDATE:
                self.authorize(request, "SPARQL Update")
            job = self._job(request, operation)
        except ClientDisconnectedError:
            return self.client_gone(request)
        except ProtocolError as failure:
            return self.refuse(failure.status, failure.message, failure.headers)
        if isinstance(job, QueryJob):
            return await self.run_query(request, job)
        request.scope[WRITE_ANSWER] = True
        return await self.write(request, job)

    async def health(self) -> JSONResponse:
        """Liveness without touching a worker or a thread (so it answers while all are busy):
        "degraded" while killed workers are being replaced, "down" (503) when none is left or coming;
        ``network_sandbox`` names what keeps the workers off the network (:mod:`mildip_ld.engine.sandbox`)."""
        alive = len(self.pool.pids)
        status = "ok" if alive >= self.pool.size else "degraded" if alive or self.pool.starting else "down"
        return JSONResponse(
            {
                "status": status,
                "release": self.release.name,
                "triples": self.counts["quads"],
                "graphs": self.graph_counts(),
                "workers": alive,
                "writes": self.writer is not None,
                "network_sandbox": self.network_sandbox(),
            },
            status_code=503 if status == "down" else 200,
        )

    def router(self) -> APIRouter:
        """The routes of this module: /sparql, /health, /metrics."""
        router = APIRouter()
        for method in ("GET", "POST"):
            router.add_api_route(
                "/sparql",
                self.sparql,
                methods=[method],
                name="sparql",
                operation_id=f"sparql_{method.lower()}",
                summary="SPARQL 1.1 Protocol: query, update, service description",
                response_class=Response,
                openapi_extra=openapi.SPARQL[method],
                route_class_override=RequestOnlyRoute,
            )
        router.add_api_route(
            "/health", self.health, methods=["GET"], summary="Liveness and size", response_class=JSONResponse
        )
        router.add_api_route(
            "/metrics",
            self.prometheus,
            methods=["GET"],
            summary="Prometheus metrics",
            response_class=Response,
        )
        return router

    async def prometheus(self) -> Response:
        """Prometheus text exposition of the metrics."""
        self._count_workers()
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)


def _slash_twin(request: Request) -> str | None:
    """Where a request no route matches is redirected when its path with a trailing slash added or
    removed matches one: as a path, never built from ``Host`` (Starlette's own redirect names the
    request's ``Host``, so ``/id`` sent anyone to whatever host a client named)."""
    path = request.scope["path"]
    if "route" in request.scope or path == "/":  # a route answered 404 itself, or nothing to change
        return None
    twin = path.rstrip("/") if path.endswith("/") else path + "/"
    if not twin or twin.startswith("//"):  # "//host" would be read as another host
        return None
    scope = {**request.scope, "path": twin}
    if all(route.matches(scope)[0] is Match.NONE for route in request.app.router.routes):
        return None
    query = request.scope.get("query_string", b"").decode("latin-1")
    return twin + (f"?{query}" if query else "")
