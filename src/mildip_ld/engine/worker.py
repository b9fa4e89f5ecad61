"""A query worker process: opens a release's Oxigraph store and answers jobs one at a time.

Started by :mod:`mildip_ld.engine.pool` as ``python -m mildip_ld.engine.worker``. It talks over its standard
input and output in frames (8-byte big-endian length, then the bytes): a JSON config frame
first, answered by a JSON "ready" frame; then for each JSON job a JSON header frame (status,
content type) and a body frame. A query that runs too long is not stopped here: the pool kills
the whole process, which is the only way to really stop pyoxigraph (it has no query timeout).
The store is always opened read-only: writes go through :mod:`mildip_ld.curation.writer` instead.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import resource
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

import pyoxigraph as ox

from mildip_ld.engine.messages import QueryJob, job_from
from mildip_ld.engine.query_safety import check, prepare, refusal
from mildip_ld.release.store import open_store
from mildip_ld.vocab.conneg import Rdf, Results, media_type, offered, serialize_triples
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.terms import select

FRAME_HEADER_BYTES = 8
TEXT = "text/plain; charset=utf-8"
STACK_BYTES = 256 * 2**20
"""Stack of the thread that answers jobs. Oxigraph's parser recurses once per operator of a chain
such as ``!!!…!true`` or ``1+1+…+1``; within the 100 kB query limit that needs far more than the
main thread's 8 MiB, and a stack overflow kills the process. The pages are only reserved."""

Reply = tuple[dict[str, Any], bytes]
"""A worker's (or the writer's) reply to one job: the header frame's fields (``status``,
``content_type``, more) and the body frame; the pool hands it to the server as an
:class:`~mildip_ld.engine.messages.Answer`."""


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame from ``stream``; None at end of input."""
    header = stream.read(FRAME_HEADER_BYTES)
    if len(header) < FRAME_HEADER_BYTES:
        return None
    size = int.from_bytes(header, "big")
    payload = stream.read(size)
    return payload if len(payload) == size else None


def frame(payload: bytes) -> bytes:
    """``payload`` preceded by its length, ready to write."""
    return len(payload).to_bytes(FRAME_HEADER_BYTES, "big") + payload


def error(status: int, message: str) -> Reply:
    """A plain-text error reply."""
    return {"status": status, "content_type": TEXT}, message.encode("utf-8")


MIN_ROW_BYTES = {Results.JSON: 2, Results.XML: 17, Results.CSV: 2, Results.TSV: 1}
"""The fewest bytes pyoxigraph writes for one solution in each results format (one that binds
nothing: ``{}``, ``<result></result>``, CRLF, LF; tests/test_worker.py checks them). So an
answer of at most ``MIN_ROW_BYTES[fmt] * limit`` bytes holds at most ``limit`` solutions."""

RECOUNT_ROW_BYTES = 1024
"""Past ``RECOUNT_ROW_BYTES * limit`` bytes, the first serialization is stopped and the query
is answered again through the streaming TSV count (:func:`_solutions`)."""


class _TooManyRowsError(MildipError):
    """Raised from inside pyoxigraph's serializer to stop it at the row limit (answered 422)."""

    status = 422


class _TooManyBytesError(MildipError):
    """Raised from inside pyoxigraph's serializer to stop it at a byte budget (then counted anew)."""

    status = 422


class _Buffer:
    """A write target that keeps the bytes pyoxigraph writes; past ``max_bytes`` it stops the
    serializer, and past ``max_lines`` newlines (+ the header line) too, for TSV, where every
    solution is exactly one line (tabs and newlines in terms are escaped)."""

    def __init__(self, max_bytes: float = float("inf"), max_lines: float = float("inf")) -> None:
        self.max_bytes, self.max_lines = max_bytes, max_lines
        self.size = self.lines = 0
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise _TooManyBytesError("past the byte budget")
        if self.max_lines != float("inf"):
            self.lines += data.count(b"\n")
            if self.lines > self.max_lines + 1:
                raise _TooManyRowsError("past the row limit")
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the bytes stay in memory."""

    def getvalue(self) -> bytes:
        return b"".join(self.chunks)

    def target(self) -> BinaryIO:
        """This buffer as the binary file pyoxigraph's serializers take (they call only ``write``
        and ``flush``)."""
        return cast(BinaryIO, self)


def too_many(max_results: int, what: str) -> Reply:
    """The row limit's refusal: more than ``max_results`` ``what`` ("solutions", "triples")."""
    return error(
        422,
        f"the answer has more than {max_results} {what}, the limit of this endpoint; "
        f"add LIMIT (and OFFSET to page through it) or narrow the query",
    )


def _not_acceptable(kind: str, form: str, asked: str) -> Reply:
    return error(
        406,
        f"no acceptable format for a {form} answer ({asked}); this endpoint offers "
        f"{offered(kind)} (or use format=...)",
    )


