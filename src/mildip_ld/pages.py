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

The query page, example queries and static assets are in :mod:`mildip_ld.querypage`, and the
explanations of inferred triples (``/explain``, ``/id/statement/…``) in :mod:`mildip_ld.explainpage`,
both included here.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import quote

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from . import explainpage, querypage
from .describe import Describer
from .dumps import DUMPS_DIR
from .formats import (
    BY_EXTENSION,
    FORMATS,
    GRAPH_FORMATS,
    HTML,
    RdfFormat,
    negotiate_rdf,
    serialize,
)
from .namespaces import GRAPH_BASE, NAMED_GRAPHS, ONTOLOGY, ONTOLOGY_IRI, RESOURCE_BASE
from .ontodoc import OntologyDoc, document, ontology_graph
from .web import invalid_iri, not_found, release_of, render, root_path, store_for, store_of

router = APIRouter()
router.include_router(querypage.router)
router.include_router(explainpage.router)  # before /id/{path}: it serves /id/statement/…

HTML_EXTENSION = "html"


def _alternates(request: Request, stem: str) -> str:
    """A Link header listing every representation of a document (``stem`` + extension)."""
    root = root_path(request)
    links = [f'<{root}{stem}.{HTML_EXTENSION}>; rel="alternate"; type="{HTML}"']
    links += [f'<{root}{stem}.{fmt.extension}>; rel="alternate"; type="{fmt.media_type}"' for fmt in FORMATS]
    return ", ".join(links)


def _rdf_response(quads: list[ox.Quad], fmt: RdfFormat, headers: dict[str, str]) -> Response:
    """Quads as ``fmt``: graph formats (JSON-LD too) get the distinct triples; TriG, N-Quads keep graphs."""
    items = list(dict.fromkeys(quad.triple for quad in quads)) if fmt in GRAPH_FORMATS else quads
    return Response(serialize(items, fmt), media_type=fmt.media_type,
                    headers={"X-Content-Type-Options": "nosniff", **headers})


def _choose(request: Request, formats=FORMATS) -> RdfFormat | str:
    """HTML or an RDF format, by the Accept header (HTML when nothing matches)."""
    return negotiate_rdf(request.headers.get("accept"), formats, html=True) or HTML


# --- /id and /doc: resources minted by the project -------------------------------------------------

