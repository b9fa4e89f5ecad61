"""Linked-data dereferencing: every IRI the project mints resolves on this server.

Design (W3C "Cool URIs for the Semantic Web", section 4.3, 303 URIs forwarding to different
documents): a resource IRI ``/id/{path}`` names a thing (Russia, an exercise, a passage), not a
document, so it never answers 200. It answers **303 See Other** to the document that describes
it in the representation the Accept header prefers: ``/doc/{path}.html`` for browsers,
``/doc/{path}.ttl|.jsonld|.nt|.rdf|.trig|.nq`` for RDF clients (``Vary: Accept``). Each document
URL is stable and bookmarkable; ``/doc/{path}`` without an extension negotiates directly (with
``Content-Location``). The IRIs ``https://w3id.org/mildip/id/…`` map to ``/id/…`` here (the w3id
redirect points to this server).

The ontology uses hash IRIs (``…/ontology#State``), so ``/ontology`` is itself the document:
it negotiates directly between the HTML documentation (anchors per term) and the ontology graph
in RDF, with ``Vary: Accept``. Named graph IRIs (``/graph/{name}``) 303 to their dumps.

The query page, example queries and static assets are in :mod:`mildip_ld.site.querypage`, and the
explanations of inferred triples (``/explain``, ``/id/statement/…``) in :mod:`mildip_ld.site.explainpage`,
both included here.

Handlers run on the event loop and do only what is cheap there (parse the path, negotiate, look
up whether a resource exists: two index lookups); documents are rendered through the render gate
(:mod:`mildip_ld.server.render_gate`), in a thread, once per release and representation.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import quote

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from mildip_ld.release.dumps import DUMPS_DIR
from mildip_ld.release.store import store_for
from mildip_ld.server.render_gate import Rendered, answer
from mildip_ld.server.security import SECURITY_HEADERS
from mildip_ld.site import article, browse, explainpage, querypage, searchpage, voidpage
from mildip_ld.site.describe import Describer
from mildip_ld.site.ontodiagram import DiagramUnavailableError, diagram_svg
from mildip_ld.site.ontodoc import OntologyDoc, document, ontology_graph
from mildip_ld.site.web import (
    gate_of,
    invalid_iri,
    not_found,
    not_found_page,
    page,
    release_of,
    root_path,
    store_of,
)
from mildip_ld.vocab.formats import (
    BY_EXTENSION,
    FORMATS,
    GRAPH_FORMATS,
    HTML_PAGE,
    RdfFormat,
    Representation,
    negotiate_document,
    serialize,
)
from mildip_ld.vocab.namespaces import GRAPH_BASE, NAMED_GRAPHS, ONTOLOGY, ONTOLOGY_IRI, RESOURCE_BASE

router = APIRouter()
router.include_router(querypage.router)
router.include_router(searchpage.router)
router.include_router(browse.router)
router.include_router(article.router)
router.include_router(voidpage.router)
router.include_router(explainpage.router)  # before /id/{path}: it serves /id/statement/…

DIAGRAM_EXTENSION, DIAGRAM_MEDIA_TYPE = "svg", "image/svg+xml"


def _alternates(root: str, stem: str) -> str:
    """A Link header listing every representation of a document (``stem`` + extension)."""
    links = [f'<{root}{stem}.{HTML_PAGE.extension}>; rel="alternate"; type="{HTML_PAGE.media_type}"']
    links += [f'<{root}{stem}.{fmt.extension}>; rel="alternate"; type="{fmt.media_type}"' for fmt in FORMATS]
    return ", ".join(links)


def _rdf(quads: list[ox.Quad], fmt: RdfFormat, headers: dict[str, str]) -> Rendered:
    """Quads as ``fmt``: graph formats (JSON-LD too) get the distinct triples; TriG, N-Quads keep graphs."""
    items = list(dict.fromkeys(quad.triple for quad in quads)) if fmt in GRAPH_FORMATS else quads
    return Rendered(
        serialize(items, fmt),
        fmt.media_type,
        headers=tuple({"X-Content-Type-Options": "nosniff", **headers}.items()),
    )


def _choose(request: Request, formats: tuple[RdfFormat, ...] = FORMATS) -> Representation:
    """The page or an RDF format, by the Accept header (the page when nothing matches)."""
    return negotiate_document(request.headers.get("accept"), formats)


# --- /id and /doc: resources minted by the project -------------------------------------------------


@router.api_route("/id/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def resource(request: Request, path: str) -> Response:
    """A resource IRI: 303 See Other to the document describing it, chosen by Accept."""
    iri = RESOURCE_BASE + path
    if (why := invalid_iri(iri)) is not None:
        return not_found(request, iri, why)
    if not path or not Describer(store_of(request)).exists(iri):
        return not_found(request, iri)
    chosen = _choose(request)
    extension = chosen.extension
    location = f"{root_path(request)}/doc/{quote(path)}.{extension}"
    return RedirectResponse(location, status_code=303, headers={"Vary": "Accept"})


def _document(
    release: Path, root: str, path: str, chosen: Representation, headers: dict[str, str]
) -> Rendered:
    """The document about ``/id/{path}`` in the chosen representation (run in a render thread)."""
    iri = RESOURCE_BASE + path
    describer = Describer(store_for(release))
    if isinstance(chosen, RdfFormat):
        return _rdf(describer.quads(iri), chosen, headers)
    formats = [(f.label, f.extension, f.media_type) for f in (HTML_PAGE, *FORMATS)]
    description = describer.describe(iri)
    if description is None:
        return not_found_page(True, root, iri)
    claims = {
        statement.subject.value
        for group in (description.outgoing, description.incoming)
        for statement in group.get("asserted", [])
        if statement.subject.kind == "iri"
    }
    context = {
        "d": description,
        "formats": formats,
        "doc": "/doc/" + quote(path),
        "context": article.context_of(release, iri),
        "hedges": article.hedges_of(store_for(release), claims),
    }
    return page("resource.html", context, root, headers=headers)


GROUP_PAGE_SIZE = 50
GROUP_SIDES = ("out", "in")


def _group(
    release: Path, root: str, stem: str, side: str, predicate: str, graph: str, number: int
) -> Rendered:
    """One property's statements in one named graph about ``/id/{stem}`` (``side`` out of or into
    it), page ``number`` of :data:`GROUP_PAGE_SIZE`, each with its sentence inline (in a render thread)."""
    store = store_for(release)
    describer = Describer(store)
    node, prop = ox.NamedNode(RESOURCE_BASE + stem), ox.NamedNode(predicate)
    graph_node = ox.NamedNode(str(NAMED_GRAPHS[graph]))
    pattern = (node, prop, None, graph_node) if side == "out" else (None, prop, node, graph_node)
    other_end = (lambda quad: quad.object) if side == "out" else (lambda quad: quad.subject)
    quads = sorted(store.quads_for_pattern(*pattern), key=lambda quad: str(other_end(quad)))
    total = len(quads)
    pages = max(1, -(-total // GROUP_PAGE_SIZE))
    statements = [
        describer.statement(quad) for quad in quads[(number - 1) * GROUP_PAGE_SIZE : number * GROUP_PAGE_SIZE]
    ]
    cited = sorted({source for statement in statements for source in statement.sources})
    passages = {iri: describer.passage(iri) for iri in cited}
    claims = {
        statement.subject.value
        for statement in statements
        if statement.graph == "asserted" and statement.subject.kind == "iri"
    }
    context = {
        "label": describer.label(node.value) or stem,
        "doc": "/doc/" + quote(stem),
        "side": side,
        "graph": graph,
        "predicate": describer.term(prop),
        "statements": statements,
        "passages": passages,
        "hedges": article.hedges_of(store, claims),
        "total": total,
        "page": number,
        "pages": pages,
        "size": GROUP_PAGE_SIZE,
    }
    return page("resource_group.html", context, root)


async def _group_page(request: Request, stem: str) -> Response:
    """``/doc/{stem}.html?side=out|in&property=IRI&graph=NAME&page=N``: a 400 naming what is wrong,
    else the page."""
    side, predicate = request.query_params.get("side", ""), request.query_params.get("property", "")
    graph = request.query_params.get("graph", "asserted")
    raw_page = request.query_params.get("page", "1")
    problem = None
    if side not in GROUP_SIDES:
        problem = f"side must be one of {', '.join(GROUP_SIDES)}, not {side[:20]!r}"
    elif (why := invalid_iri(predicate)) is not None:
        problem = f"property must be an absolute IRI ({why})"
    elif graph not in NAMED_GRAPHS:
        problem = f"graph must be one of {', '.join(NAMED_GRAPHS)}, not {graph[:20]!r}"
    elif not raw_page.isdigit() or not 1 <= int(raw_page) <= 100_000:
        problem = f"page must be a whole number from 1, not {raw_page[:20]!r}"
    root = root_path(request)
    if problem is not None:
        return answer(
            request, page("notfound.html", {"what": request.url.path, "why": problem}, root, status=400)
        )
    release = release_of(request).resolve()
    number = int(raw_page)
    return await gate_of(request).respond(
        request,
        "resource",
        (str(release), "group", stem, side, predicate, graph, number, root),
        lambda: _group(release, root, stem, side, predicate, graph, number),
    )


@router.api_route("/doc/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def resource_document(request: Request, path: str) -> Response:
    """The document about ``/id/{path}``: ``.html`` or an RDF extension, or negotiated without one."""
    if (why := invalid_iri(RESOURCE_BASE + path)) is not None:
        return not_found(request, RESOURCE_BASE + path, why)
    describer, root = Describer(store_of(request)), root_path(request)
    stem, dot, extension = path.rpartition(".")
    if (
        dot
        and (extension == HTML_PAGE.extension or extension in BY_EXTENSION)
        and describer.exists(RESOURCE_BASE + stem)
    ):
        chosen: Representation = BY_EXTENSION.get(extension, HTML_PAGE)
        subject, headers = stem, {"Link": _alternates(root, "/doc/" + quote(stem))}
    elif path and describer.exists(RESOURCE_BASE + path):
        chosen = _choose(request)
        extension = chosen.extension
        subject, headers = (
            path,
            {
                "Vary": "Accept",
                "Content-Location": f"{root}/doc/{quote(path)}.{extension}",
                "Link": _alternates(root, "/doc/" + quote(path)),
            },
        )
    else:
        return not_found(request, RESOURCE_BASE + path)
    if chosen is HTML_PAGE and "property" in request.query_params:
        return await _group_page(request, subject)
    release = release_of(request).resolve()
    return await gate_of(request).respond(
        request,
        "resource",
        (str(release), "doc", path, chosen.name, root),
        lambda: _document(release, root, subject, chosen, headers),
    )


# --- /ontology: hash IRIs, the document negotiates directly ----------------------------------------


@functools.lru_cache(maxsize=4)
def _ontology_doc(release: Path) -> OntologyDoc:
    return document(ontology_graph(store_for(release)))


def _ontology_rendered(release: Path, root: str, chosen: Representation, headers: dict[str, str]) -> Rendered:
    if isinstance(chosen, RdfFormat):
        quads = list(store_for(release).quads_for_pattern(None, None, None, ox.NamedNode(str(ONTOLOGY))))
        return _rdf(quads, chosen, headers)
    formats = [(f.label, f.extension, f.media_type) for f in GRAPH_FORMATS]
    return page("ontology.html", {"o": _ontology_doc(release), "formats": formats}, root, headers=headers)


def _diagram_rendered(release: Path, root: str) -> Rendered:
    """The ontology's diagram (SVG), or ``503`` naming what is missing when Graphviz is not there."""
    try:
        svg = diagram_svg(ontology_graph(store_for(release)), root)
    except DiagramUnavailableError as unavailable:
        return Rendered(f"{unavailable}\n".encode(), "text/plain; charset=utf-8", 503)
    return Rendered(svg, DIAGRAM_MEDIA_TYPE, headers=tuple(SECURITY_HEADERS.items()))


