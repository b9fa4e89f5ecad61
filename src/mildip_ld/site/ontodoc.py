"""The ontology's documentation model: its metadata, classes, properties and named individuals,
read from the release's ontology graph (what ``/ontology`` shows to a browser).

What pyLODE and Widoco give, computed here from the graph (pyLODE itself does not fit: pyLODE 3.6
requires Python 3.12 while the project runs on 3.11, and it writes a standalone page with its own
styles and scripts, outside this site's templates and Content-Security-Policy):

- a **class hierarchy** (``rdfs:subClassOf``), with the external superclasses the ontology's
  classes specialise (``prov:Agent``, ``skos:Concept``...) as roots;
- for each class, the properties it is **in the domain / range of**, also through an
  ``owl:unionOf`` domain or range; for each property its domain, range (unions shown member by
  member), super- and subproperties, inverse, chains and characteristics;
- a **namespaces** table: every namespace the ontology's terms use, with its prefix;
- the **version history**, from triples (``owl:versionInfo``, ``owl:versionIRI``,
  ``owl:priorVersion``, ``dcterms:issued``, ``skos:changeNote`` on the ontology and on each
  version IRI), so that it is linked data and not only a changelog file;
- a **diagram** (:mod:`mildip_ld.site.ontodiagram`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS, VANN
from rdflib.term import Node

from mildip_ld.site.describe import local_path
from mildip_ld.vocab.namespaces import MD, ONTOLOGY, ONTOLOGY_IRI, PREFIXES
from mildip_ld.vocab.terms import to_rdflib_triple

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
DOCUMENT_LINKS = (OWL.versionIRI, OWL.priorVersion, DCTERMS.license, DCTERMS.source, RDFS.seeAlso)
"""Properties whose values are documents or versions, not terms: their namespaces are not listed."""
OPERATORS = {OWL.unionOf: "or", OWL.intersectionOf: "and"}


@dataclass(frozen=True)
class Ref:
    """A link to a term: its text and where it goes; a class expression lists its members."""

    text: str
    href: str | None
    iri: str
    external: bool = False
    """Not one of the ontology's own terms (``prov:Agent``, ``cco:…``)."""
    members: tuple[Ref, ...] = ()
    operator: str = ""
    """``or`` (``owl:unionOf``) or ``and`` (``owl:intersectionOf``) between ``members``."""


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


@dataclass(frozen=True)
class Version:
    """One version of the ontology, as its triples describe it."""

    iri: str
    version: str | None
    issued: str | None
    prior: str | None
    note: str | None


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
    hierarchy: list[tuple[int, Ref, bool]] = field(default_factory=list)
    """The class tree, depth first: (depth, class, whether its subclasses are left out because they
    are shown under its first parent); a class under several parents appears under each."""
    namespaces: list[tuple[str, str]] = field(default_factory=list)
    """(prefix, namespace IRI) of every namespace the ontology's terms use; the prefix may be empty."""
    history: list[Version] = field(default_factory=list)
    """The versions, newest first."""


def ontology_graph(store: ox.Store) -> Graph:
    """The ontology named graph of a release's store, as an rdflib Graph."""
    graph = Graph()
    for quad in store.quads_for_pattern(None, None, None, ox.NamedNode(str(ONTOLOGY))):
        graph.add(to_rdflib_triple(quad))
    return graph


def prefixes(graph: Graph) -> dict[str, str]:
    """Namespace IRI to prefix: rdflib's well-known prefixes, those the graph declares with
    ``vann:preferredNamespacePrefix`` / ``vann:preferredNamespaceUri``, then the project's (which win)."""
    known = {str(namespace): prefix for prefix, namespace in Graph(bind_namespaces="rdflib").namespaces()}
    for subject, prefix in graph.subject_objects(VANN.preferredNamespacePrefix):
        for namespace in graph.objects(subject, VANN.preferredNamespaceUri):
            known[str(namespace)] = str(prefix)
    known.update({str(namespace): prefix for prefix, namespace in PREFIXES.items()})
    return known


def namespace_of(iri: str, known: dict[str, str]) -> str:
    """The longest known namespace ``iri`` is in, else the IRI up to its last ``#`` or ``/``."""
    best = max((namespace for namespace in known if iri.startswith(namespace)), key=len, default=None)
    if best is not None:
        return best
    cut = max(iri.rfind("#"), iri.rfind("/"))
    return iri[: cut + 1] if cut > 0 else iri