@router.api_route("/id/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def resource(request: Request, path: str) -> Response:
    """A resource IRI: 303 See Other to the document describing it, chosen by Accept."""
    iri = RESOURCE_BASE + path
    if (why := invalid_iri(iri)) is not None:
        return not_found(request, iri, why)
    if not path or not Describer(store_of(request)).exists(iri):
        return not_found(request, iri)
    chosen = _choose(request)
    extension = HTML_EXTENSION if chosen == HTML else chosen.extension
    location = f"{root_path(request)}/doc/{quote(path)}.{extension}"
    return RedirectResponse(location, status_code=303, headers={"Vary": "Accept"})


def _document(request: Request, iri: str, chosen: RdfFormat | str, headers: dict[str, str]) -> Response:
    describer = Describer(store_of(request))
    if chosen == HTML:
        description = describer.describe(iri)
        formats = [("HTML", HTML_EXTENSION, HTML)] + [(f.label, f.extension, f.media_type) for f in FORMATS]
        return render(request, "resource.html", {"d": description, "formats": formats,
                                                 "doc": "/doc/" + quote(iri[len(RESOURCE_BASE):])},
                      headers=headers)
    return _rdf_response(describer.quads(iri), chosen, headers)


@router.api_route("/doc/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def resource_document(request: Request, path: str) -> Response:
    """The document about ``/id/{path}``: ``.html`` or an RDF extension, or negotiated without one."""
    if (why := invalid_iri(RESOURCE_BASE + path)) is not None:
        return not_found(request, RESOURCE_BASE + path, why)
    store = store_of(request)
    stem, dot, extension = path.rpartition(".")
    if dot and (extension == HTML_EXTENSION or extension in BY_EXTENSION) and \
            Describer(store).exists(RESOURCE_BASE + stem):
        chosen = HTML if extension == HTML_EXTENSION else BY_EXTENSION[extension]
        links = _alternates(request, "/doc/" + quote(stem))
        return _document(request, RESOURCE_BASE + stem, chosen, {"Link": links})
    if path and Describer(store).exists(RESOURCE_BASE + path):
        chosen = _choose(request)
        extension = HTML_EXTENSION if chosen == HTML else chosen.extension
        return _document(request, RESOURCE_BASE + path, chosen, {
            "Vary": "Accept", "Content-Location": f"{root_path(request)}/doc/{quote(path)}.{extension}",
            "Link": _alternates(request, "/doc/" + quote(path))})
    return not_found(request, RESOURCE_BASE + path)


# --- /ontology: hash IRIs, the document negotiates directly ----------------------------------------

@functools.lru_cache(maxsize=4)
def _ontology_doc(release: Path) -> OntologyDoc:
    return document(ontology_graph(store_for(release)))


def _ontology(request: Request, chosen: RdfFormat | str, headers: dict[str, str]) -> Response:
    if chosen == HTML:
        doc = _ontology_doc(release_of(request).resolve())
        return render(request, "ontology.html", {"o": doc, "formats": [(f.label, f.extension, f.media_type)
                                                                      for f in GRAPH_FORMATS]},
                      headers=headers)
    quads = list(store_of(request).quads_for_pattern(None, None, None, ox.NamedNode(str(ONTOLOGY))))
    return _rdf_response(quads, chosen, headers)


@router.api_route("/ontology", methods=["GET", "HEAD"], include_in_schema=False)
def ontology(request: Request) -> Response:
    """The ontology (``https://w3id.org/mildip/ontology``): HTML documentation or RDF by Accept."""
    chosen = _choose(request, GRAPH_FORMATS)
    extension = HTML_EXTENSION if chosen == HTML else chosen.extension
    return _ontology(request, chosen, {"Vary": "Accept", "Content-Location": f"{root_path(request)}/ontology."
                                       f"{extension}", "Link": _alternates(request, "/ontology")})


@router.api_route("/ontology.{extension}", methods=["GET", "HEAD"], include_in_schema=False)
def ontology_file(request: Request, extension: str) -> Response:
    """The ontology in one representation: ``.html``, ``.ttl``, ``.jsonld``, ``.nt`` or ``.rdf``."""
    if extension == HTML_EXTENSION:
        return _ontology(request, HTML, {})
    fmt = BY_EXTENSION.get(extension)
    if fmt is None or fmt not in GRAPH_FORMATS:
        return not_found(request, f"{ONTOLOGY_IRI}.{extension}")
    return _ontology(request, fmt, {})


@router.api_route("/ontology/{version}", methods=["GET", "HEAD"], include_in_schema=False)
def ontology_version(request: Request, version: str) -> Response:
    """A version IRI (``…/ontology/0.1.0``): the served ontology when it is that version."""
    graph = ox.NamedNode(str(ONTOLOGY))
    if (why := invalid_iri(f"{ONTOLOGY_IRI}/{version}")) is not None:
        return not_found(request, f"{ONTOLOGY_IRI}/{version}", why)
    version_iri = ox.NamedNode(f"{ONTOLOGY_IRI}/{version}")
    owl_version = ox.NamedNode("http://www.w3.org/2002/07/owl#versionIRI")
    if not any(True for _ in store_of(request).quads_for_pattern(None, owl_version, version_iri, graph)):
        return not_found(request, version_iri.value)
    return ontology(request)


# --- /graph: named graph IRIs ----------------------------------------------------------------------

@router.api_route("/graph/{name}", methods=["GET", "HEAD"], include_in_schema=False)
def named_graph(request: Request, name: str) -> Response:
    """A named graph's IRI: 303 to its dump in the negotiated format (the dumps table for browsers)."""
    if name not in NAMED_GRAPHS:
        return not_found(request, GRAPH_BASE + name)
    chosen = _choose(request, GRAPH_FORMATS)
    target = f"/{DUMPS_DIR}/#{name}" if chosen == HTML else f"/{DUMPS_DIR}/{name}.{chosen.extension}"
    return RedirectResponse(root_path(request) + target, status_code=303, headers={"Vary": "Accept"})
