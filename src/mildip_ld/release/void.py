"""A VoID + DCAT description of the dataset, computed from the live store with SPARQL.

Counts (triples per named graph, class and property partitions, the Wikidata linkset) are
aggregates over the release's store, never numbers copied from elsewhere; the dump files are
described with the sizes and SHA-256 checksums of the files actually written. The dataset and its
parts are hash IRIs of ``https://w3id.org/mildip/void`` so they keep their identity whichever host
serves them; the access URLs (SPARQL endpoint, downloads) are built from a base URL given by the
caller: the request's own base for ``/.well-known/void``, the public base for ``dumps/void.ttl``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, OWL, RDF, RDFS, SKOS, XSD

from mildip_ld.vocab.namespaces import (
    DCAT,
    NAMED_GRAPHS,
    ONTOLOGY_IRI,
    RESOURCE_BASE,
    VOID,
    WD,
    bind_prefixes,
)
from mildip_ld.vocab.terms import select

VOID_DOC = "https://w3id.org/mildip/void"
DATASET = URIRef(VOID_DOC + "#dataset")
LINKSET = URIRef(VOID_DOC + "#wikidata-links")
SPARQL_SERVICE = URIRef(VOID_DOC + "#sparql")
WIKIDATA = URIRef("http://www.wikidata.org/entity/Q2013")
PUBLIC_BASE = "https://w3id.org/mildip/"
"""Where the project's services live publicly (the w3id redirect points to the server)."""

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
IANA_MEDIA = "https://www.iana.org/assignments/media-types/"
DATA_LICENSE = URIRef("https://creativecommons.org/licenses/by/4.0/")
TITLE = "mildip-ld: military diplomacy knowledge graph"
DESCRIPTION = (
    "The article 'Military diplomacy in Russia' as a validated, OWL 2 RL-inferred RDF "
    "knowledge graph: actors, instruments, aims and the source sentence behind every claim, "
    "in named graphs for asserted claims, inferred triples, the ontology, the SHACL shapes "
    "and the provenance of each quoted passage."
)
GRAPH_TITLES = {
    "asserted": "claims asserted from the source text",
    "inferred": "triples inferred by OWL 2 RL (materialized closure, filtered)",
    "ontology": "the mildip ontology",
    "shapes": "the SHACL shapes the data conforms to",
    "provenance": "source passages with their text selectors",
    "derivations": "every derivation of every inferred triple (PROV-O): its OWL 2 RL rule, "
    "premises and modality, down to the sentences it rests on",
}


@dataclass(frozen=True)
class GraphStats:
    """VoID statistics of one graph (or of the whole dataset)."""

    triples: int = 0
    entities: int = 0
    subjects: int = 0
    objects: int = 0
    classes: int = 0
    properties: int = 0


def _rows(store: ox.Store, query: str) -> Iterable[dict[str, ox.NamedNode | ox.Literal | ox.BlankNode]]:
    solutions = select(store, query)
    variables = [variable.value for variable in solutions.variables]
    for solution in solutions:
        yield {name: solution[name] for name in variables if solution[name] is not None}


def _int(term: ox.NamedNode | ox.BlankNode | ox.Literal | None) -> int:
    """A count's value (0 for an unbound one)."""
    return int(term.value) if term is not None else 0


STATS_QUERY = f"""
SELECT ?g (COUNT(*) AS ?triples) (COUNT(DISTINCT ?s) AS ?subjects) (COUNT(DISTINCT ?o) AS ?objects)
       (COUNT(DISTINCT ?p) AS ?properties)
       (COUNT(DISTINCT IF(isIRI(?s) && STRSTARTS(STR(?s), "{RESOURCE_BASE}"), ?s, ?unbound)) AS ?entities)
       (COUNT(DISTINCT IF(?p = <{RDF.type}>, ?o, ?unbound)) AS ?classes)
WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }} GROUP BY ?g"""
TOTAL_QUERY = STATS_QUERY.replace("SELECT ?g", "SELECT").replace("GROUP BY ?g", "")
CLASS_QUERY = """SELECT ?g ?class (COUNT(DISTINCT ?s) AS ?entities)
WHERE { GRAPH ?g { ?s a ?class } } GROUP BY ?g ?class"""
CLASS_TOTAL_QUERY = """SELECT ?class (COUNT(DISTINCT ?s) AS ?entities)
WHERE { GRAPH ?g { ?s a ?class } } GROUP BY ?class"""
PROPERTY_QUERY = """SELECT ?g ?property (COUNT(*) AS ?triples)
WHERE { GRAPH ?g { ?s ?property ?o } } GROUP BY ?g ?property"""
LINKSET_QUERY = f"""SELECT (COUNT(*) AS ?links) (COUNT(DISTINCT ?s) AS ?subjects)
       (COUNT(DISTINCT ?o) AS ?objects)
WHERE {{ SELECT DISTINCT ?s ?o WHERE {{ GRAPH ?g {{ ?s <{SKOS.exactMatch}> ?o }}
         FILTER(isIRI(?o) && STRSTARTS(STR(?o), "{WD}")) }} }}"""
