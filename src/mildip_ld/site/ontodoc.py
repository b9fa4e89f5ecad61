"""The ontology's documentation model: its metadata, classes, properties and named individuals,
read from the release's ontology graph (what ``/ontology`` shows to a browser)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyoxigraph as ox
from rdflib import BNode, Graph, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS

from mildip_ld.site.describe import curie, local_path
from mildip_ld.vocab.namespaces import MD, ONTOLOGY, ONTOLOGY_IRI, PREFIXES
from mildip_ld.vocab.terms import to_rdflib

PROPERTY_TYPES = (OWL.ObjectProperty, OWL.DatatypeProperty)
CHARACTERISTICS = (
    OWL.TransitiveProperty,
    OWL.SymmetricProperty,
    OWL.AsymmetricProperty,
    OWL.FunctionalProperty,
    OWL.InverseFunctionalProperty,
    OWL.ReflexiveProperty,
    OWL.IrreflexiveProperty,
)


@dataclass(frozen=True)
class Ref:
    """A link to a term: its text and where it goes."""

    text: str
    href: str | None
    iri: str


@dataclass
class Entry:
    """One documented term (class, property or individual)."""

    iri: str
    anchor: str
    label: str
    definition: str | None
    notes: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    links: dict[str, list[Ref] | list[list[Ref]]] = field(default_factory=dict)
    """Relation name (``superclasses``, ``domain``, ``chains``...) to the terms it points to."""


@dataclass
class OntologyDoc:
    """The documentation page's content."""

    iri: str
    title: str
    description: str | None
    metadata: list[tuple[str, str]]
    classes: list[Entry]
    properties: list[Entry]
    individuals: list[Entry]
    hierarchy: list[tuple[int, Ref]] = field(default_factory=list)
    """The class tree, depth first: (depth, class); a class under several parents appears under each."""
    namespaces: list[tuple[str, str]] = field(default_factory=list)
    history: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    """The versions, newest first: (version IRI, prior version IRI, change note)."""


def ontology_graph(store: ox.Store) -> Graph:
    """The ontology named graph of a release's store, as an rdflib Graph."""
    graph = Graph()
    for quad in store.quads_for_pattern(None, None, None, ox.NamedNode(str(ONTOLOGY))):
        graph.add(tuple(to_rdflib(term) for term in (quad.subject, quad.predicate, quad.object)))
    return graph


class _Reader:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def text(self, subject, predicate) -> str | None:
        values = sorted(
            self.graph.objects(subject, predicate),
            key=lambda v: (getattr(v, "language", None) not in ("en", None), str(v)),
        )
        return str(values[0]) if values else None

    def ref(self, node) -> Ref | None:
        if isinstance(node, BNode):
            members = self.union(node)
            return Ref(" or ".join(m.text for m in members), None, "") if members else None
        iri = str(node)
        path = local_path(iri)
        label = curie(iri) or iri
        return Ref(label, path if path else iri, iri)

    def union(self, node: BNode) -> list[Ref]:
        for operator in (OWL.unionOf, OWL.intersectionOf):
            members = self.graph.value(node, operator)
            if members is not None:
                return [r for r in (self.ref(m) for m in Collection(self.graph, members)) if r]
        return []

    def refs(self, nodes) -> list[Ref]:
        found = [r for r in (self.ref(n) for n in nodes) if r]
        return sorted(found, key=lambda r: r.text.lower())

    def entry(self, subject: URIRef, kinds: list[str]) -> Entry:
        iri = str(subject)
        return Entry(
            iri=iri,
            anchor=iri.rsplit("#", 1)[-1],
            label=self.text(subject, RDFS.label) or iri,
            definition=self.text(subject, SKOS.definition) or self.text(subject, RDFS.comment),
            notes=[str(n) for n in self.graph.objects(subject, SKOS.scopeNote)]
            + [f"notation: {n}" for n in self.graph.objects(subject, SKOS.notation)],
            kinds=kinds,
        )

    def terms(self, kind) -> list[URIRef]:
        return sorted(
            {
                s
                for s in self.graph.subjects(RDF.type, kind)
                if isinstance(s, URIRef) and str(s).startswith(str(MD))
            },
            key=str,
        )


