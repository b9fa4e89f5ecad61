"""A remote SPARQL store behind the query backend's interface (``mildip serve --store sparql:URL``).

When the data outgrows one machine, a clustered store (Fuseki, GraphDB, Virtuoso, or an
Oxigraph server) holds it (``mildip publish`` puts it there) and this server keeps the API: the
SPARQL 1.1 Protocol with its content negotiation, limits and refusals, ``/health`` and the
counts. :class:`RemoteStore` is a query backend (:class:`~mildip_ld.engine.backend.QueryBackend`,
as the worker pool is) that answers each job with the worker's own code
(:func:`mildip_ld.engine.worker.run_query`, :func:`~mildip_ld.engine.worker.graph_counts`) over
:class:`SparqlStore`, which forwards each query through SPARQLWrapper. So answers come in the
same formats, with the same row limit and the same SERVICE and nesting checks as from the
embedded store.

The default graph of this API is the union of the named graphs. Remote stores differ there
(Oxigraph needs ``--union-default-graph``, Fuseki ``unionDefaultGraph``), so a query without
FROM is sent with ``default-graph-uri`` and ``named-graph-uri`` naming every named graph of the
store: the same dataset on any server. Dataset parameters given by the client are forwarded.
The store's named graphs are those under the project's graph base (what ``mildip publish``
writes): Virtuoso's own (``virtrdf#``, ``ldp#``, its ``/sparql`` graph) are not part of this
API's data, and the store's own counts (``/health``) ask with ``named-graph-uri`` naming ours.

Virtuoso (:doc:`scale`): it matches no graph with an empty ``GRAPH ?g { }``, so its graphs are
asked for with a triple pattern; its blank nodes come labelled ``nodeID://b10002``, no label RDF
allows, so each is relabelled (``b`` and the hex of the label: the same node, the same label) before
pyoxigraph reads the answer; and an answer it marks as partial (``206``, or an ``X-SQL-State``
header: an "anytime" query cut short) is refused, never served as if whole.

Row limit: an answer is read from the remote store as it streams in, parsed by pyoxigraph's
streaming parsers, and the connection is closed as soon as it holds one solution (or triple) more
than the limit; the caller gets the limit's refusal. So a query that asks for the whole store
costs the limit and a little more, never the whole answer (read twice, as the worker's recount
would). An answer with Virtuoso's blank node labels is read whole before it is relabelled. An
answer still coming in past the query's time limit (and :data:`HTTP_GRACE_S`) is dropped, however
slowly its bytes come, so its request slot is free again.

Credentials (:class:`~mildip_ld.vocab.settings.StoreCredentials`: ``MILDIP_STORE_USER`` and its
password) log in with HTTP digest or basic through SPARQLWrapper (Virtuoso's ``/sparql-auth``).

Time limits: at most ``size`` requests run at once, each on a thread of a pool of that size, with
an HTTP timeout just past the query's limit. The caller gets its 503 at the limit; the thread ends
with the HTTP timeout, and its slot is not free before then. So a burst of slow queries meets
"busy" answers, never a pile of threads each held for the whole limit (the trap of
``oxigraph serve --timeout-s``, upstream oxigraph #1954).
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import time
import urllib.error
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, BinaryIO, cast

import pyoxigraph as ox
from SPARQLWrapper import ASK, BASIC, DIGEST, JSON, POST, SELECT, TURTLE, URLENCODED, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import QueryBadFormed, SPARQLWrapperException

from mildip_ld.engine.messages import Answer, Job, QueryJob
from mildip_ld.engine.pool import Admission, PoolBusyError, PoolClosedError, QueryTimeoutError
from mildip_ld.engine.query_safety import check
from mildip_ld.engine.sandbox import Confinement
from mildip_ld.engine.worker import error, graph_counts, run_query, too_many
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.namespaces import GRAPH_BASE
from mildip_ld.vocab.settings import StoreCredentials

SCHEME = "sparql:"
HTTP_GRACE_S = 1.0
"""The HTTP timeout of a forwarded query is its limit plus this."""
GRAPHS_QUERY = "SELECT DISTINCT ?g WHERE { GRAPH ?g { } }"
GRAPHS_BY_TRIPLES_QUERY = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
"""For stores that match no graph with an empty group (Virtuoso)."""
VIRTUOSO_BLANK_NODE = b'"nodeID://'
"""How a blank node label of Virtuoso begins in its JSON results."""
PARTIAL_HEADER = "X-SQL-State"
"""Virtuoso's mark of an answer cut short (an "anytime" query past its time)."""