class Reader:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.prefixes = prefixes(graph)

    def text(self, subject, predicate) -> str | None:
        values = sorted(
            self.graph.objects(subject, predicate),
            key=lambda v: (getattr(v, "language", None) not in ("en", None), str(v)),
        )
        return str(values[0]) if values else None

    def curie(self, iri: str) -> str:
        namespace = namespace_of(iri, self.prefixes)
        prefix = self.prefixes.get(namespace)
        return f"{prefix}:{iri[len(namespace) :]}" if prefix is not None else iri

    def ref(self, node) -> Ref | None:
        if isinstance(node, BNode):
            for operator, word in OPERATORS.items():
                if (members := self.members(node, operator)) is not None:
                    refs = tuple(r for r in (self.ref(m) for m in members) if r)
                    return (
                        Ref(f" {word} ".join(r.text for r in refs), None, "", members=refs, operator=word)
                        if refs
                        else None
                    )
            return None
        return self.iri_ref(node)

    def iri_ref(self, node: Node) -> Ref:
        """The reference to a named term (its CURIE, its page, and whether it is the ontology's own)."""
        iri = str(node)
        return Ref(self.curie(iri), local_path(iri) or iri, iri, external=not iri.startswith(str(MD)))

    def members(self, node: BNode, operator: URIRef) -> list | None:
        """The members of ``node``'s ``operator`` list (``owl:unionOf``...), or None without one."""
        members = self.graph.value(node, operator)
        return list(Collection(self.graph, members)) if members is not None else None

    def refs(self, nodes) -> list[Ref]:
        found = [r for r in (self.ref(n) for n in nodes) if r]
        return sorted(found, key=lambda r: r.text.lower())

    def usage(self, predicate: URIRef, cls: URIRef) -> list[Ref]:
        """The properties whose ``predicate`` (domain or range) is ``cls`` or a union naming it."""
        found = set(self.graph.subjects(predicate, cls))
        for prop, value in self.graph.subject_objects(predicate):
            if isinstance(value, BNode) and cls in (self.members(value, OWL.unionOf) or ()):
                found.add(prop)
        return self.refs(found)

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
    read = Reader(graph)
    ontology = URIRef(ONTOLOGY_IRI)
    classes = []
    for cls in read.terms(OWL.Class):
        entry = read.entry(cls, ["class"])
        entry.links = {
            "superclasses": read.refs(graph.objects(cls, RDFS.subClassOf)),
            "subclasses": read.refs(graph.subjects(RDFS.subClassOf, cls)),
            "domain of": read.usage(RDFS.domain, cls),
            "range of": read.usage(RDFS.range, cls),
            "equivalent": read.refs(graph.objects(cls, OWL.equivalentClass)),
            "disjoint with": read.refs(graph.objects(cls, OWL.disjointWith)),
            "close match": read.refs(graph.objects(cls, SKOS.closeMatch)),
        }
        classes.append(entry)
    properties = []
    for prop in sorted({p for kind in PROPERTY_TYPES for p in read.terms(kind)}, key=str):
        kinds = [
            read.curie(str(k))
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
            ("prior version", OWL.priorVersion),
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
        hierarchy=_hierarchy(read, class_set),
        namespaces=_namespaces(read),
        history=_history(read, ontology),
    )


def superclasses(graph: Graph, classes: set[URIRef]) -> dict[URIRef, list[URIRef]]:
    """Each named superclass (the ontology's or an external one) to its subclasses among ``classes``."""
    children: dict[URIRef, list[URIRef]] = {}
    for cls in classes:
        for parent in graph.objects(cls, RDFS.subClassOf):
            if isinstance(parent, URIRef) and parent != cls:
                children.setdefault(parent, []).append(cls)
    return children


def _hierarchy(read: Reader, classes: set[URIRef]) -> list[tuple[int, Ref, bool]]:
    """The class tree, depth first, from its roots: the external superclasses of the ontology's
    classes, and its classes without a superclass. A class under several parents appears under
    each, its subclasses under the first only (flagged ``True`` where they are left out)."""
    children = superclasses(read.graph, classes)
    below = {child for kids in children.values() for child in kids}
    roots = sorted(set(children) - classes, key=str) + sorted(classes - below, key=str)
    tree: list[tuple[int, Ref, bool]] = []
    expanded: set[URIRef] = set()

    def walk(cls: URIRef, depth: int, path: frozenset[URIRef]) -> None:
        kids = [child for child in sorted(children.get(cls, []), key=str) if child not in path]
        repeated = cls in expanded and bool(kids)
        tree.append((depth, read.iri_ref(cls), repeated))
        if repeated:
            return
        expanded.add(cls)
        for child in kids:
            walk(child, depth + 1, path | {child})

    for root in roots:
        walk(root, 0, frozenset({root}))
    return tree


def _namespaces(read: Reader) -> list[tuple[str, str]]:
    """Every namespace of the ontology's terms (any IRI in the graph but the ontology itself and
    the documents and versions it links to), with its prefix ("" when none is known)."""
    graph = read.graph
    documents = {URIRef(ONTOLOGY_IRI)} | {o for p in DOCUMENT_LINKS for o in graph.objects(None, p)}
    used = {term for triple in graph for term in triple if isinstance(term, URIRef)} - documents
    used |= {term.datatype for term in graph.objects() if isinstance(term, Literal) and term.datatype}
    namespaces = {namespace_of(str(iri), read.prefixes) for iri in used}
    return sorted(((read.prefixes.get(ns, ""), ns) for ns in namespaces), key=lambda row: (row[0] == "", row))


def _history(read: Reader, ontology: URIRef) -> list[Version]:
    """The ontology's versions, newest first, following ``owl:priorVersion`` from the ontology."""
    graph = read.graph

    def version(iri: Node, described: tuple[Node, ...]) -> Version:
        def value(predicate: URIRef) -> str | None:
            return next((v for v in (read.text(d, predicate) for d in described) if v), None)

        return Version(
            str(iri),
            value(OWL.versionInfo),
            value(DCTERMS.issued),
            value(OWL.priorVersion),
            " ".join(sorted({str(n) for d in described for n in graph.objects(d, SKOS.changeNote)})) or None,
        )

    current = graph.value(ontology, OWL.versionIRI)
    versions = [version(current or ontology, (ontology, current) if current else (ontology,))]
    seen = {versions[0].iri}
    while (prior := versions[-1].prior) is not None and prior not in seen:
        seen.add(prior)
        versions.append(version(URIRef(prior), (URIRef(prior),)))
    return versions
