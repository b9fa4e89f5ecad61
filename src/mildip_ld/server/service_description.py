"""The endpoint's SPARQL 1.1 Service Description, generated as RDF with pyoxigraph.

The SPARQL service (``sd:Service``) names its languages, features, result formats and dataset.
The Graph Store at ``/store`` is no SPARQL service (it runs no query language, so typing it
``sd:Service`` would fail the W3C ``conforms-to-schema`` test): it is described as a DCAT data
service that conforms to the Graph Store HTTP Protocol, a part of the SPARQL service.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyoxigraph as ox

from mildip_ld.vocab.conneg import Rdf, Results, serialize_triples

SD = "http://www.w3.org/ns/sparql-service-description#"
VOID = "http://rdfs.org/ns/void#"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_COMMENT = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#comment")
DCTERMS_TITLE = ox.NamedNode("http://purl.org/dc/terms/title")
DCTERMS_HAS_PART = ox.NamedNode("http://purl.org/dc/terms/hasPart")
DCTERMS_CONFORMS_TO = ox.NamedNode("http://purl.org/dc/terms/conformsTo")
GRAPH_STORE_PROTOCOL = ox.NamedNode("http://www.w3.org/TR/sparql11-http-rdf-update/")
DCAT = "http://www.w3.org/ns/dcat#"
FORMATS = "http://www.w3.org/ns/formats/"
FORMAT_IRIS: dict[Rdf | Results, str] = {Rdf.JSON_LD: FORMATS + "JSON-LD"}
"""W3C's format IRIs where pyoxigraph's differ (it names JSON-LD ``https://…/formats/data/JSON-LD``)."""

RESULT_FORMATS = (
    Results.JSON,
    Results.XML,
    Results.CSV,
    Results.TSV,
    Rdf.TURTLE,
    Rdf.N_TRIPLES,
    Rdf.JSON_LD,
    Rdf.RDF_XML,
    Rdf.TRIG,
    Rdf.N_QUADS,
    Rdf.N3,
)
PREFIXES = {
    "sd": SD,
    "void": VOID,
    "dcterms": "http://purl.org/dc/terms/",
    "dcat": DCAT,
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "formats": FORMATS,
}


def sd(term: str) -> ox.NamedNode:
    """A term of the Service Description vocabulary."""
    return ox.NamedNode(SD + term)


def format_iri(fmt: Rdf | Results) -> str:
    """The W3C IRI (http://www.w3.org/ns/formats/) of an answer format."""
    return FORMAT_IRIS.get(fmt, fmt.iri)


def _graph(node: ox.BlankNode, triples: int) -> Iterator[ox.Triple]:
    yield ox.Triple(node, RDF_TYPE, sd("Graph"))
    yield ox.Triple(
        node,
        ox.NamedNode(VOID + "triples"),
        ox.Literal(str(triples), datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")),
    )


def _graph_store(service: ox.NamedNode, url: str, updates: bool) -> list[ox.Triple]:
    """The Graph Store HTTP Protocol service at ``url``, as a part of ``service``."""
    store = ox.NamedNode(url + "#service")
    access = "GET and HEAD of the default graph (?default) or a named graph (?graph=IRI) for everyone; " + (
        "PUT, POST and DELETE of the asserted and provenance graphs, and of graphs of your own "
        "(IRIs outside https://w3id.org/mildip/graph/), with the update token, applied only when "
        "the result conforms to the shapes"
        if updates
        else "PUT, POST and DELETE are refused: this endpoint is read-only"
    )
    return [
        ox.Triple(service, DCTERMS_HAS_PART, store),
        ox.Triple(store, RDF_TYPE, ox.NamedNode(DCAT + "DataService")),
        ox.Triple(store, ox.NamedNode(DCAT + "endpointURL"), ox.NamedNode(url)),
        ox.Triple(store, DCTERMS_TITLE, ox.Literal("mildip-ld Graph Store")),
        ox.Triple(store, DCTERMS_CONFORMS_TO, GRAPH_STORE_PROTOCOL),
        ox.Triple(store, RDFS_COMMENT, ox.Literal(access)),
    ]


def service_triples(
    endpoint: str,
    graphs: dict[str, int],
    default_triples: int,
    *,
    updates: bool,
    federation: bool,
    limits: str,
    graph_store: str | None = None,
) -> list[ox.Triple]:
    """The description of the service at ``endpoint``: languages, formats, features, dataset,
    and the Graph Store Protocol service at ``graph_store`` (when given).

    ``graphs`` maps each named graph IRI to its triple count; the default graph (the union of the
    named graphs unless a request names its dataset) holds ``default_triples``.
    """
    service = ox.NamedNode(endpoint + "#service")
    triples = [
        ox.Triple(service, RDF_TYPE, sd("Service")),
        ox.Triple(service, sd("endpoint"), ox.NamedNode(endpoint)),
        ox.Triple(service, DCTERMS_TITLE, ox.Literal("mildip-ld SPARQL endpoint")),
        ox.Triple(service, RDFS_COMMENT, ox.Literal(limits)),
        ox.Triple(service, sd("supportedLanguage"), sd("SPARQL11Query")),
        ox.Triple(service, sd("feature"), sd("UnionDefaultGraph")),
    ]
    if updates:
        triples.append(ox.Triple(service, sd("supportedLanguage"), sd("SPARQL11Update")))
    if federation:
        triples.append(ox.Triple(service, sd("feature"), sd("BasicFederatedQuery")))
    if graph_store:
        triples += _graph_store(service, graph_store, updates)
    triples += [
        ox.Triple(service, sd("resultFormat"), ox.NamedNode(format_iri(fmt))) for fmt in RESULT_FORMATS
    ]
    dataset, default = ox.BlankNode(), ox.BlankNode()
    triples += [
        ox.Triple(service, sd("defaultDataset"), dataset),
        ox.Triple(dataset, RDF_TYPE, sd("Dataset")),
        ox.Triple(dataset, sd("defaultGraph"), default),
        *_graph(default, default_triples),
    ]
    for iri, count in sorted(graphs.items()):
        named, graph = ox.BlankNode(), ox.BlankNode()
        triples += [
            ox.Triple(dataset, sd("namedGraph"), named),
            ox.Triple(named, RDF_TYPE, sd("NamedGraph")),
            ox.Triple(named, sd("name"), ox.NamedNode(iri)),
            ox.Triple(named, sd("graph"), graph),
            *_graph(graph, count),
        ]
    return triples


def serialize(triples: list[ox.Triple], fmt: Rdf) -> bytes:
    """The description in ``fmt``."""
    return serialize_triples(triples, fmt, PREFIXES)
