"""The SPARQL 1.1 Graph Store HTTP Protocol at ``/store`` (indirect graph identification).

``GET`` and ``HEAD /store?default`` or ``/store?graph=IRI`` answer the default graph (the union
of the named graphs, as at ``/sparql``) or one named graph, for everyone, in the RDF format the
Accept header prefers. The triples come from the release's N-Quads exactly as written, not from
the store (which canonicalizes derived datatypes), so that a graph read here can be edited and
written back. ``PUT`` (replace), ``POST`` (add) and ``DELETE`` (remove) of the asserted or
provenance graph, or of a graph of the writer's own (any IRI outside the project's graph
namespace), need the update token and go through the validated, atomic writes of
:mod:`mildip_ld.curation.commit`: answered 201 when the write created the graph, 204 otherwise, once the new
release is served; 404 for a DELETE of a graph the store does not hold; 422 with the violated
shapes when the result would not conform, and nothing changes then.

A read carries a strong ETag naming the release, the graph and the format
(:func:`~mildip_ld.release.releases.etag`), and ``If-None-Match`` answers 304; a write's ``If-Match`` /
``If-None-Match`` are checked by the writer against the current release under the build lock (412
when stale). ``GET /store/writes?id=<write id>`` tells whether a write (its ``X-Mildip-Write``
answer header, or the ``Idempotency-Key`` the client sent) was committed, and in which release:
200 with JSON, 404 when it was not (or not yet). Beside the dumps, ``/dumps/changes.rdfp`` is the
served release's change from its parent, every graph, as RDF Patch.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from typing import Any, Protocol

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mildip_ld.release import changes
from mildip_ld.release.build import DATASET_FILE, RELEASES_DIR
from mildip_ld.release.releases import etag
from mildip_ld.server import openapi
from mildip_ld.server.files import file_response
from mildip_ld.server.protocol import (
    ClientDisconnectedError,
    ProtocolError,
    media_type_of,
    read_body,
    require_utf8,
    url_params,
)
from mildip_ld.server.render_gate import Rendered, RenderGate, RenderRefusedError, if_none_match
from mildip_ld.vocab import conneg
from mildip_ld.vocab.namespaces import GRAPH_BASE, PREFIXES, WRITABLE_GRAPHS, is_writable_graph
from mildip_ld.vocab.settings import Settings

PATH = "/store"
WRITES_PATH = "/store/writes"
PATCH_PATH = "/dumps/" + changes.RELEASE_PATCH_FILE
PATCH_MEDIA_TYPE = "application/rdf-patch"
READ_METHODS = ("GET", "HEAD")
WRITE_METHODS = ("PUT", "POST", "DELETE")


def target(request: Request, max_url_bytes: int) -> str | None:
    """The graph a request names: a named graph's IRI, or None for ``?default``."""
    params = url_params(request, max_url_bytes)
    graphs = [value for key, value in params if key == "graph"]
    default = any(key == "default" for key, _ in params)
    if len(graphs) + default != 1:
        raise ProtocolError(400, "name exactly one graph: ?default, or ?graph= and the graph's IRI")
    if default:
        return None
    try:
        return ox.NamedNode(graphs[0]).value
    except ValueError as failure:
        raise ProtocolError(400, f"graph {graphs[0]!r} is not an absolute IRI: {failure}") from None


@functools.lru_cache(maxsize=2)
def release_graphs(release: Path) -> dict[str, list[ox.Triple]]:
    """Each named graph's triples, read from the release's N-Quads as the build wrote them."""
    graphs: dict[str, list[ox.Triple]] = {}
    for quad in ox.parse(path=str(release / DATASET_FILE), format=ox.RdfFormat.N_QUADS):
        if isinstance(quad.graph_name, ox.NamedNode):
            graphs.setdefault(quad.graph_name.value, []).append(quad.triple)
    return graphs


