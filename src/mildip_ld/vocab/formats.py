"""RDF serialization formats: names, file extensions, media types, and HTTP content negotiation.

The one format registry: :data:`FORMATS` (and :data:`ANSWER_FORMATS`, :data:`RESULTS_FORMATS`)
serve the dumps, the VoID description, the resource pages and the SPARQL endpoint's answers, so a
format is spelt the same way everywhere (``?format=turtle``, ``.ttl``, ``text/turtle``), and
:func:`negotiate` is the one reading of an Accept header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import mimeparse
import pyoxigraph as ox

from mildip_ld.vocab.namespaces import PREFIXES


@dataclass(frozen=True)
class Representation:
    """One way a document is offered: an RDF syntax (:class:`RdfFormat`) or the page for people
    (:data:`HTML_PAGE`)."""

    name: str
    """Short name used in URLs and on the command line (``turtle``, ``nquads``, ``html``...)."""
    extension: str
    media_type: str
    label: str


@dataclass(frozen=True)
class RdfFormat(Representation):
    """One RDF syntax as this server names, stores and serves it."""

    oxigraph: ox.RdfFormat
    rdflib: str
    """The name rdflib's parser knows it by (for tests and tools)."""
    w3c: str
    """The format's IRI under http://www.w3.org/ns/formats/ (for void:feature and dcterms:format)."""
    aliases: tuple[str, ...] = ()
    """Other media types that ask for this format in an Accept header."""

    @property
    def datasets(self) -> bool:
        """True when the syntax can carry named graphs (quads)."""
        return self.oxigraph.supports_datasets


FORMATS: tuple[RdfFormat, ...] = (
    RdfFormat(
        "turtle",
        "ttl",
        "text/turtle",
        "Turtle",
        ox.RdfFormat.TURTLE,
        "turtle",
        "http://www.w3.org/ns/formats/Turtle",
        ("application/x-turtle", "application/turtle"),
    ),
    RdfFormat(
        "ntriples",
        "nt",
        "application/n-triples",
        "N-Triples",
        ox.RdfFormat.N_TRIPLES,
        "nt",
        "http://www.w3.org/ns/formats/N-Triples",
        ("text/plain",),  # RDF 1.0's media type for N-Triples
    ),
    RdfFormat(
        "nquads",
        "nq",
        "application/n-quads",
        "N-Quads",
        ox.RdfFormat.N_QUADS,
        "nquads",
        "http://www.w3.org/ns/formats/N-Quads",
    ),
    RdfFormat(
        "trig",
        "trig",
        "application/trig",
        "TriG",
        ox.RdfFormat.TRIG,
        "trig",
        "http://www.w3.org/ns/formats/TriG",
    ),
    RdfFormat(
        "jsonld",
        "jsonld",
        "application/ld+json",
        "JSON-LD",
        ox.RdfFormat.JSON_LD,
        "json-ld",
        "http://www.w3.org/ns/formats/JSON-LD",
        ("application/json",),
    ),
    RdfFormat(
        "rdfxml",
        "rdf",
        "application/rdf+xml",
        "RDF/XML",
        ox.RdfFormat.RDF_XML,
        "xml",
        "http://www.w3.org/ns/formats/RDF_XML",
        ("application/xml", "text/xml"),
    ),
)
N3 = RdfFormat("n3", "n3", "text/n3", "N3", ox.RdfFormat.N3, "n3", "http://www.w3.org/ns/formats/N3")
"""N3: offered for SPARQL graph answers (SPARQLWrapper asks for it), not written as a dump."""
ANSWER_FORMATS: tuple[RdfFormat, ...] = (*FORMATS, N3)
"""Every RDF syntax a graph answer of the endpoint (CONSTRUCT, DESCRIBE, the service
description, a Graph Store read) comes in, most preferred first."""