async def _diagram(request: Request) -> Response:
    """The ontology's diagram, rendered through the gate once per release and mount point."""
    release, root = release_of(request).resolve(), root_path(request)
    return await gate_of(request).respond(
        request,
        "ontology",
        (str(release), "ontology", DIAGRAM_EXTENSION, root),
        lambda: _diagram_rendered(release, root),
    )


async def _ontology(request: Request, chosen: Representation, negotiated: bool) -> Response:
    """The ontology in ``chosen``; ``negotiated``: by Accept, so with Vary, Content-Location and Link."""
    release, root = release_of(request).resolve(), root_path(request)
    headers: dict[str, str] = {}
    if negotiated:
        extension = chosen.extension
        headers = {
            "Vary": "Accept",
            "Content-Location": f"{root}/ontology.{extension}",
            "Link": _alternates(root, "/ontology"),
        }
    return await gate_of(request).respond(
        request,
        "ontology",
        (str(release), "ontology", chosen.name, negotiated, root),
        lambda: _ontology_rendered(release, root, chosen, headers),
    )


@router.api_route("/ontology", methods=["GET", "HEAD"], include_in_schema=False)
async def ontology(request: Request) -> Response:
    """The ontology (``https://w3id.org/mildip/ontology``): HTML documentation or RDF by Accept."""
    return await _ontology(request, _choose(request, GRAPH_FORMATS), negotiated=True)


