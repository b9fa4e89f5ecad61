"""The render gate: every resource page, ontology page, explanation, VoID, dumps listing, Graph
Store read and query page is rendered through one gate, so none of them can starve the server.

An attacker found two ways to do it: asking for the largest page (the Russia resource page, 628 KB
and 140-260 ms of rendering in the server process) ten times a second made most health checks
fail, and asking for VoID with a new ``Host`` header each time recomputed it (350 ms) every time,
since it was cached per base URL. The gate's rules:

- **Off the event loop.** A render runs in a thread of the gate's own pool (``asyncio`` awaits it),
  never on the event loop, which keeps answering ``/health``, refusals and cached answers.
- **Bounded concurrency, a bounded queue.** At most ``render_concurrency`` renders run at once (2
  by default) and at most ``render_queue`` more wait for a slot (16); a request that needs one more
  is refused at once with ``503`` and ``Retry-After``. The queue absorbs a browser's or a crawler's
  few parallel requests; an unbounded one would only turn a flood into ever longer waits.
- **One render per answer.** A request whose answer is being rendered waits for that render (it
  takes no slot), so a burst of the same request costs one render.
- **A time limit.** A request waits at most ``render_timeout_s`` for its render, then gets ``503``
  with ``Retry-After``. A thread cannot be killed: a render past its limit keeps its slot until it
  ends (so there are never more than ``render_concurrency`` render threads), and its answer is
  kept when it does. What bounds the render itself is the work each one may do: a resource page
  shows at most :data:`~mildip_ld.site.describe.MAX_PER_PROPERTY` statements per property (the RDF
  document has them all), a Graph Store read at most ``max_results`` triples.
- **Cached per release, never per request header.** Answers are kept in a least-recently-used
  cache within a byte budget (``page_cache_mb``; an answer over an eighth of it is not kept, nor is
  anything but a 2xx or 3xx), under a key the route builds from the release and what the answer
  depends on: the path or parameters, the representation content negotiation chose (not the
  ``Accept`` header itself) and the mount point. The ``Host`` header is never part of an answer
  (VoID and the dumps listing name the ``public_url`` setting's URLs), so it cannot be used to
  make a render happen again. A switch to a new release empties the cache, and a render begun for
  the old release is not kept.

A repeat of a request whose answer the gate keeps is answered before the application sees it
(:class:`ReplayMiddleware`, like the response cache of ``/sparql``): the same path, query string,
``Accept``, ``Origin`` and mount point on the same release get the kept answer's bytes with the
headers the first answer had, without routing, negotiation or FastAPI's machinery, a third of the
cost of the request otherwise; the ``Host`` header is not part of that key either.

Threads rather than processes: a page is rendered from the release's store and from objects
computed once per release (the derivations behind ``/explain``, the ontology documentation), which
worker processes would each have to rebuild; and a render thread competes with the event loop only
for the GIL, which it gives up at every switch interval (5 ms), a cost ``python -m benchmarks bench --only
page-attack`` measures on ``/health`` under a flood of pages and VoID with varying ``Host``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mildip_ld.server.metrics import LIVE_SUM, Metrics
from mildip_ld.vocab.errors import MildipError

T = TypeVar("T")
Key = tuple[Hashable, ...]
ENTRY_OVERHEAD_BYTES = 512
"""What one kept entry costs beyond its bytes (its key, the dictionary slot, the objects)."""
RETRY_AFTER_S = 1
RENDER_KEY = "mildip.render"
"""Scope key set by :meth:`RenderGate.respond` on a 200 it answers: (what, key), for replays."""
REPLAY_HEADERS = (b"accept", b"origin")
"""The request headers a route's answer may depend on (negotiation, CORS); never ``Host``."""
CONDITIONAL_HEADERS = (b"if-none-match", b"if-modified-since")
MAX_REPLAYS = 4096
"""Most requests remembered for replay (each costs its key and the answer's headers)."""
log = logging.getLogger(__name__)


class RenderRefusedError(MildipError):
    """A render that cannot be had now: every slot is taken, or it ran past its time limit."""

    status = 503

    def __init__(self, message: str, outcome: str) -> None:
        super().__init__(message, headers={"Retry-After": str(RETRY_AFTER_S)})
        self.outcome = outcome

    def response(self) -> Response:
        """The ``503`` answer, with ``Retry-After``."""
        return Response(f"{self}\n", status_code=503, media_type="text/plain", headers=self.headers)


@dataclass(frozen=True)
class Rendered:
    """A rendered answer: status, media type, headers and body, and its ETag (the body's hash,
    computed with the answer, in the render thread)."""

    body: bytes
    media_type: str | None
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    etag: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "etag", '"' + hashlib.blake2b(self.body, digest_size=16).hexdigest() + '"')

    @property
    def cost(self) -> int | None:
        """Bytes counted in the cache budget, or None when the answer is not kept (an error)."""
        if self.status >= 400:
            return None
        return len(self.body) + sum(len(name) + len(value) for name, value in self.headers)