def triples_of(release: Path, graph: str | None) -> list[ox.Triple] | None:
    """The triples of ``graph`` (None: the default graph, the union); None when there is no such graph."""
    graphs = release_graphs(release)
    if graph is None:
        return list(dict.fromkeys(triple for triples in graphs.values() for triple in triples))
    return graphs.get(graph)


def read_graph(release: Path, graph: str | None, fmt: ox.RdfFormat, max_results: int) -> Rendered:
    """A Graph Store read's answer (run in a render thread): the graph serialized as ``fmt``, or the
    refusal (404 no such graph, 422 more triples than ``max_results``) as text."""
    triples = triples_of(release, graph)
    if triples is None:
        return Rendered(f"this store has no graph <{graph}>".encode(), None, 404)
    if len(triples) > max_results:
        return Rendered(
            f"the graph has {len(triples)} triples, more than the limit of {max_results} of this "
            f"endpoint; download it from /dumps/".encode(),
            None,
            422,
        )
    return Rendered(
        conneg.serialize_triples(triples, fmt, PREFIXES),
        conneg.media_type(fmt),
        headers=(("Vary", "Accept"),),
    )


class Host(Protocol):
    """What the Graph Store needs of the endpoint that mounts it
    (:class:`~mildip_ld.server.endpoint.Endpoint`)."""

    settings: Settings
    release: Path
    gate: RenderGate
    counts: dict[str, Any]

    def refuse(
        self, status: int, message: str, headers: dict[str, str] | None = None, reason: str | None = None
    ) -> Response: ...

    def client_gone(self, request: Request) -> Response: ...

    def authorize(self, request: Request, what: str) -> None: ...

    async def write(self, request: Request, job: dict[str, Any]) -> Response: ...