def _solutions(
    result: ox.QuerySolutions, fmt: Results, max_results: int, again: Callable[[], ox.QuerySolutions]
) -> Reply:
    """SELECT: serialized once, in the negotiated format, with the row limit enforced exactly.

    TSV counts its lines as it is written (stopped past the limit). Another format is written
    directly; an answer of at most :data:`MIN_ROW_BYTES` per allowed solution is within the limit
    by its size alone (lookups, and every answer under a high limit); a larger one is counted by
    pyoxigraph's own parser (Python's csv module for CSV, which pyoxigraph does not read). An answer
    past :data:`RECOUNT_ROW_BYTES` per allowed solution (a query that asks for far more than the
    limit) is stopped there and evaluated ``again`` to be counted as TSV, which stops at the limit.
    """
    if fmt == Results.TSV:
        return _counted_tsv(result, max_results)
    buffer = _Buffer(max_bytes=RECOUNT_ROW_BYTES * (max_results + 1))
    try:
        result.serialize(buffer.target(), format=fmt)
    except _TooManyBytesError:
        return _converted(_counted_tsv(again(), max_results), fmt)
    body = buffer.getvalue()
    if len(body) > MIN_ROW_BYTES[fmt] * max_results and _rows(body, fmt, max_results + 1) > max_results:
        return too_many(max_results, "solutions")
    return {"status": 200, "content_type": media_type(fmt)}, body


def _counted_tsv(result: ox.QuerySolutions, max_results: int) -> Reply:
    """The solutions as TSV, or the row limit's refusal as soon as the limit is passed."""
    buffer = _Buffer(max_lines=max_results)
    try:
        result.serialize(buffer.target(), format=Results.TSV)
    except _TooManyRowsError:
        return too_many(max_results, "solutions")
    return {"status": 200, "content_type": media_type(Results.TSV)}, buffer.getvalue()


def _converted(reply: Reply, fmt: Results) -> Reply:
    """A TSV reply in ``fmt`` (a refusal as it is)."""
    header, body = reply
    if header["status"] != 200:
        return reply
    converted = ox.parse_query_results(body, Results.TSV).serialize(format=fmt) or b""
    return header | {"content_type": media_type(fmt)}, converted


def _rows(body: bytes, fmt: Results, at_most: int) -> int:
    """Solutions in a results document written by pyoxigraph, counted up to ``at_most``."""
    if fmt == Results.CSV:
        lines = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
        return sum(1 for _ in itertools.islice(lines, at_most + 1)) - 1  # the header line
    solutions = ox.parse_query_results(body, fmt)
    assert isinstance(solutions, ox.QuerySolutions)
    return sum(1 for _ in itertools.islice(solutions, at_most))


def _triples(result: ox.QueryTriples, fmt: Rdf, max_results: int, prefixes: dict[str, str]) -> Reply:
    """CONSTRUCT/DESCRIBE: collected up to the limit, then serialized (as quads for dataset formats)."""
    triples: list[ox.Triple] = []
    for triple in result:
        if len(triples) == max_results:
            return too_many(max_results, "triples")
        triples.append(triple)
    return {"status": 200, "content_type": media_type(fmt)}, serialize_triples(triples, fmt, prefixes)


def _dataset(job: QueryJob, union: bool) -> dict[str, Any]:
    """pyoxigraph keyword arguments for the job's RDF dataset (SPARQL 1.1 Protocol semantics)."""
    if job.dataset_given:
        return {
            "default_graph": [ox.NamedNode(iri) for iri in job.default_graphs or []],
            "named_graphs": [ox.NamedNode(iri) for iri in job.named_graphs or []],
        }
    return {"use_default_graph_as_union": union}


def run_query(store: ox.Store, job: QueryJob, config: dict[str, Any]) -> Reply:
    """Check a query job (:func:`~mildip_ld.engine.query_safety.refusal`), evaluate it and serialize its
    answer in the negotiated format; the header tells whether running it again gives the same answer."""
    verdict = check(job.text, "query", job.base_iri)
    refused = refusal(verdict, "query", config["service_allowlist"], config["max_nesting"])
    if refused:
        return error(400, refused)
    results = Results.from_media_type(job.results) if job.results else None
    graph = Rdf.from_media_type(job.graph) if job.graph else None
    dataset = _dataset(job, union=not verdict.has_dataset_clause)

    def evaluate() -> Any:
        return store.query(job.text, base_iri=job.base_iri, **dataset)

    try:
        header, body = _answer(
            evaluate(), results, graph, job.asked, config["max_results"], config.get("prefixes", {}), evaluate
        )
    except SyntaxError as failure:
        return error(400, f"malformed query: {failure}")
    except (OSError, RuntimeError, ValueError) as failure:  # a SERVICE call fails in query() or _answer
        if verdict.services:
            return federated_failure()
        if verdict.custom_functions and isinstance(failure, RuntimeError):
            return error(
                400,
                f"the query calls a function this endpoint does not implement ({failure}); "
                f"it implements the SPARQL 1.1 built-ins and the XSD casts",
            )
        raise
    return header | {"repeatable": verdict.repeatable}, body