@dataclass(frozen=True)
class Replay:
    """How to answer a repeat of a request: the gate's key of its answer and the answer's start."""

    what: str
    key: Key
    route: str
    headers: list[tuple[bytes, bytes]]


def _key_cost(key: Key) -> int:
    return ENTRY_OVERHEAD_BYTES + sum(len(str(part)) for part in key)


class RenderGate:
    """Renders in at most ``concurrency`` threads at once (``queue`` more waiting), each awaited at
    most ``timeout_s``, and keeps what they render within ``max_bytes`` (see the module's docstring)."""

    def __init__(
        self, concurrency: int, queue: int, timeout_s: float, max_bytes: int, metrics: Metrics
    ) -> None:
        self.concurrency, self.queue, self.timeout_s = concurrency, queue, timeout_s
        self.max_bytes, self.max_entry_bytes = max_bytes, max_bytes // 8
        self.running = 0
        """Renders running in a thread now."""
        self.admitted = 0
        """Renders running or waiting for a slot."""
        self._slots = asyncio.Semaphore(concurrency)
        self.entries: OrderedDict[Key, tuple[Any, int]] = OrderedDict()
        self.size = 0
        self._generation = 0
        """Incremented by :meth:`clear`: a render begun before is not kept."""
        self._inflight: dict[Key, asyncio.Future[Any]] = {}
        self.replays: OrderedDict[Key, Replay] = OrderedDict()
        """Requests answered from a kept answer without the application (:class:`ReplayMiddleware`)."""
        self._threads = concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="render")
        self.outcomes = Counter(
            "mildip_render",
            "Renders of pages, VoID, dumps listings and Graph Store "
            "reads by what and outcome: rendered (a render ran), hit (a kept answer), "
            "shared (waited for the same render), busy and timeout (refused, 503)",
            ["what", "outcome"],
            registry=metrics.registry,
        )
        self.bytes = Gauge(
            "mildip_render_cache_bytes",
            "Bytes the render cache holds",
            registry=metrics.registry,
            multiprocess_mode=LIVE_SUM,
        )
        self.busy_threads = Gauge(
            "mildip_renders_running",
            "Render threads running now",
            registry=metrics.registry,
            multiprocess_mode=LIVE_SUM,
        )

    async def get(self, what: str, key: Key, compute: Callable[[], T], cost: Callable[[T], int | None]) -> T:
        """The value of ``key``: kept, or being computed, or computed now by ``compute`` in a render
        thread; kept afterwards when ``cost`` gives its size. Raises :class:`RenderRefusedError`."""
        kept = self.entries.get(key)
        if kept is not None:
            self.entries.move_to_end(key)
            self.outcomes.labels(what, "hit").inc()
            return kept[0]
        future = self._inflight.get(key)
        if future is not None:
            self.outcomes.labels(what, "shared").inc()
        else:
            future = self._start(what, key, compute, cost)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            self.outcomes.labels(what, "timeout").inc()
            raise RenderRefusedError(
                f"rendering this answer took longer than the {self.timeout_s:g} s "
                f"limit; it is kept when done, try again later",
                "timeout",
            ) from None

    def _start(
        self, what: str, key: Key, compute: Callable[[], T], cost: Callable[[T], int | None]
    ) -> asyncio.Future[T]:
        if self.admitted >= self.concurrency + self.queue:
            self.outcomes.labels(what, "busy").inc()
            raise RenderRefusedError(
                f"the server is busy rendering other answers (at most "
                f"{self.concurrency} at once, {self.queue} more waiting); try again",
                "busy",
            )
        self.admitted += 1
        generation = self._generation
        future = asyncio.ensure_future(self._render(compute))
        self._inflight[key] = future

        def finished(done: asyncio.Future[T]) -> None:
            self.admitted -= 1
            if self._inflight.get(key) is done:
                del self._inflight[key]
            if done.cancelled():
                return
            failure = done.exception()
            if failure is not None:  # it reaches the requests that wait too (a 500: a bug to see)
                log.error("rendering %s %r failed", what, key, exc_info=failure)
                return
            self.outcomes.labels(what, "rendered").inc()
            size = cost(done.result())
            if size is not None and generation == self._generation:
                self._keep(key, done.result(), size + _key_cost(key))

        future.add_done_callback(finished)
        return future

    async def _render(self, compute: Callable[[], T]) -> T:
        """``compute`` in a render thread, once a slot is free (the slot is held until it ends)."""
        async with self._slots:
            self.running += 1
            self.busy_threads.set(self.running)
            try:
                return await asyncio.get_running_loop().run_in_executor(self._threads, compute)
            finally:
                self.running -= 1
                self.busy_threads.set(self.running)

    def _keep(self, key: Key, value: Any, cost: int) -> None:
        if cost > self.max_entry_bytes or key in self.entries:
            return
        self.entries[key] = (value, cost)
        self.size += cost
        while self.size > self.max_bytes:
            _, (_, evicted) = self.entries.popitem(last=False)
            self.size -= evicted
        self.bytes.set(self.size)

    async def respond(
        self, request: Request, what: str, key: Key, render: Callable[[], Rendered]
    ) -> Response:
        """The answer ``render`` gives (kept or rendered now), ``304`` when the client has it,
        ``503`` with ``Retry-After`` when it cannot be rendered now."""
        try:
            rendered = await self.get(what, key, render, lambda answer: answer.cost)
        except RenderRefusedError as refused:
            return refused.response()
        if rendered.status == 200:
            request.scope[RENDER_KEY] = (what, key)
        return answer(request, rendered)

    def kept(self, key: Key) -> Any | None:
        """The kept value of ``key`` (now the most recently used), or None."""
        kept = self.entries.get(key)
        if kept is None:
            return None
        self.entries.move_to_end(key)
        return kept[0]

    def remember(self, request: Key, replay: Replay) -> None:
        """Answer ``request`` with ``replay`` from now on (the oldest forgotten past MAX_REPLAYS)."""
        self.replays[request] = replay
        self.replays.move_to_end(request)
        while len(self.replays) > MAX_REPLAYS:
            self.replays.popitem(last=False)

    def clear(self) -> None:
        """Forget every kept answer (the release changed); renders under way are not kept."""
        self._generation += 1
        self.replays.clear()
        self.entries.clear()
        self.size = 0
        self.bytes.set(0)

    def close(self) -> None:
        """Stop taking renders; a render under way ends in its thread."""
        self._threads.shutdown(wait=False, cancel_futures=True)