SOURCES_QUERY = """SELECT DISTINCT ?source
WHERE { GRAPH ?g { ?passage <http://www.w3.org/ns/oa#hasSource> ?source } }"""
CREATOR_QUERY = f"""SELECT ?creator
WHERE {{ GRAPH ?g {{ <{ONTOLOGY_IRI}> <{DCTERMS.creator}> ?creator }} }} LIMIT 1"""


def _stats(row: dict) -> GraphStats:
    return GraphStats(
        *(
            _int(row.get(key))
            for key in ("triples", "entities", "subjects", "objects", "classes", "properties")
        )
    )


def graph_stats(store: ox.Store) -> dict[str, GraphStats]:
    """Statistics per named graph (keyed by graph IRI) and of the whole dataset (key ``""``).

    The dataset's ``triples`` is the number of quads, the sum over its named graphs.
    """
    stats = {row["g"].value: _stats(row) for row in _rows(store, STATS_QUERY)}
    stats[""] = _stats(next(iter(_rows(store, TOTAL_QUERY)), {}))
    return stats


def _namespace(iri: str) -> str:
    match = re.match(r"^(.*[#/])[^#/]*$", iri)
    return match.group(1) if match else iri


def _node(*key: str) -> BNode:
    """A blank node with a label derived from ``key``, so the serialization is reproducible."""
    return BNode("b" + hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:16])


def _release_time(release: str) -> Literal | None:
    try:
        moment = datetime.strptime(release, "%Y%m%dT%H%M%S%fZ")
    except ValueError:
        return None
    return Literal(moment.strftime("%Y-%m-%dT%H:%M:%SZ"), datatype=XSD.dateTime)


class _Describer:
    """Accumulates the VoID graph; one instance per description."""

    def __init__(self, store: ox.Store, base_url: str) -> None:
        self.store = store
        self.base = base_url.rstrip("/") + "/"
        self.graph = bind_prefixes(Graph())
        for prefix, namespace in (("sd", SD), ("spdx", SPDX), ("foaf", FOAF)):
            self.graph.bind(prefix, namespace)

    def add(self, subject, predicate, obj) -> None:
        self.graph.add((subject, predicate, obj))

    def count(self, subject, predicate, value: int) -> None:
        self.add(subject, predicate, Literal(value, datatype=XSD.integer))

    def statistics(self, subject: URIRef, stats: GraphStats) -> None:
        for predicate, value in (
            (VOID.triples, stats.triples),
            (VOID.entities, stats.entities),
            (VOID.distinctSubjects, stats.subjects),
            (VOID.distinctObjects, stats.objects),
            (VOID.classes, stats.classes),
            (VOID.properties, stats.properties),
        ):
            self.count(subject, predicate, value)

    def partitions(self, subject: URIRef, classes: dict[str, int], properties: dict[str, int]) -> None:
        for counts, term, predicate, measure in (
            (classes, VOID["class"], VOID.classPartition, VOID.entities),
            (properties, VOID.property, VOID.propertyPartition, VOID.triples),
        ):
            for iri, value in sorted(counts.items()):
                partition = _node(str(subject), str(predicate), iri)
                self.add(subject, predicate, partition)
                self.add(partition, term, URIRef(iri))
                self.count(partition, measure, value)

    def distribution(self, subject: URIRef, dump: DumpFile) -> None:
        url = URIRef(f"{self.base}dumps/{dump.file}")
        distribution = URIRef(f"{VOID_DOC}#dump-{dump.file}")
        self.add(subject, VOID.dataDump, url)
        self.add(subject, DCAT.distribution, distribution)
        self.add(distribution, RDF.type, DCAT.Distribution)
        self.add(distribution, DCTERMS.title, Literal(dump.file))
        self.add(distribution, DCAT.downloadURL, url)
        self.add(distribution, DCAT.accessURL, URIRef(f"{self.base}dumps/"))
        self.add(distribution, DCAT.mediaType, URIRef(IANA_MEDIA + dump.media_type))
        if dump.compressed:
            self.add(distribution, DCAT.compressFormat, URIRef(IANA_MEDIA + "application/gzip"))
        self.add(distribution, DCAT.byteSize, Literal(dump.size, datatype=XSD.nonNegativeInteger))
        self.add(distribution, DCTERMS.license, DATA_LICENSE)
        checksum = _node(dump.file, dump.sha256)
        self.add(distribution, SPDX.checksum, checksum)
        self.add(checksum, RDF.type, SPDX.Checksum)
        self.add(checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256)
        self.add(checksum, SPDX.checksumValue, Literal(dump.sha256, datatype=XSD.hexBinary))