@dataclass(frozen=True)
class ResultsFormat:
    """One SPARQL results syntax (for SELECT and ASK answers)."""

    name: str
    oxigraph: ox.QueryResultsFormat
    aliases: tuple[str, ...] = ()
    """Other media types that ask for this format in an Accept header."""

    @property
    def media_type(self) -> str:
        """The media type without parameters (the answer states its charset itself)."""
        return self.oxigraph.media_type.split(";")[0]


RESULTS_FORMATS: tuple[ResultsFormat, ...] = (
    ResultsFormat("json", ox.QueryResultsFormat.JSON, ("application/json",)),
    ResultsFormat("xml", ox.QueryResultsFormat.XML, ("application/xml", "text/xml")),
    ResultsFormat("csv", ox.QueryResultsFormat.CSV),
    ResultsFormat("tsv", ox.QueryResultsFormat.TSV),
)
"""Every SPARQL results syntax of the endpoint, most preferred first."""

BY_NAME = {fmt.name: fmt for fmt in FORMATS}
BY_EXTENSION = {fmt.extension: fmt for fmt in FORMATS}
GRAPH_FORMATS = tuple(fmt for fmt in FORMATS if fmt.name in ("turtle", "ntriples", "jsonld", "rdfxml"))
"""The formats a single graph (one resource, one named graph) is offered in."""
QUAD_FORMATS = tuple(fmt for fmt in FORMATS if fmt.datasets)
"""The formats the whole dataset, named graphs kept, is offered in."""

HTML = "text/html"
HTML_PAGE = Representation("html", "html", HTML, "HTML")
"""The page for people about a resource, an explanation or the ontology, beside its RDF formats."""


def serialize(items: Iterable[ox.Triple] | Iterable[ox.Quad], fmt: RdfFormat) -> bytes:
    """Serialize triples (graph formats) or quads (dataset formats) with the project's prefixes."""
    return ox.serialize(items, format=fmt.oxigraph, prefixes=PREFIXES) or b""


def negotiate(
    accept: str | None, offers: Sequence[str], aliases: Mapping[str, Sequence[str]] | None = None
) -> str | None:
    """The offered media type the client prefers (q-values, wildcards), or None if none is acceptable.

    ``aliases`` maps an offer to other media types that ask for it. An absent, empty or malformed
    Accept header accepts anything, so the first offer (the default) wins; so do ties.
    """
    if not offers:
        return None
    if not accept or not accept.strip():
        return offers[0]
    candidates = [(offer, offer) for offer in offers]
    candidates += [(alias, offer) for offer in offers for alias in (aliases or {}).get(offer, ())]
    canonical = dict(candidates)
    try:  # mimeparse breaks ties in favour of the later entry: put the default last
        best = mimeparse.best_match([media for media, _ in reversed(candidates)], accept)
    except (ValueError, IndexError):
        return offers[0]
    return canonical.get(best) if best else None


def negotiate_rdf(accept: str | None, formats: Sequence[RdfFormat]) -> RdfFormat | None:
    """The RDF format the Accept header prefers among ``formats``; None when none is acceptable."""
    aliases = {fmt.media_type: fmt.aliases for fmt in formats}
    chosen = negotiate(accept, [fmt.media_type for fmt in formats], aliases)
    return next((fmt for fmt in formats if fmt.media_type == chosen), None)


def negotiate_document(accept: str | None, formats: Sequence[RdfFormat]) -> Representation:
    """The page (:data:`HTML_PAGE`, offered first) or the RDF format among ``formats`` the Accept
    header prefers; the page when none is acceptable (a person's browser gets something to read)."""
    offered: list[Representation] = [HTML_PAGE, *formats]
    aliases = {fmt.media_type: fmt.aliases for fmt in formats} | {HTML: ("application/xhtml+xml",)}
    chosen = negotiate(accept, [option.media_type for option in offered], aliases)
    return next((option for option in offered if option.media_type == chosen), HTML_PAGE)
