"""The project's IRIs: one base for ontology terms, one for resources, one for named graphs."""

from typing import TypeVar

from rdflib import Graph, Namespace
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD

ONTOLOGY_IRI = "https://w3id.org/mildip/ontology"
MD = Namespace(ONTOLOGY_IRI + "#")
"""Ontology terms (classes, properties, controlled values)."""

RESOURCE_BASE = "https://w3id.org/mildip/id/"
MDR = Namespace(RESOURCE_BASE)
"""Resources minted by the project: actors, activities, passages, sources..."""

GRAPH_BASE = "https://w3id.org/mildip/graph/"
GRAPH = Namespace(GRAPH_BASE)
ASSERTED = GRAPH["asserted"]
INFERRED = GRAPH["inferred"]
ONTOLOGY = GRAPH["ontology"]
SHAPES = GRAPH["shapes"]
PROVENANCE = GRAPH["provenance"]
DERIVATIONS = GRAPH["derivations"]
"""Every derivation of every inferred triple, with its modality and the passages it rests on (PROV-O)."""
NAMED_GRAPHS = {
    "asserted": ASSERTED,
    "inferred": INFERRED,
    "ontology": ONTOLOGY,
    "shapes": SHAPES,
    "provenance": PROVENANCE,
    "derivations": DERIVATIONS,
}
WRITABLE_GRAPHS = (ASSERTED, PROVENANCE)
"""The project's graphs a validated write may change (the others are computed or come from the build)."""


def is_writable_graph(iri: str | None) -> bool:
    """True for a graph a validated write may change: the asserted or provenance graph, or a graph of
    the writer's own (any IRI outside the project's graph namespace); never the default graph (the
    union) nor a computed or curated graph of the project (inferred, ontology, shapes, derivations…)."""
    return iri is not None and (
        iri in [str(graph) for graph in WRITABLE_GRAPHS] or not iri.startswith(GRAPH_BASE)
    )


OA = Namespace("http://www.w3.org/ns/oa#")
SCHEMA = Namespace("https://schema.org/")
SH = Namespace("http://www.w3.org/ns/shacl#")
WD = Namespace("http://www.wikidata.org/entity/")
VOID = Namespace("http://rdfs.org/ns/void#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")

_NAMESPACES = {
    "md": MD,
    "mdr": MDR,
    "act": MDR["activity/"],
    "mship": MDR["membership/"],
    "challenge": MDR["challenge/"],
    "aim": MDR["aim/"],
    "factor": MDR["factor/"],
    "period": MDR["period/"],
    "tech": MDR["technology/"],
    "graph": GRAPH,
    "oa": OA,
    "schema": SCHEMA,
    "sh": SH,
    "wd": WD,
    "prov": PROV,
    "skos": SKOS,
    "dcterms": DCTERMS,
    "owl": OWL,
    "rdf": RDF,
    "rdfs": RDFS,
    "xsd": XSD,
    "void": VOID,
    "dcat": DCAT,
}
PREFIXES: dict[str, str] = {prefix: str(namespace) for prefix, namespace in _NAMESPACES.items()}
"""Prefix -> namespace IRI, for every serialization and query prologue the project writes."""


GraphT = TypeVar("GraphT", bound=Graph)


def bind_prefixes(graph: GraphT) -> GraphT:
    """Bind the project's prefixes on a graph (or a dataset: for readable serializations) and return it."""
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace, override=True)
    return graph