def void_graph(
    store: ox.Store,
    dumps: Sequence[DumpFile],
    base_url: str = PUBLIC_BASE,
    release: str = "",
    formats: dict[str, str] | None = None,
) -> Graph:
    """The VoID/DCAT graph of the store's dataset, its named graphs, dumps and links to Wikidata.

    ``dumps`` are the files to describe as distributions; ``formats`` maps a dump's format name to
    its W3C format IRI (for void:feature); ``release`` is the release's stamp (for dates and version).
    """
    out = _Describer(store, base_url)
    stats = graph_stats(store)
    classes: dict[str, dict[str, int]] = {}
    properties: dict[str, dict[str, int]] = {}
    for row in _rows(store, CLASS_QUERY):
        classes.setdefault(row["g"].value, {})[row["class"].value] = _int(row["entities"])
    for row in _rows(store, PROPERTY_QUERY):
        properties.setdefault(row["g"].value, {})[row["property"].value] = _int(row["triples"])
    all_classes = {row["class"].value: _int(row["entities"]) for row in _rows(store, CLASS_TOTAL_QUERY)}
    all_properties: dict[str, int] = {}
    for counts in properties.values():
        for iri, value in counts.items():
            all_properties[iri] = all_properties.get(iri, 0) + value

    add = out.add
    add(DATASET, RDF.type, VOID.Dataset)
    add(DATASET, RDF.type, DCAT.Dataset)
    add(DATASET, RDF.type, SD.Dataset)
    add(DATASET, DCTERMS.title, Literal(TITLE, lang="en"))
    add(DATASET, DCTERMS.description, Literal(DESCRIPTION, lang="en"))
    add(DATASET, DCTERMS.license, DATA_LICENSE)
    add(DATASET, DCTERMS.conformsTo, URIRef(ONTOLOGY_IRI))
    add(DATASET, FOAF.homepage, URIRef(out.base))
    add(DATASET, DCAT.landingPage, URIRef(out.base))
    add(DATASET, VOID.uriSpace, Literal(RESOURCE_BASE))
    add(DATASET, VOID.sparqlEndpoint, URIRef(out.base + "sparql"))
    add(DATASET, VOID.rootResource, URIRef(ONTOLOGY_IRI))
    for row in _rows(store, CREATOR_QUERY):
        add(DATASET, DCTERMS.creator, Literal(row["creator"].value))
    for row in _rows(store, SOURCES_QUERY):
        add(DATASET, DCTERMS.source, URIRef(row["source"].value))
    issued = _release_time(release)
    if issued is not None:
        add(DATASET, DCTERMS.modified, issued)
    if release:
        add(DATASET, OWL.versionInfo, Literal(release))
    example = f"{RESOURCE_BASE}russia"
    if any(True for _ in store.quads_for_pattern(ox.NamedNode(example), None, None)):
        add(DATASET, VOID.exampleResource, URIRef(example))
    out.statistics(DATASET, stats[""])
    out.partitions(DATASET, all_classes, all_properties)
    for namespace in sorted({_namespace(iri) for iri in list(all_properties) + list(all_classes)}):
        add(DATASET, VOID.vocabulary, URIRef(namespace))

    service = SPARQL_SERVICE
    add(service, RDF.type, DCAT.DataService)
    add(service, RDF.type, SD.Service)
    add(service, DCTERMS.title, Literal("SPARQL 1.1 endpoint", lang="en"))
    add(service, DCAT.endpointURL, URIRef(out.base + "sparql"))
    add(service, SD.endpoint, URIRef(out.base + "sparql"))
    add(service, DCTERMS.conformsTo, URIRef("https://www.w3.org/TR/sparql11-protocol/"))
    add(service, DCAT.servesDataset, DATASET)
    add(service, SD.defaultDataset, DATASET)

    for name, iri in NAMED_GRAPHS.items():
        if str(iri) not in stats:
            continue
        subset = URIRef(f"{VOID_DOC}#graph-{name}")
        named = URIRef(f"{VOID_DOC}#named-graph-{name}")
        add(DATASET, VOID.subset, subset)
        add(DATASET, SD.namedGraph, named)
        add(named, RDF.type, SD.NamedGraph)
        add(named, SD.name, iri)
        add(named, SD.graph, subset)
        add(subset, RDF.type, VOID.Dataset)
        add(subset, RDF.type, SD.Graph)
        add(subset, RDF.type, DCAT.Dataset)
        add(subset, DCTERMS.title, Literal(f"{name} graph", lang="en"))
        add(subset, DCTERMS.description, Literal(GRAPH_TITLES.get(name, name), lang="en"))
        add(subset, DCTERMS.license, DATA_LICENSE)
        add(subset, RDFS.seeAlso, iri)
        out.statistics(subset, stats[str(iri)])
        out.partitions(subset, classes.get(str(iri), {}), properties.get(str(iri), {}))

    links = next(iter(_rows(store, LINKSET_QUERY)), {})
    add(DATASET, VOID.subset, LINKSET)
    add(LINKSET, RDF.type, VOID.Linkset)
    add(LINKSET, DCTERMS.title, Literal("links to Wikidata items", lang="en"))
    add(LINKSET, VOID.linkPredicate, SKOS.exactMatch)
    add(LINKSET, VOID.subjectsTarget, DATASET)
    add(LINKSET, VOID.objectsTarget, WIKIDATA)
    add(LINKSET, VOID.target, DATASET)
    add(LINKSET, VOID.target, WIKIDATA)
    out.count(LINKSET, VOID.triples, _int(links.get("links")))
    out.count(LINKSET, VOID.distinctSubjects, _int(links.get("subjects")))
    out.count(LINKSET, VOID.distinctObjects, _int(links.get("objects")))
    add(WIKIDATA, RDF.type, VOID.Dataset)
    add(WIKIDATA, DCTERMS.title, Literal("Wikidata", lang="en"))
    add(WIKIDATA, FOAF.homepage, URIRef("https://www.wikidata.org/"))
    add(WIKIDATA, VOID.uriSpace, Literal(str(WD)))
    add(WIKIDATA, VOID.sparqlEndpoint, URIRef("https://query.wikidata.org/sparql"))

    graph_subset = {name: URIRef(f"{VOID_DOC}#graph-{name}") for name in NAMED_GRAPHS}
    for dump in dumps:
        out.distribution(graph_subset.get(dump.graph, DATASET), dump)
        feature = (formats or {}).get(dump.format)
        if feature:
            add(DATASET, VOID.feature, URIRef(feature))
    return out.graph


def release_name(release: Path) -> str:
    """The release's stamp, from its manifest (falls back to the folder name)."""
    try:
        return json.loads((release / "manifest.json").read_text())["release"]
    except (OSError, ValueError, KeyError):
        return release.name


GZIP = "application/gzip"


@dataclass(frozen=True)
class DumpFile:
    """One written file, as listed in ``index.json``."""

    file: str
    format: str
    media_type: str
    """Media type of the content (of the decompressed content for a .gz file)."""
    graph: str
    graph_iri: str | None
    compressed: bool
    size: int
    sha256: str
    triples: int

    @property
    def served_type(self) -> str:
        """The Content-Type it is served with (gzip files are served as such, not re-encoded)."""
        return GZIP if self.compressed else self.media_type