def document(graph: Graph) -> OntologyDoc:
    """Read the ontology's documentation from its graph."""
    read = _Reader(graph)
    ontology = URIRef(ONTOLOGY_IRI)
    classes = []
    for cls in read.terms(OWL.Class):
        entry = read.entry(cls, ["class"])
        entry.links = {
            "superclasses": read.refs(graph.objects(cls, RDFS.subClassOf)),
            "subclasses": read.refs(graph.subjects(RDFS.subClassOf, cls)),
            "domain of": read.refs(graph.subjects(RDFS.domain, cls)),
            "range of": read.refs(graph.subjects(RDFS.range, cls)),
            "equivalent": read.refs(graph.objects(cls, OWL.equivalentClass)),
            "disjoint with": read.refs(graph.objects(cls, OWL.disjointWith)),
            "close match": read.refs(graph.objects(cls, SKOS.closeMatch)),
        }
        classes.append(entry)
    properties = []
    for prop in sorted({p for kind in PROPERTY_TYPES for p in read.terms(kind)}, key=str):
        kinds = [
            curie(str(k)) or str(k)
            for k in graph.objects(prop, RDF.type)
            if k in PROPERTY_TYPES or k in CHARACTERISTICS
        ]
        entry = read.entry(prop, sorted(kinds))
        chains = [
            [r for r in (read.ref(m) for m in Collection(graph, chain)) if r]
            for chain in graph.objects(prop, OWL.propertyChainAxiom)
        ]
        entry.links = {
            "domain": read.refs(graph.objects(prop, RDFS.domain)),
            "range": read.refs(graph.objects(prop, RDFS.range)),
            "inverse": read.refs(
                set(graph.objects(prop, OWL.inverseOf)) | set(graph.subjects(OWL.inverseOf, prop))
            ),
            "superproperties": read.refs(graph.objects(prop, RDFS.subPropertyOf)),
            "subproperties": read.refs(graph.subjects(RDFS.subPropertyOf, prop)),
            "chains": chains,
        }
        properties.append(entry)
    individuals = []
    class_set = set(read.terms(OWL.Class))
    for subject in sorted(
        {
            s
            for s, o in graph.subject_objects(RDF.type)
            if o in class_set and isinstance(s, URIRef) and str(s).startswith(str(MD))
        },
        key=str,
    ):
        entry = read.entry(subject, ["individual"])
        entry.links = {"type": read.refs(o for o in graph.objects(subject, RDF.type) if o in class_set)}
        individuals.append(entry)
    metadata = [
        (name, value)
        for name, predicate in (
            ("version", OWL.versionInfo),
            ("version IRI", OWL.versionIRI),
            ("created", DCTERMS.created),
            ("creator", DCTERMS.creator),
            ("license", DCTERMS.license),
            ("citation", DCTERMS.bibliographicCitation),
        )
        if (value := read.text(ontology, predicate))
    ]
    return OntologyDoc(
        iri=ONTOLOGY_IRI,
        title=read.text(ontology, DCTERMS.title) or ONTOLOGY_IRI,
        description=read.text(ontology, DCTERMS.description),
        metadata=metadata,
        classes=classes,
        properties=properties,
        individuals=individuals,
        hierarchy=_hierarchy(read, set(read.terms(OWL.Class))),
        namespaces=_namespaces(graph),
        history=_history(graph, ontology),
    )


def _hierarchy(read: _Reader, classes: set[URIRef]) -> list[tuple[int, Ref]]:
    """The project's classes as a tree (roots: those with no superclass among them), depth first."""
    children: dict[URIRef, list[URIRef]] = {}
    for cls in classes:
        for parent in read.graph.objects(cls, RDFS.subClassOf):
            if parent in classes and parent != cls:
                children.setdefault(parent, []).append(cls)
    below = set().union(*children.values()) if children else set()
    roots = sorted(classes - below, key=str)
    tree: list[tuple[int, Ref]] = []

    def walk(cls: URIRef, depth: int, path: frozenset[URIRef]) -> None:
        ref = read.ref(cls)
        if ref is not None:
            tree.append((depth, ref))
        for child in sorted(children.get(cls, []), key=str):
            if child not in path:
                walk(child, depth + 1, path | {child})

    for root in roots:
        walk(root, 0, frozenset({root}))
    return tree


def _namespaces(graph: Graph) -> list[tuple[str, str]]:
    """The prefixes of the namespaces the ontology's terms use, as the project binds them."""
    used = {str(term) for triple in graph for term in triple if isinstance(term, URIRef)}
    return [
        (prefix, str(namespace))
        for prefix, namespace in sorted(PREFIXES.items())
        if any(iri.startswith(str(namespace)) for iri in used)
    ]


def _history(graph: Graph, ontology: URIRef) -> list[tuple[str, str | None, str | None]]:
    """The ontology's versions: this one with its change note, then each prior version named."""
    versions = []
    current = graph.value(ontology, OWL.versionIRI)
    prior = graph.value(ontology, OWL.priorVersion)
    notes = sorted(str(note) for note in graph.objects(ontology, SKOS.changeNote))
    versions.append(
        (str(current) if current else ONTOLOGY_IRI, str(prior) if prior else None, " ".join(notes) or None)
    )
    seen = {str(current)}
    while prior is not None and str(prior) not in seen:
        seen.add(str(prior))
        earlier = graph.value(prior, OWL.priorVersion)
        note = graph.value(prior, SKOS.changeNote)
        versions.append((str(prior), str(earlier) if earlier else None, str(note) if note else None))
        prior = earlier
    return versions