class RemoteStoreError(MildipError, RuntimeError):
    """The remote store could not be reached or failed (not a fault of the query)."""

    status = 502


class RemoteAnswerTooLargeError(MildipError):
    """The remote store's answer has more solutions (or triples) than the row limit allows;
    reading it was stopped there."""

    status = 422

    def __init__(self, max_rows: int, what: str) -> None:
        super().__init__(f"more than {max_rows} {what}")
        self.max_rows, self.what = max_rows, what


class RemoteAnswerLateError(RemoteStoreError):
    """The remote store was still sending its answer past the query's time limit (and its grace):
    reading it was stopped, so a store that drips an answer cannot hold a request slot for long."""


class _Recording(io.RawIOBase):
    """A response read by a streaming parser, keeping what was read (the answer, once whole); a
    read past ``deadline`` (``time.monotonic()``) raises :class:`RemoteAnswerLateError`."""

    def __init__(self, response: BinaryIO, deadline: float, late: str) -> None:
        self.read_so_far = bytearray()
        self.deadline, self.late = deadline, late
        self._read_some = getattr(response, "read1", response.read)
        """What has come in, up to a size (``read`` would wait for the whole size to come in)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if time.monotonic() > self.deadline:
            raise RemoteAnswerLateError(self.late)
        chunk = self._read_some(len(buffer))
        buffer[: len(chunk)] = chunk
        self.read_so_far += chunk
        return len(chunk)

    def rest(self) -> bytes:
        """Everything, the part not yet read included (read by :meth:`readinto`: the deadline holds)."""
        while self.read(1 << 16):
            pass
        return bytes(self.read_so_far)


def remote_url(store: str) -> str | None:
    """The endpoint URL of a ``sparql:URL`` store setting; None for any other setting."""
    return store[len(SCHEME) :] if store.startswith(SCHEME) else None


class SparqlStore:
    """What the worker's query code needs of a store (``query``, ``len``), asked of a remote endpoint.

    ``graphs`` are the named graphs that make the union default graph (see the module's docstring).
    """

    def __init__(
        self,
        url: str,
        timeout: float,
        graphs: list[str] | None = None,
        credentials: StoreCredentials | None = None,
        max_rows: int | None = None,
    ) -> None:
        self.url, self.timeout, self.graphs = url, timeout, graphs or []
        self.credentials, self.max_rows = credentials, max_rows

    def _wrapper(self, text: str, default_graphs: list[str], named_graphs: list[str]) -> SPARQLWrapper:
        wrapper = SPARQLWrapper(self.url)
        wrapper.setOnlyConneg(True)  # no format=/output= parameters: the Accept header says it
        wrapper.setMethod(POST)
        wrapper.setRequestMethod(URLENCODED)  # long queries and many graph IRIs fit in a body
        wrapper.setTimeout(math.ceil(self.timeout))  # whole seconds, as SPARQLWrapper takes them
        if self.credentials is not None:
            wrapper.setHTTPAuth(DIGEST if self.credentials.scheme == "digest" else BASIC)
            wrapper.setCredentials(self.credentials.user, self.credentials.password.get_secret_value())
        with warnings.catch_warnings():  # a query it cannot classify goes on: the store will say why
            warnings.simplefilter("ignore", RuntimeWarning)
            wrapper.setQuery(text)
        for iri in default_graphs:
            wrapper.addDefaultGraph(iri)
        for iri in named_graphs:
            wrapper.addNamedGraph(iri)
        return wrapper

    def query(
        self,
        text: str,
        base_iri: str | None = None,
        default_graph: list[ox.NamedNode] | None = None,
        named_graphs: list[ox.NamedNode] | None = None,
        use_default_graph_as_union: bool = False,
    ) -> ox.QuerySolutions | ox.QueryBoolean | list[ox.Triple]:
        """Run ``text`` on the remote store, with pyoxigraph's keyword arguments for the dataset;
        the answer parsed into pyoxigraph's objects. ``SyntaxError`` when the store calls the query
        malformed, :class:`RemoteStoreError` for any other failure."""
        if base_iri:
            text = f"BASE <{base_iri}>\n{text}"
        if use_default_graph_as_union:
            defaults, named = self.graphs, self.graphs
        elif default_graph is None and named_graphs is None and not check(text, "query").has_dataset_clause:
            defaults, named = [], self.graphs  # the store's own dataset: our named graphs only
        else:
            defaults = [str(node.value) for node in default_graph or []]
            named = [str(node.value) for node in named_graphs or []]
        wrapper = self._wrapper(text, defaults, named)
        selecting = wrapper.queryType in (SELECT, ASK)
        wrapper.setReturnFormat(JSON if selecting else TURTLE)
        deadline = time.monotonic() + self.timeout
        try:
            response = wrapper.query().response
            if response.status == 206 or response.headers.get(PARTIAL_HEADER):
                raise RemoteStoreError(
                    f"the remote store {self.url} sent a partial answer "
                    f"({response.headers.get(PARTIAL_HEADER) or 'HTTP 206'}); set no time limit there "
                    "that cuts answers short (Virtuoso: send no timeout, see docs/scale.md)"
                )
            late = (
                f"the remote store {self.url} was still sending its answer {self.timeout:g} s after "
                "the query was sent; reading it was stopped"
            )
            with response:
                return self._read(_Recording(response, deadline, late), selecting)
        except QueryBadFormed as refused:
            raise SyntaxError(f"the remote store refused the query: {_said(refused)}") from None
        except SPARQLWrapperException as failure:
            raise RemoteStoreError(f"the remote store {self.url} failed: {_said(failure)}") from None
        except (urllib.error.URLError, OSError) as failure:
            raise RemoteStoreError(
                f"the remote store {self.url} could not be reached: {getattr(failure, 'reason', failure)}"
            ) from None
        except (SyntaxError, ValueError) as unreadable:
            raise RemoteStoreError(
                f"the remote store {self.url} sent an unreadable answer: {unreadable}"
            ) from None

    def _read(
        self, answer: _Recording, selecting: bool
    ) -> ox.QuerySolutions | ox.QueryBoolean | list[ox.Triple]:
        """The answer, read as it streams in and stopped past the row limit
        (:class:`RemoteAnswerTooLargeError`); see the module's docstring."""
        limit = math.inf if self.max_rows is None else self.max_rows
        if not selecting:
            triples: list[ox.Triple] = []
            for quad in ox.parse(cast(BinaryIO, answer), format=ox.RdfFormat.TURTLE):
                if len(triples) == limit:
                    raise RemoteAnswerTooLargeError(self.max_rows or 0, "triples")
                triples.append(quad.triple)
            return triples
        try:
            streamed = ox.parse_query_results(cast(BinaryIO, answer), format=ox.QueryResultsFormat.JSON)
            if isinstance(streamed, ox.QuerySolutions):
                for count, _ in enumerate(streamed, start=1):
                    if count > limit:
                        raise RemoteAnswerTooLargeError(self.max_rows or 0, "solutions")
            body = answer.rest()
        except SyntaxError:
            body = answer.rest()
            if VIRTUOSO_BLANK_NODE not in body:
                raise
        return ox.parse_query_results(_relabelled(body), format=ox.QueryResultsFormat.JSON)

    def select(self, text: str, **dataset: Any) -> ox.QuerySolutions:
        """The solutions of a SELECT query sent to the remote store (see :meth:`query`)."""
        results = self.query(text, **dataset)
        if not isinstance(results, ox.QuerySolutions):
            raise RemoteStoreError(f"the remote store {self.url} did not answer a SELECT with solutions")
        return results

    def named_graphs(self) -> list[str]:
        """The IRIs of the remote store's named graphs under the project's graph base, sorted."""
        found = set()
        for text in (GRAPHS_QUERY, GRAPHS_BY_TRIPLES_QUERY):
            solutions = self.select(text, default_graph=[], named_graphs=[])  # every graph there
            found = {str(row["g"].value) for row in solutions if isinstance(row["g"], ox.NamedNode)}
            if found:
                break
        return sorted(iri for iri in found if iri.startswith(GRAPH_BASE))

    def __len__(self) -> int:
        """Triples in the named graphs (the default graph of a union-default store would count twice)."""
        counts = self.select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
        return int(next(iter(counts))["n"].value)


def _relabelled(body: bytes) -> bytes:
    """SPARQL JSON results whose blank nodes have labels RDF allows: ``b`` and the hex of the label
    Virtuoso gave (its ``nodeID://b10002`` is none). Unchanged, and not parsed twice, without one."""
    if VIRTUOSO_BLANK_NODE not in body:
        return body
    answer = json.loads(body)
    for row in answer.get("results", {}).get("bindings", []):
        for term in row.values():
            if term.get("type") == "bnode" and term["value"].startswith("nodeID://"):
                term["value"] = "b" + term["value"].encode().hex()
    return json.dumps(answer).encode()


def _said(failure: Exception) -> str:
    return " ".join(str(failure).split())[:500]


class RemoteStore:
    """A query backend over a remote SPARQL endpoint: ``size`` request slots, each answered on a
    thread (see the module's docstring). Admission (``max_pending``) and draining are the worker
    pool's (:class:`~mildip_ld.engine.pool.Admission`); ``config`` is the pool's worker
    configuration (``max_results``, ``prefixes``, ``service_allowlist``, ``max_nesting``).
    """

    confinement: Confinement | None = None
    """No process of this server answers, so no network sandbox either."""

    def __init__(
        self,
        url: str,
        config: Any,
        size: int,
        max_pending: int | None = None,
        credentials: StoreCredentials | None = None,
    ) -> None:
        self.url, self.size, self.credentials = url, size, credentials
        self.admission = Admission(size, max_pending)
        self.job_config = dict(config) if isinstance(config, dict) else asdict(config)
        self.graphs: list[str] = []
        self.reachable = False
        self._closed = False
        self._slots = asyncio.Semaphore(size)
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="remote-sparql")

    @property
    def pids(self) -> list[int]:
        """This process once per request slot while the remote store answers; empty when it does not
        (``/health`` then says "down")."""
        return [os.getpid()] * self.size if self.reachable else []

    @property
    def starting(self) -> int:
        """Nothing is ever being started: the slots are threads."""
        return 0

    async def start(self) -> None:
        """Learn the remote store's named graphs; raises :class:`RemoteStoreError` when it does not answer."""
        loop = asyncio.get_running_loop()
        self.graphs = await loop.run_in_executor(
            self._executor, SparqlStore(self.url, 60, credentials=self.credentials).named_graphs
        )
        self.reachable = True

    def _answer(self, job: Job, timeout: float) -> Answer:
        """One job, on an executor thread."""
        store = SparqlStore(self.url, timeout + HTTP_GRACE_S, self.graphs, self.credentials)
        try:
            if isinstance(job, QueryJob):
                store.max_rows = self.job_config["max_results"]
                header, body = run_query(store, job, self.job_config)  # type: ignore[arg-type]
            else:
                self.graphs = store.named_graphs()
                store.graphs = self.graphs
                header, body = graph_counts(store)  # type: ignore[arg-type]
        except RemoteAnswerTooLargeError as failure:
            header, body = too_many(failure.max_rows, failure.what)
        except RemoteStoreError as failure:
            self.reachable = "could not be reached" not in str(failure)
            header, body = error(502, str(failure))
        except (ValueError, TypeError) as failure:
            header, body = error(502, f"the remote store's answer could not be read: {failure}")
        else:
            self.reachable = True
        return Answer.of(header, body)

    async def run(self, job: Job, timeout: float, wait: float | None = None) -> Answer:
        """Answer ``job`` on a slot that frees up within ``wait`` seconds (default ``timeout``), within
        ``timeout`` seconds: :class:`~mildip_ld.engine.pool.QueryTimeoutError` past it,
        :class:`~mildip_ld.engine.pool.PoolBusyError` when no slot frees up in time."""
        if self._closed:
            raise PoolClosedError("this remote store's connection was replaced")
        with self.admission.admit():
            return await self._answer_in_slot(job, timeout, timeout if wait is None else wait)

    async def _answer_in_slot(self, job: Job, timeout: float, wait: float) -> Answer:
        try:
            async with asyncio.timeout(wait):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolBusyError(
                f"all {self.size} connections to the remote store stayed busy for "
                f"{wait:g} s; try again later",
                headers={"Retry-After": "1"},
            ) from None
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._answer, job, timeout)
        future.add_done_callback(lambda _: self._slots.release())  # when the thread is really done
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            raise QueryTimeoutError(
                f"query exceeded the {timeout:g} s time limit and was abandoned; simplify it or add LIMIT"
            ) from None

    async def drain(self, grace: float) -> None:
        """Take no new job, let the jobs inside finish (at most ``grace`` s), then close."""
        try:
            await self.admission.drain(grace)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop taking jobs; threads still waiting on the remote store end with their HTTP timeout."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