def if_none_match(request: Request, etag: str) -> bool | None:
    """Whether the request's ``If-None-Match`` names ``etag`` (or ``*``); None without that header."""
    header = request.headers.get("if-none-match")
    if header is None:
        return None
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


def answer(request: Request, rendered: Rendered) -> Response:
    """The HTTP answer for ``rendered``: a 200 carries its ETag, and is ``304`` when the client has it."""
    headers = dict(rendered.headers)
    if rendered.status == 200:
        headers["ETag"] = rendered.etag
        if if_none_match(request, headers["ETag"]):
            return Response(status_code=304, headers=headers)
    return Response(
        rendered.body, status_code=rendered.status, media_type=rendered.media_type, headers=headers
    )


class ReplayMiddleware:
    """Answers a repeat of a ``GET`` the gate answered with 200 from the kept answer, before the
    application: same release, path, query string, :data:`REPLAY_HEADERS` and mount point. The
    first answer's start (status 200 and every header the middlewares added) is remembered when its
    body is exactly the kept answer's; a conditional request goes to the application (for its 304).
    The metrics middleware does not see a replay, so it is counted and timed here, under its route.
    """

    def __init__(self, app: ASGIApp, gate: RenderGate, release: Callable[[], str], metrics: Metrics) -> None:
        self.app, self.gate, self.release, self.metrics = app, gate, release, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or any(name.lower() in CONDITIONAL_HEADERS for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        request = (
            self.release(),
            scope["path"],
            scope.get("root_path", ""),
            scope.get("query_string", b""),
            tuple(
                name.lower() + b":" + value
                for name, value in scope["headers"]
                if name.lower() in REPLAY_HEADERS
            ),
        )
        replay = self.gate.replays.get(request)
        rendered = self.gate.kept(replay.key) if replay is not None else None
        if replay is not None and rendered is not None:
            started = time.perf_counter()
            await send({"type": "http.response.start", "status": 200, "headers": replay.headers})
            await send({"type": "http.response.body", "body": rendered.body})
            self.gate.outcomes.labels(replay.what, "hit").inc()
            self.metrics.requests.labels(replay.route, "GET", "200").inc()
            self.metrics.latency.labels(replay.route).observe(time.perf_counter() - started)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def remember(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif (
                message["type"] == "http.response.body"
                and start is not None
                and start["status"] == 200
                and RENDER_KEY in scope
            ):
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    what, key = scope[RENDER_KEY]
                    kept = self.gate.kept(key)
                    if kept is not None and b"".join(chunks) == kept.body:
                        route = getattr(scope.get("route"), "path", None) or "(unmatched)"
                        self.gate.remember(request, Replay(what, key, route, list(start.get("headers", []))))
            await send(message)

        await self.app(scope, receive, remember)
