"""``mildip publish``: push every named graph of a release to a SPARQL 1.1 Graph Store.

Any server of the SPARQL 1.1 Graph Store HTTP Protocol takes them: Apache Jena Fuseki
(``http://host:3030/DATASET/data``), GraphDB (``http://host:7200/repositories/REPO/rdf-graphs/service``),
Virtuoso (``http://host:8890/sparql-graph-crud-auth``), Oxigraph (``http://host:7878/store``).
Each graph is one ``PUT URL?graph=IRI`` (which replaces that graph on the server), its body the
graph as N-Triples (sent as ``text/turtle`` on request: N-Triples is Turtle) written to a
temporary file first and streamed from it with its length, so that neither side holds a whole
graph in memory and servers that refuse chunked bodies still take it.

Credentials (:class:`~mildip_ld.vocab.settings.StoreCredentials`, from ``MILDIP_STORE_USER`` and
``MILDIP_STORE_PASSWORD`` or ``MILDIP_STORE_PASSWORD_FILE``, never a flag) log in with HTTP digest
(Virtuoso) or basic (Fuseki, GraphDB), through httpx. For digest, one ``HEAD`` before the first
graph learns the server's challenge; httpx then signs every PUT up front, so a graph is not sent
once to be refused with 401 and again with the answer. A challenge that does go stale is answered
and the graph sent again, read afresh from its file.
"""

from __future__ import annotations

import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyoxigraph as ox

from mildip_ld.release.store import open_store
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.namespaces import GRAPH_BASE
from mildip_ld.vocab.settings import StoreCredentials

CONTENT_TYPES = {"ntriples": "application/n-triples", "turtle": "text/turtle"}
ERROR_BODY_CHARS = 500
CHUNK_BYTES = 1 << 20


class PublishError(MildipError):
    """A graph could not be pushed (the server refused it or could not be reached)."""

    status = 502


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


class FileBody:
    """A file's bytes in chunks, read from its start each time it is iterated (so a request that
    an authentication challenge makes httpx send again sends the whole file again)."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def __iter__(self) -> Iterator[bytes]:
        with open(self.file, "rb") as body:
            while chunk := body.read(CHUNK_BYTES):
                yield chunk


def http_auth(credentials: StoreCredentials | None) -> httpx.Auth | None:
    """httpx's digest or basic authentication for ``credentials``; None without them."""
    if credentials is None:
        return None
    kind = httpx.DigestAuth if credentials.scheme == "digest" else httpx.BasicAuth
    return kind(credentials.user, credentials.password.get_secret_value())


def put(client: httpx.Client, url: str, file: Path, content_type: str) -> int:
    """PUT ``file`` to ``url``; the status, or :class:`PublishError` with the server's words."""
    headers = {"Content-Type": content_type, "Content-Length": str(file.stat().st_size)}
    try:
        with client.stream("PUT", url, content=FileBody(file), headers=headers) as answer:
            if answer.is_success:
                return answer.status_code
            said = b"".join(answer.iter_bytes())[:ERROR_BODY_CHARS].decode("utf-8", "replace").strip()
    except httpx.HTTPError as failure:
        raise PublishError(f"could not PUT {url}: {failure}") from None
    hint = (
        " (credentials may be needed: MILDIP_STORE_USER with MILDIP_STORE_PASSWORD or "
        "MILDIP_STORE_PASSWORD_FILE, or MILDIP_PUBLISH_TOKEN)"
        if answer.status_code in (401, 403)
        else ""
    )
    raise PublishError(
        f"PUT {url} answered {answer.status_code} {answer.reason_phrase}{hint}"
        + (f": {said}" if said else "")
    )


def learn_challenge(client: httpx.Client, url: str) -> None:
    """One ``HEAD`` of ``url``, whatever it answers: digest authentication keeps the server's
    challenge and signs the PUTs that follow with it."""
    try:
        client.head(url)
    except httpx.HTTPError as failure:
        raise PublishError(f"could not reach {url}: {failure}") from None


def publish(
    release: Path,
    store_url: str,
    graphs: Iterable[str] = (),
    token: str | None = None,
    content_type: str = CONTENT_TYPES["ntriples"],
    timeout: float = 600.0,
    progress: Callable[[Pushed], None] = lambda _: None,
    credentials: StoreCredentials | None = None,
) -> list[Pushed]:
    """Push the release's named graphs (all, or those named in ``graphs``) to ``store_url``, as
    ``credentials`` (if any) and with ``token`` as a bearer token (if any).

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
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = httpx.Client(auth=http_auth(credentials), headers=headers, timeout=timeout)
    with client, tempfile.TemporaryDirectory(prefix="mildip-publish-") as folder:
        if credentials is not None and credentials.scheme == "digest" and wanted:
            learn_challenge(client, target_url(store_url, wanted[0]))
        file = Path(folder) / "graph.nt"
        for iri in wanted:
            started = time.perf_counter()
            triples = write_graph(store, iri, file)
            status = put(client, target_url(store_url, iri), file, content_type)
            pushed.append(Pushed(iri, triples, file.stat().st_size, time.perf_counter() - started, status))
            progress(pushed[-1])
    return pushed
