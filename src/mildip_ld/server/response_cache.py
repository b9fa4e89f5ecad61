"""A cache of ``GET /sparql`` answers for the served release, as a pure ASGI middleware in front
of the whole application.

A release never changes in place (a write publishes a new one), so the answer to a query is a
function of the request and the release: the query string (query, dataset, ``format``), the
headers that negotiation, CORS and compression read (``Accept``, ``Origin``, ``Accept-Encoding``).
The first answer is kept as the client got it (compressed when it asked for gzip), status,
headers and body, when the endpoint marks it cacheable (a 200 to a
query that calls no SERVICE and no NOW(), RAND(), UUID() or STRUUID(), from the embedded store);
the same request again is answered with those bytes at once, without parsing, negotiation, a
worker round trip or FastAPI's machinery, and with ``X-Mildip-Cache: hit``. The key holds the
release's name, so an answer is never served for another release, and the cache is emptied when
the release switches.
Entries are evicted least recently used first, within a byte budget that counts each entry's
key, headers and body plus a fixed overhead (so that many small answers to long query strings
cannot grow past it); an entry larger than an eighth of the budget is not kept. WDQS, Virtuoso
and GraphDB cache answers the same way; Oxigraph's server does not.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mildip_ld.server.metrics import LIVE_SUM, Metrics

CACHEABLE = "mildip.cacheable"
"""Scope key the endpoint sets on a request whose answer may be kept."""
CACHE_HEADER = b"x-mildip-cache"
PATH = "/sparql"
VARY_HEADERS = (b"accept", b"origin", b"accept-encoding")
"""The request headers an answer to a query depends on (besides its query string)."""

Key = tuple[str, bytes, tuple[bytes, ...]]
ENTRY_OVERHEAD_BYTES = 512
"""What one entry costs beyond its bytes (the dictionary slot, the tuples, the objects)."""


@dataclass(frozen=True)
class Entry:
    """One kept answer: its start message's status and headers (as replayed), and its body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def _cost(key: Key, entry: Entry) -> int:
    """Bytes an entry is counted for in the budget."""
    return (
        ENTRY_OVERHEAD_BYTES
        + len(key[0])
        + len(key[1])
        + sum(map(len, key[2]))
        + len(entry.body)
        + sum(len(name) + len(value) for name, value in entry.headers)
    )


class ResponseCache:
    """Answers by key, least recently used evicted first past ``max_bytes`` (see :func:`_cost`)."""

    def __init__(self, max_bytes: int, metrics: Metrics) -> None:
        self.max_bytes, self.max_entry_bytes = max_bytes, max_bytes // 8
        self.entries: OrderedDict[Key, tuple[Entry, int]] = OrderedDict()
        self.size = 0
        self.lookups = Counter(
            "mildip_response_cache_lookups",
            "GET /sparql answers looked up in the response cache, by outcome: hit, miss",
            ["outcome"],
            registry=metrics.registry,
        )
        self.bytes = Gauge(
            "mildip_response_cache_bytes",
            "Bytes the response cache holds (keys, headers and bodies)",
            registry=metrics.registry,
            multiprocess_mode=LIVE_SUM,
        )
        self.hit_ratio = Gauge(
            "mildip_response_cache_hit_ratio",
            "Share of the GET /sparql answers looked up in the response cache that were hits, "
            "since this server process started",
            registry=metrics.registry,
            multiprocess_mode="liveall",
        )
        self.hits, self.misses = self.lookups.labels("hit"), self.lookups.labels("miss")
        self.hit_count = self.lookup_count = 0

    def get(self, key: Key) -> Entry | None:
        kept = self.entries.get(key)
        self.lookup_count += 1
        if kept is None:
            self.misses.inc()
        else:
            self.hit_count += 1
            self.entries.move_to_end(key)
            self.hits.inc()
        self.hit_ratio.set(self.hit_count / self.lookup_count)
        return None if kept is None else kept[0]

    def put(self, key: Key, entry: Entry) -> None:
        """Keep ``entry`` unless it is too large; evict the least recently used past the budget."""
        cost = _cost(key, entry)
        if cost > self.max_entry_bytes or key in self.entries:
            return
        self.entries[key] = (entry, cost)
        self.size += cost
        while self.size > self.max_bytes:
            _, (_, evicted) = self.entries.popitem(last=False)
            self.size -= evicted
        self.bytes.set(self.size)

    def clear(self) -> None:
        self.entries.clear()
        self.size = 0
        self.bytes.set(0)


def request_key(scope: Scope, release: str) -> Key:
    """The cache key of a ``GET /sparql``: release, raw query string, and the headers it varies on."""
    headers = tuple(
        name.lower() + b":" + value for name, value in scope["headers"] if name.lower() in VARY_HEADERS
    )
    return release, scope.get("query_string", b""), headers


class ResponseCacheMiddleware:
    """Serves kept answers to ``GET /sparql``, and keeps the answers the endpoint marks cacheable.

    ``release`` tells the name of the release served now. It wraps the whole application, so a
    kept answer holds the headers every middleware added (security, CORS, compression), and a hit costs about
    as much CPU as Oxigraph's server spends on a request; the metrics middleware does not see a
    hit, so it is counted and timed here, under the same route.
    """

    def __init__(
        self, app: ASGIApp, cache: ResponseCache, release: Callable[[], str], metrics: Metrics
    ) -> None:
        self.app, self.cache, self.release = app, cache, release
        self.hit_requests = metrics.requests.labels(PATH, "GET", "200")
        self.hit_latency = metrics.latency.labels(PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        key = request_key(scope, self.release())
        entry = self.cache.get(key)
        if entry is not None:
            started = time.perf_counter()
            await send({"type": "http.response.start", "status": entry.status, "headers": entry.headers})
            await send({"type": "http.response.body", "body": entry.body})
            self.hit_requests.inc()
            self.hit_latency.observe(time.perf_counter() - started)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                if scope.get(CACHEABLE):
                    message = {**message, "headers": [*message.get("headers", []), (CACHE_HEADER, b"miss")]}
            elif message["type"] == "http.response.body" and start is not None and scope.get(CACHEABLE):
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and start["status"] == 200:
                    headers = [*start.get("headers", []), (CACHE_HEADER, b"hit")]
                    self.cache.put(key, Entry(200, headers, b"".join(chunks)))
            await send(message)

        await self.app(scope, receive, keep)
