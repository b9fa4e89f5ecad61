"""The SPARQL 1.1 Graph Store HTTP Protocol at ``/store`` (indirect graph identification).

``GET`` and ``HEAD /store?default`` or ``/store?graph=IRI`` answer the default graph (the union
of the named graphs, as at ``/sparql``) or one named graph, for everyone, in the RDF format the
Accept header prefers. The triples come from the release's N-Quads exactly as written, not from
the store (which canonicalizes derived datatypes), so that a graph read here can be edited and
written back. ``PUT`` (replace), ``POST`` (add) and ``DELETE`` (empty) of the asserted or
provenance graph need the update token and go through the validated, atomic writes of
:mod:`mildip_ld.commit`: answered 204 once the new release is served, 422 with the violated shapes
when the result would not conform, and nothing changes then.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from typing import TYPE_CHECKING

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import Response

from . import conneg, openapi
from .build import DATASET_FILE
from .namespaces import PREFIXES, WRITABLE_GRAPHS
from .protocol import ClientDisconnectedError, ProtocolError, media_type_of, read_body, url_params
from .render_gate import Rendered, RenderRefusedError, answer

if TYPE_CHECKING:
    from .endpoint import Endpoint

PATH = "/store"
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
        return Rendered(f"the graph has {len(triples)} triples, more than the limit of {max_results} of this "
                        f"endpoint; download it from /dumps/".encode(), None, 422)
    prefixes = {prefix: str(namespace) for prefix, namespace in PREFIXES.items()}
    return Rendered(conneg.serialize_triples(triples, fmt, prefixes), conneg.media_type(fmt),
                    headers=(("Vary", "Accept"),))


class GraphStore:
    """The Graph Store handlers, answering for what ``endpoint`` serves and through its writer."""

    def __init__(self, endpoint: Endpoint) -> None:
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
            rendered = await gate.get("graph_store", (str(release), "store", graph, fmt.media_type),
                                      lambda: read_graph(release, graph, fmt, settings.max_results),
                                      lambda answer: answer.cost)
        except RenderRefusedError as refused:
            return self.endpoint.refuse(503, str(refused), refused.headers, f"render_{refused.outcome}")
        if rendered.status >= 400:
            return self.endpoint.refuse(rendered.status, rendered.body.decode("utf-8"))
        return answer(request, rendered)

    async def write(self, request: Request) -> Response:
        """PUT, POST or DELETE of the asserted or provenance graph, with the update token."""
        settings, method = self.endpoint.settings, request.method
        media_type = None
        try:
            self.endpoint.authorize(request, f"Graph Store {method}")
            graph = target(request, settings.max_url_bytes)
            if graph not in [str(iri) for iri in WRITABLE_GRAPHS]:
                writable = " and ".join(f"<{iri}>" for iri in WRITABLE_GRAPHS)
                raise ProtocolError(403, f"{'the default graph' if graph is None else f'<{graph}>'} cannot "
                                         f"be written here: only {writable} can (the inferred graph is "
                                         f"computed, the ontology and shapes come from the build, the "
                                         f"default graph is their union, and no new graph is created)")
            payload = b""
            if method != "DELETE":
                media_type = media_type_of(request)
                if ox.RdfFormat.from_media_type(media_type) is None:
                    raise ProtocolError(415, f"unsupported Content-Type {media_type or '(none)'!r}: send "
                                             f"Turtle, N-Triples, RDF/XML, JSON-LD or N3")
                payload = await read_body(request, settings.max_body_bytes)
        except ClientDisconnectedError:
            return self.endpoint.client_gone(request)
        except ProtocolError as failure:
            return self.endpoint.refuse(failure.status, failure.message, failure.headers)
        return await self.endpoint.write(request, {
            "op": "graph", "method": method, "graph": graph, "media_type": media_type,
            "payload": base64.b64encode(payload).decode("ascii")})


def router(endpoint: Endpoint) -> APIRouter:
    """The ``/store`` routes of ``endpoint``."""
    store = GraphStore(endpoint)
    routes = APIRouter()
    for method in READ_METHODS + WRITE_METHODS:
        handler = store.read if method in READ_METHODS else store.write
        routes.add_api_route(PATH, handler, methods=[method], name="graph_store",
                             operation_id=f"graph_store_{method.lower()}",
                             summary=f"SPARQL 1.1 Graph Store HTTP Protocol: {method}",
                             response_class=Response, openapi_extra=openapi.GRAPH_STORE[method])
    return routes
