"""A bounded load test on loopback: an asyncio httpx client at several concurrency levels.

Each level runs ``clients`` concurrent clients for at most ``seconds`` (and ``max_requests``
requests), each sending the mix in turn: the example queries, with every ``1/hostile_share``-th
request taken from the cheap hostile requests of :mod:`benchmarks.hostile` (those refused at once
with a 4xx). It counts statuses, transport errors and answers other than expected, and measures
latency; a separate process polls ``/health`` all along (:class:`~benchmarks.healthprobe.HealthProbe`),
so that its latencies are not those of this busy client. A write run (:func:`run_writes`) sends
distinct inserts beside a read load and then counts them back: a write answered 204 and not found
is lost.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from benchmarks.healthprobe import HealthProbe
from benchmarks.hostile import Hostile
from mildip_ld.vocab.namespaces import ASSERTED, PREFIXES

JSON = "application/sparql-results+json"
REQUEST_TIMEOUT_S = 60.0
MAX_REQUESTS = 50_000
"""Most requests one level sends, whatever its duration."""


@dataclass(frozen=True)
class Call:
    """One request of the mix and the statuses it may get."""

    name: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: tuple[int, ...] = (200,)
    hostile: bool = False

    @classmethod
    def query(cls, name: str, text: str) -> Call:
        """An example query, sent with GET and expected to succeed."""
        return cls(name, "GET", "/sparql", (("query", text),), headers={"Accept": JSON})

    @classmethod
    def from_hostile(cls, hostile: Hostile) -> Call:
        """A hostile request (sent without any token)."""
        return cls(
            hostile.name,
            hostile.method,
            hostile.path,
            hostile.params,
            hostile.body,
            dict(hostile.headers),
            hostile.expect,
            hostile=True,
        )


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class LevelResult:
    """What one concurrency level measured."""

    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    """Transport errors (time-outs, refused or reset connections) by exception name."""
    unexpected: Counter[str] = field(default_factory=Counter)
    """Requests answered with a status their call does not expect, by ``name status``."""
    hostile: int = 0
    health: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_errors(self) -> int:
        """Answers with a 5xx status."""
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def count(self, low: int) -> int:
        """Answers with a status from ``low`` to ``low + 99``."""
        return sum(count for status, count in self.statuses.items() if low <= status < low + 100)


async def _send(client: httpx.AsyncClient, call: Call) -> int:
    answer = await client.request(
        call.method, call.path, params=list(call.params) or None, content=call.body, headers=call.headers
    )
    return answer.status_code


async def run_level(
    base: str,
    calls: Sequence[Call],
    hostile: Sequence[Call],
    clients: int,
    seconds: float,
    hostile_share: float = 0.2,
    max_requests: int = MAX_REQUESTS,
    stop: asyncio.Event | None = None,
) -> LevelResult:
    """``clients`` concurrent clients sending the mix to ``base`` for ``seconds`` at most (or until
    ``stop`` is set)."""
    result = LevelResult(clients)
    every = max(1, round(1 / hostile_share)) if hostile_share > 0 and hostile else 0
    counter = iter(range(max_requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    started = time.perf_counter()
    deadline = started + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        while (
            time.perf_counter() < deadline
            and not (stop and stop.is_set())
            and (index := next(counter, None)) is not None
        ):
            is_hostile = bool(every) and index % every == every - 1
            call = hostile[(index // every) % len(hostile)] if is_hostile else calls[index % len(calls)]
            sent = time.perf_counter()
            try:
                status = await _send(client, call)
            except httpx.HTTPError as failure:
                result.errors[type(failure).__name__] += 1
                result.latencies.append(time.perf_counter() - sent)
                continue
            result.latencies.append(time.perf_counter() - sent)
            result.statuses[status] += 1
            result.hostile += is_hostile
            if status not in call.expect:
                result.unexpected[f"{call.name} {status}"] += 1

    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


def run_levels(
    base: str,
    calls: Sequence[Call],
    hostile: Sequence[Call],
    levels: Sequence[int],
    seconds: float,
    hostile_share: float = 0.2,
) -> list[LevelResult]:
    """Each level in turn, with /health probed during each."""
    results = []
    for clients in levels:
        with HealthProbe(base) as probe:
            result = asyncio.run(run_level(base, calls, hostile, clients, seconds, hostile_share))
        result.health = probe.latencies
        results.append(result)
    return results


def _ms(seconds: float) -> str:
    return "inf" if math.isinf(seconds) else f"{seconds * 1000:.1f}"


def table(results: Sequence[LevelResult], hostile_share: float) -> str:
    """The Markdown report of the levels."""
    lines = [
        f"Load, {int(hostile_share * 100)} % hostile requests (refused with 4xx) in the mix of the "
        f"example queries; /health polled every 20 ms from another process",
        "",
        "| clients | requests | req/s | p50 ms | p99 ms | 2xx | 4xx | 5xx | transport errors | "
        "unexpected | health p50 ms | health max ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        health = r.health or [0.0]
        p50, p99 = _ms(percentile(r.latencies, 0.5)), _ms(percentile(r.latencies, 0.99))
        lines.append(
            f"| {r.clients} | {r.requests} | {r.throughput:.1f} | {p50} | {p99} | {r.count(200)} | "
            f"{r.count(400)} | {r.server_errors} | "
            f"{sum(r.errors.values())} | {sum(r.unexpected.values())} | "
            f"{_ms(statistics.median(health))} | {_ms(max(health))} |"
        )
    return "\n".join(lines)


@dataclass
class WriteResult:
    """What a write run sent, what was acknowledged and what was found afterwards."""

    sent: int = 0
    committed: int = 0
    found: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    reads: LevelResult | None = None

    @property
    def lost(self) -> int:
        """Writes answered 204 whose triple is not in the store afterwards."""
        return self.committed - self.found


async def _writes(base: str, token: str, writes: int, writers: int, run: str, result: WriteResult) -> None:
    label = f"{PREFIXES['rdfs']}label"
    numbers = iter(range(writes))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sparql-update"}

    async def writer(client: httpx.AsyncClient) -> None:
        while (number := next(numbers, None)) is not None:
            triple = f'<urn:mildip:load:{run}:{number}> <{label}> "w{number}"'
            text = f"INSERT DATA {{ GRAPH <{ASSERTED}> {{ {triple} }} }}"
            sent = time.perf_counter()
            result.sent += 1
            try:
                answer = await client.post("/sparql", content=text.encode(), headers=headers)
            except httpx.HTTPError:
                result.statuses[0] += 1
                continue
            result.latencies.append(time.perf_counter() - sent)
            result.statuses[answer.status_code] += 1
            result.committed += answer.status_code == 204

    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
        await asyncio.gather(*(writer(client) for _ in range(writers)))


def _count_written(base: str, run: str) -> int:
    query = (
        f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ GRAPH <{ASSERTED}> {{ ?s ?p ?o }} "
        f'FILTER(STRSTARTS(STR(?s), "urn:mildip:load:{run}:")) }}'
    )
    answer = httpx.get(f"{base}/sparql", params={"query": query}, headers={"Accept": JSON}, timeout=60)
    answer.raise_for_status()
    return int(answer.json()["results"]["bindings"][0]["n"]["value"])


def run_writes(
    base: str,
    token: str,
    calls: Sequence[Call],
    writes: int,
    writers: int = 2,
    readers: int = 4,
    seconds: float = 20.0,
) -> WriteResult:
    """``writes`` distinct inserts from ``writers`` concurrent clients while ``readers`` clients query
    (``seconds`` at most, else :class:`TimeoutError`); then count the inserted subjects back."""
    run = uuid.uuid4().hex[:12]
    result = WriteResult()

    async def both() -> None:
        done = asyncio.Event()
        reading = run_level(base, calls, [], readers, seconds, hostile_share=0, stop=done)
        reads = asyncio.ensure_future(reading)
        try:
            await asyncio.wait_for(_writes(base, token, writes, writers, run, result), seconds)
        finally:
            done.set()
            result.reads = await reads

    asyncio.run(both())
    result.found = _count_written(base, run)
    return result


def write_table(result: WriteResult) -> str:
    """The Markdown report of a write run."""
    reads = result.reads or LevelResult(0)
    return "\n".join(
        [
            "Writes: distinct INSERT DATA (validated, inferred, published as a new release each) beside "
            f"{reads.clients} reading clients",
            "",
            "| writes sent | 204 | other statuses | found afterwards | lost | write p50 ms | write max ms | "
            "reads | read 5xx |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
            f"| {result.sent} | {result.committed} | "
            f"{', '.join(f'{s}: {n}' for s, n in sorted(result.statuses.items()) if s != 204) or '-'} | "
            f"{result.found} | {result.lost} | {_ms(percentile(result.latencies, 0.5))} | "
            f"{_ms(max(result.latencies, default=0.0))} | {reads.requests} | {reads.server_errors} |",
        ]
    )