@router.api_route("/ontology.{extension}", methods=["GET", "HEAD"], include_in_schema=False)
async def ontology_file(request: Request, extension: str) -> Response:
    """The ontology in one representation: ``.html``, ``.ttl``, ``.jsonld``, ``.nt`` or ``.rdf``;
    ``.svg`` is its diagram (:mod:`mildip_ld.site.ontodiagram`)."""
    if extension == HTML_PAGE.extension:
        return await _ontology(request, HTML_PAGE, negotiated=False)
    if extension == DIAGRAM_EXTENSION:
        return await _diagram(request)
    fmt = BY_EXTENSION.get(extension)
    if fmt is None or fmt not in GRAPH_FORMATS:
        return not_found(request, f"{ONTOLOGY_IRI}.{extension}")
    return await _ontology(request, fmt, negotiated=False)


@router.api_route("/ontology/{version}", methods=["GET", "HEAD"], include_in_schema=False)
async def ontology_version(request: Request, version: str) -> Response:
    """A version IRI (``…/ontology/0.1.0``): the served ontology when it is that version."""
    graph = ox.NamedNode(str(ONTOLOGY))
    if (why := invalid_iri(f"{ONTOLOGY_IRI}/{version}")) is not None:
        return not_found(request, f"{ONTOLOGY_IRI}/{version}", why)
    version_iri = ox.NamedNode(f"{ONTOLOGY_IRI}/{version}")
    owl_version = ox.NamedNode("http://www.w3.org/2002/07/owl#versionIRI")
    if not any(True for _ in store_of(request).quads_for_pattern(None, owl_version, version_iri, graph)):
        return not_found(request, version_iri.value)
    return await ontology(request)


# --- /graph: named graph IRIs ----------------------------------------------------------------------


@router.api_route("/graph/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def named_graph(request: Request, name: str) -> Response:
    """A named graph's IRI: 303 to its dump in the negotiated format (the dumps table for browsers)."""
    if name not in NAMED_GRAPHS:
        return not_found(request, GRAPH_BASE + name)
    chosen = _choose(request, GRAPH_FORMATS)
    target = (
        f"/{DUMPS_DIR}/{name}.{chosen.extension}"
        if isinstance(chosen, RdfFormat)
        else f"/{DUMPS_DIR}/#{name}"
    )
    return RedirectResponse(root_path(request) + target, status_code=303, headers={"Vary": "Accept"})