def federated_failure() -> Reply:
    """The one reply to a query whose allowed SERVICE call failed, whatever the cause: refused
    connection, reset, HTTP error, unreadable answer. The engine's message would tell the client
    what listens where (a port scan through the server), so neither it nor the endpoint is passed on."""
    return error(502, "a federated call (SERVICE) of this query failed; the cause is not disclosed")


def _answer(
    result: ox.QueryBoolean | ox.QuerySolutions | ox.QueryTriples,
    results: Results | None,
    graph: Rdf | None,
    asked: str,
    max_results: int,
    prefixes: dict[str, str],
    again: Callable[[], Any],
) -> Reply:
    """A query's result serialized in the negotiated format of its kind (406 when there is none);
    ``again`` evaluates the query anew (:func:`_solutions`)."""
    if isinstance(result, ox.QueryBoolean):
        if results is None:
            return _not_acceptable("results", "ASK", asked)
        return {"status": 200, "content_type": media_type(results)}, result.serialize(format=results) or b""
    if isinstance(result, ox.QuerySolutions):
        if results is None:
            return _not_acceptable("results", "SELECT", asked)
        return _solutions(result, results, max_results, again)
    if graph is None:
        return _not_acceptable("graph", "CONSTRUCT or DESCRIBE", asked)
    return _triples(result, graph, max_results, prefixes)


def graph_counts(store: ox.Store) -> Reply:
    """Triples per named graph and in the default graph, as JSON."""
    counts = {
        str(row["g"].value): int(row["n"].value)
        for row in select(store, "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
    }
    default = next(iter(select(store, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")))["n"].value
    body = json.dumps({"graphs": counts, "default": int(default), "quads": len(store)})
    return {"status": 200, "content_type": "application/json"}, body.encode()


def execute(store: ox.Store, message: dict[str, Any], config: dict[str, Any]) -> Reply:
    """Run one job (:mod:`mildip_ld.engine.messages`); evaluation failures become 500 replies,
    never a dead worker."""
    try:
        job = job_from(message)
    except ValueError as failure:
        return error(400, str(failure))
    try:
        if isinstance(job, QueryJob):
            return run_query(store, job, config)
        return graph_counts(store)
    except (OSError, RuntimeError, ValueError, TypeError) as failure:
        return error(500, f"query evaluation failed: {failure}")


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when the server dies (no orphaned queries); ignore Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the server died before the request above was made
        os._exit(1)


def serve_jobs(
    start: Callable[[dict[str, Any]], Any], execute: Callable[[Any, dict[str, Any], dict[str, Any]], Reply]
) -> int:
    """The frame loop of a worker or the writer: config, ready, then jobs until standard input closes.

    ``start(config)`` opens what the jobs need (an ``OSError`` is reported instead of "ready");
    ``execute(state, job, config)`` answers one job. The process lowers its priority by the
    config's ``nice``, caps its address space at ``memory_mb`` and answers jobs on a thread with a
    :data:`STACK_BYTES` stack, so that a deeply recursive parse ends in an error, not a crash (and
    the query check is prepared: :func:`~mildip_ld.engine.query_safety.prepare`).
    """
    source = sys.stdin.buffer
    sink = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the frames
    config_frame = read_frame(source)
    if config_frame is None:
        return 1
    config = json.loads(config_frame)
    _die_with_parent(config["parent"])
    current = os.nice(0)
    if config.get("nice", 0) > current:  # when not started under nice(1) already
        os.nice(config["nice"] - current)
    if config.get("memory_mb"):
        limit = config["memory_mb"] * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def loop() -> None:
        prepare(config["max_nesting"])
        try:
            state = start(config)
        except OSError as failure:
            sink.write(frame(json.dumps({"error": str(failure)}).encode()))
            sink.flush()
            return
        sink.write(frame(json.dumps({"ready": True, "pid": os.getpid()}).encode()))
        sink.flush()
        while (job_frame := read_frame(source)) is not None:
            header, body = execute(state, json.loads(job_frame), config)
            sink.write(frame(json.dumps(header).encode()) + frame(body))
            sink.flush()

    threading.stack_size(STACK_BYTES)
    thread = threading.Thread(target=loop, name="jobs")
    thread.start()
    thread.join()
    return 0


def main() -> int:
    """A query worker: the release's store, opened read-only, answers query and stats jobs."""
    return serve_jobs(lambda config: open_store(Path(config["release"])), execute)


if __name__ == "__main__":
    sys.exit(main())
