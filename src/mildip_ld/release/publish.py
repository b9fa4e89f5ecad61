"""``mildip publish``: push every named graph of a release to a SPARQL 1.1 Graph Store.

Any server of the SPARQL 1.1 Graph Store HTTP Protocol takes them: Apache Jena Fuseki
(``http://host:3030/DATASET/data``), GraphDB (``http://host:7200/repositories/REPO/rdf-graphs/service``),
Virtuoso (``http://host:8890/sparql-graph-crud-auth``), Oxigraph (``http://host:7878/store``).
Each graph is one ``PUT URL?graph=IRI`` (which replaces that graph on the server), its body the
graph as N-Triples (sent as ``text/turtle`` on request: N-Triples is Turtle) written to a
temporary file first and streamed from it with its length, so that neither side holds a whole
graph in memory and servers that refuse chunked bodies still take it.
"""

from __future__ import annotations

import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from mildip_ld.release.store import open_store
from mildip_ld.vocab.namespaces import GRAPH_BASE

CONTENT_TYPES = {"ntriples": "application/n-triples", "turtle": "text/turtle"}
ERROR_BODY_CHARS = 500


class PublishError(Exception):
    """A graph could not be pushed (the server refused it or could not be reached)."""


@dataclass(frozen=True)
class Pushed:
    """One graph sent: its IRI, triples, bytes of N-Triples, seconds and the server's status."""

    graph: str
    triples: int
    size: int
    seconds: float
    status: int


def graph_iri(name: str) -> str:
    """A full graph IRI from a short name of the project's graphs (``inferred``) or an IRI."""
    return name if ":" in name else GRAPH_BASE + name


def target_url(store_url: str, graph: str) -> str:
    """``store_url`` with ``graph=IRI`` added to its query string (indirect graph identification)."""
    parts = urllib.parse.urlsplit(store_url)
    query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), ("graph", graph)])
    return urllib.parse.urlunsplit(parts._replace(query=query))


def release_graphs(store: ox.Store) -> list[str]:
    """The IRIs of the store's named graphs, sorted."""
    return sorted(str(graph.value) for graph in store.named_graphs() if isinstance(graph, ox.NamedNode))


def _counted(triples: Iterable[ox.Triple], counter: list[int]) -> Iterator[ox.Triple]:
    for triple in triples:
        counter[0] += 1
        yield triple


def write_graph(store: ox.Store, graph: str, file: Path) -> int:
    """Write one named graph of ``store`` to ``file`` as N-Triples; the number of triples."""
    counter = [0]
    quads = store.quads_for_pattern(None, None, None, ox.NamedNode(graph))
    ox.serialize(_counted((quad.triple for quad in quads), counter), str(file), ox.RdfFormat.N_TRIPLES)
    return counter[0]


def put(url: str, file: Path, content_type: str, token: str | None, timeout: float) -> int:
    """PUT ``file`` to ``url``; the status, or :class:`PublishError` with the server's words."""
    headers = {"Content-Type": content_type, "Content-Length": str(file.stat().st_size)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with open(file, "rb") as body:
        request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            said = refused.read(ERROR_BODY_CHARS).decode("utf-8", "replace").strip()
            hint = " (a token may be needed: --token)" if refused.code in (401, 403) else ""
            raise PublishError(
                f"PUT {url} answered {refused.code} {refused.reason}{hint}" + (f": {said}" if said else "")
            ) from None
        except (urllib.error.URLError, OSError) as failure:
            reason = getattr(failure, "reason", failure)
            raise PublishError(f"could not PUT {url}: {reason}") from None


def publish(
    release: Path,
    store_url: str,
    graphs: Iterable[str] = (),
    token: str | None = None,
    content_type: str = CONTENT_TYPES["ntriples"],
    timeout: float = 600.0,
    progress: Callable[[Pushed], None] = lambda _: None,
) -> list[Pushed]:
    """Push the release's named graphs (all, or those named in ``graphs``) to ``store_url``.

    Stops at the first refusal with :class:`PublishError`; graphs pushed before it stay pushed.
    """
    store = open_store(release)
    present = release_graphs(store)
    wanted = [graph_iri(name) for name in graphs] or present
    missing = [iri for iri in wanted if iri not in present]
    if missing:
        raise PublishError(
            f"no such graph in {release.name}: {', '.join(missing)}; it has "
            f"{', '.join(iri.removeprefix(GRAPH_BASE) for iri in present)}"
        )
    pushed = []
    with tempfile.TemporaryDirectory(prefix="mildip-publish-") as folder:
        file = Path(folder) / "graph.nt"
        for iri in wanted:
            started = time.perf_counter()
            triples = write_graph(store, iri, file)
            status = put(target_url(store_url, iri), file, content_type, token, timeout)
            pushed.append(Pushed(iri, triples, file.stat().st_size, time.perf_counter() - started, status))
            progress(pushed[-1])
    return pushed