class GraphStore:
    """The Graph Store handlers, answering for what ``endpoint`` serves and through its writer."""

    def __init__(self, endpoint: Host) -> None:
        self.endpoint = endpoint

    async def read(self, request: Request) -> Response:
        """GET or HEAD: the graph in the negotiated RDF format; 404 when the store has no such graph."""
        settings = self.endpoint.settings
        try:
            graph = target(request, settings.max_url_bytes)
        except ProtocolError as failure:
            return self.endpoint.refuse(failure.status, failure.message)
        fmt = conneg.negotiate_rdf(request.headers.get("accept"))
        if fmt is None:
            return self.endpoint.refuse(406, f"graphs are offered as {conneg.offered('graph')}")
        release, gate = self.endpoint.release, self.endpoint.gate
        try:
            rendered = await gate.get(
                "graph_store",
                (str(release), "store", graph, fmt.media_type),
                lambda: read_graph(release, graph, fmt, settings.max_results),
                lambda answer: answer.cost,
            )
        except RenderRefusedError as refused:
            return self.endpoint.refuse(503, str(refused), refused.headers, f"render_{refused.outcome}")
        if rendered.status >= 400:
            return self.endpoint.refuse(rendered.status, rendered.body.decode("utf-8"))
        headers = {**dict(rendered.headers), "ETag": etag(release.name, graph, fmt)}
        if if_none_match(request, headers["ETag"]):
            return Response(status_code=304, headers=headers)
        return Response(rendered.body, media_type=rendered.media_type, headers=headers)

    async def release_patch(self, request: Request) -> Response:
        """The served release's change from its parent release as RDF Patch (404 for a release
        published before releases carried one)."""
        path = self.endpoint.release / changes.RELEASE_PATCH_FILE
        if not path.is_file():
            return self.endpoint.refuse(404, f"release {self.endpoint.release.name} has no {path.name}")
        return file_response(request, path, PATCH_MEDIA_TYPE, cache_control="public, max-age=86400")

    async def write_status(self, request: Request) -> Response:
        """Whether the write ``?id=`` was committed: 200 with its release, origin, author and time,
        404 when it was not."""
        try:
            params = url_params(request, self.endpoint.settings.max_url_bytes)
            ids = [value for key, value in params if key == "id"]
        except ProtocolError as failure:
            return self.endpoint.refuse(failure.status, failure.message)
        if len(ids) != 1 or not changes.WRITE_ID.match(ids[0]):
            return self.endpoint.refuse(
                400, "name one write: ?id= and its id (1 to 64 letters, digits, '-' or '_')"
            )
        settings = self.endpoint.settings
        change = changes.find(Path(settings.data_dir), ids[0], Path(settings.build_dir) / RELEASES_DIR)
        if change is None:
            return self.endpoint.refuse(
                404,
                f"no write {ids[0]!r} was committed (a write the server was "
                f"killed in the middle of was not, and never will be)",
            )
        return JSONResponse(
            {
                "id": change.id,
                "committed": True,
                "release": change.release,
                "origin": change.origin,
                "by": change.by,
                "created": change.created,
                "parent": change.parent,
                "deleted": len(change.deleted),
                "added": len(change.added),
            }
        )

    async def write(self, request: Request) -> Response:
        """PUT, POST or DELETE of the asserted or provenance graph, with the update token."""
        settings, method = self.endpoint.settings, request.method
        media_type = None
        try:
            self.endpoint.authorize(request, f"Graph Store {method}")
            graph = target(request, settings.max_url_bytes)
            if not is_writable_graph(graph):
                writable = ", ".join(f"<{iri}>" for iri in WRITABLE_GRAPHS)
                raise ProtocolError(
                    403,
                    f"{'the default graph' if graph is None else f'<{graph}>'} cannot "
                    f"be written here: only {writable} and graphs of your own (IRIs "
                    f"outside <{GRAPH_BASE}>) can (the inferred graph is computed, the "
                    f"ontology and shapes come from the build, and the default graph "
                    f"is the union of the named graphs)",
                )
            payload = b""
            if method != "DELETE":
                media_type = media_type_of(request)
                if ox.RdfFormat.from_media_type(media_type) is None:
                    raise ProtocolError(
                        415,
                        f"unsupported Content-Type {media_type or '(none)'!r}: send "
                        f"Turtle, N-Triples, RDF/XML, JSON-LD or N3",
                    )
                require_utf8(request)
                payload = await read_body(request, settings.max_body_bytes)
        except ClientDisconnectedError:
            return self.endpoint.client_gone(request)
        except ProtocolError as failure:
            return self.endpoint.refuse(failure.status, failure.message, failure.headers)
        created = method != "DELETE" and graph not in self.endpoint.counts["graphs"]
        answer = await self.endpoint.write(
            request,
            {
                "op": "graph",
                "method": method,
                "graph": graph,
                "media_type": media_type,
                "payload": base64.b64encode(payload).decode("ascii"),
            },
        )
        if created and answer.status_code == 204 and graph in self.endpoint.counts["graphs"]:
            answer.status_code = 201  # the Graph Store Protocol's answer to a write that creates a graph
        return answer


def router(endpoint: Host) -> APIRouter:
    """The ``/store`` routes of ``endpoint``."""
    store = GraphStore(endpoint)
    routes = APIRouter()
    routes.add_api_route(
        WRITES_PATH,
        store.write_status,
        methods=["GET"],
        name="graph_store_write",
        summary="Whether a write was committed, and in which release",
        response_class=Response,
    )
    routes.add_api_route(PATCH_PATH, store.release_patch, methods=["GET", "HEAD"], include_in_schema=False)
    for method in READ_METHODS + WRITE_METHODS:
        handler = store.read if method in READ_METHODS else store.write
        routes.add_api_route(
            PATH,
            handler,
            methods=[method],
            name="graph_store",
            operation_id=f"graph_store_{method.lower()}",
            summary=f"SPARQL 1.1 Graph Store HTTP Protocol: {method}",
            response_class=Response,
            openapi_extra=openapi.GRAPH_STORE[method],
        )
    return routes
