"""Explanations of a served release: its derivations record read once, looked up per request.

The build records every grounded OWL 2 RL derivation of every inferred triple, with its modality
and the passages it rests on, in the release's ``graph:derivations`` (:mod:`mildip_ld.pipeline.derive`).
This module reads that record for one release (lazily, once, behind a lock) and answers the
questions the ``/explain`` route asks: is a triple asserted, inferred or unknown; how firmly it
holds and which sentences support it; which source passages back an asserted triple; and what is
the PROV-O explanation graph of a triple, made self-contained (each asserted leaf carries its
passage with quote, line and offsets; a property chain axiom carries its list), so a client can
re-apply every rule from the graph alone.

The release's ``dataset.nq`` is read (as ``mildip explain`` and the dumps do), not the Oxigraph
store, which types ``xsd:positiveInteger`` literals as ``xsd:integer``; a triple written with
either integer type is found (:meth:`Explanations.find`).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pyoxigraph as ox
from rdflib import BNode, Dataset, Graph, Literal, Node, URIRef
from rdflib.namespace import PROV, RDF, RDFS, XSD

from mildip_ld.pipeline.derive import (
    Derivation,
    Record,
    Triple,
    derivation_record,
    explanation_graph,
    read_record,
    statement_iri,
)
from mildip_ld.release.build import DATASET_FILE, load_release
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.namespaces import DERIVATIONS, MD, NAMED_GRAPHS, ONTOLOGY_IRI, PREFIXES, RESOURCE_BASE
from mildip_ld.vocab.terms import rdflib_converter, to_rdflib

log = logging.getLogger(__name__)

EXPLAIN_PATH = "/explain"
STATEMENT_PREFIX = RESOURCE_BASE + "statement/"
MAX_TERM_CHARS = 4096
"""Longest accepted ``s``, ``p`` or ``o`` parameter (longer ones answer 400)."""
GIVEN_GRAPHS = ("asserted", "provenance", "ontology")
"""The graphs derivations are grounded in (:func:`mildip_ld.pipeline.derive.derive_every`)."""
STATED_GRAPHS = (*GIVEN_GRAPHS, "shapes")
"""Graphs whose triples are stated by a file of the project, not inferred."""
EVIDENCE = (MD.statedIn, MD.mentionedIn)
INTEGER_TYPES = frozenset(
    XSD[name]
    for name in (
        "integer",
        "nonNegativeInteger",
        "positiveInteger",
        "nonPositiveInteger",
        "negativeInteger",
        "long",
        "int",
        "short",
        "byte",
        "unsignedLong",
        "unsignedInt",
        "unsignedShort",
        "unsignedByte",
    )
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_PROLOGUE = "".join(f"@prefix {prefix}: <{namespace}> .\n" for prefix, namespace in PREFIXES.items())
_POSITION = re.compile(r"^Parser error at line \d+ between columns \d+ and \d+: |\s*\(line \d+\)$")
_PROBE_S, _PROBE_P = "urn:x-mildip:subject", "urn:x-mildip:predicate"


class BadTermError(MildipError, ValueError):
    """A request parameter that is not an RDF term of the expected kind."""

    status = 400


# --- terms: request parameters, Oxigraph terms as rdflib reads them ----------------------------


def parse_term(text: str | None, role: str, literal: bool = False) -> Node:
    """An IRI (``<…>``, a plain absolute IRI or a CURIE with a project prefix) or, when ``literal``,
    an IRI or a literal in N-Triples / Turtle syntax (``"Russia"@en``, ``"34"^^xsd:integer``, ``34``).

    Raises :class:`BadTermError` with a message fit for a 400 answer.
    """
    if text is None or not text.strip():
        raise BadTermError(f"the parameter {role} is missing: give the triple as ?s=…&p=…&o=…")
    text = text.strip()
    if len(text) > MAX_TERM_CHARS:
        raise BadTermError(f"the parameter {role} is longer than {MAX_TERM_CHARS} characters")
    scheme = _SCHEME.match(text)
    if scheme and scheme.group(0)[:-1] not in PREFIXES:
        text = f"<{text}>"  # a plain absolute IRI
    try:
        quads = list(ox.parse(f"{_PROLOGUE}<{_PROBE_S}> <{_PROBE_P}> {text} .", format=ox.RdfFormat.TURTLE))
    except SyntaxError as error:
        reason = _POSITION.sub("", str(error)).strip() or "syntax error"
        raise BadTermError(
            f"the parameter {role} is not an IRI or literal in N-Triples syntax ({reason})"
        ) from None
    if (
        len(quads) != 1
        or quads[0].subject != ox.NamedNode(_PROBE_S)
        or quads[0].predicate != ox.NamedNode(_PROBE_P)
    ):
        raise BadTermError(f"the parameter {role} must be one RDF term")
    term = quads[0].object
    if isinstance(term, ox.BlankNode):
        raise BadTermError(f"the parameter {role} is a blank node, which has no name outside its graph")
    if isinstance(term, ox.Literal) and not literal:
        raise BadTermError(f"the parameter {role} must be an IRI, not a literal")
    return to_rdflib(term)


def parse_triple(s: str | None, p: str | None, o: str | None) -> Triple:
    """The triple named by the ``s``, ``p``, ``o`` parameters of ``/explain``."""
    return parse_term(s, "s"), parse_term(p, "p"), parse_term(o, "o", literal=True)


def explain_path(subject: str, predicate: str, obj: str) -> str:
    """The ``/explain`` path for a triple: IRIs plain, ``obj`` an IRI or a literal in N-Triples syntax."""
    return f"{EXPLAIN_PATH}?{urlencode({'s': subject, 'p': predicate, 'o': obj})}"


def explain_path_of(triple: Triple) -> str:
    """The ``/explain`` path for an rdflib triple."""
    subject, predicate, obj = triple
    return explain_path(str(subject), str(predicate), str(obj) if isinstance(obj, URIRef) else obj.n3())


def statement_key(triple: Triple) -> str:
    """The last segment of the triple's statement IRI (``…/id/statement/<key>``)."""
    return str(statement_iri(triple))[len(STATEMENT_PREFIX) :]


def _integer_key(triple: Triple) -> Triple | None:
    """The triple with an integer-typed object retyped ``xsd:integer`` (None for other triples)."""
    obj = triple[2]
    if isinstance(obj, Literal) and obj.datatype in INTEGER_TYPES:
        try:
            return triple[0], triple[1], Literal(str(int(str(obj))), datatype=XSD.integer)
        except ValueError:
            return None
    return None


# --- one release's explanations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A passage behind an asserted triple, and how the triple's subject relates to it."""

    passage: URIRef
    relation: str
    """``stated in``, ``mentioned in``, or ``is the passage`` / ``is the source document`` (a triple
    about the passage or document itself, recorded in the provenance graph)."""


def record_triples(release: Path) -> Iterator[Triple]:
    """The triples of a release's derivations graph, read from its N-Quads by Oxigraph (the record
    is large: rdflib's parser would take seconds)."""
    record, term = ox.NamedNode(str(DERIVATIONS)), rdflib_converter()
    for quad in ox.parse(path=str(release / DATASET_FILE), format=ox.RdfFormat.N_QUADS):
        if quad.graph_name == record:
            yield term(quad.subject), term(quad.predicate), term(quad.object)


def release_derivations(release: Path) -> tuple[Dataset, Graph, Record]:
    """A built release's dataset (without the record), its given triples and its derivations record
    (computed here for a release built before releases carried one)."""
    dataset = load_release(release)
    given = Graph()
    for name in GIVEN_GRAPHS:
        given += dataset.graph(NAMED_GRAPHS[name])
    triples: Iterable[Triple] = list(record_triples(release))
    inferred = dataset.graph(NAMED_GRAPHS["inferred"])
    if not triples and len(inferred):
        log.warning("%s has no derivations record (built by an older version): deriving it", release.name)
        asserted, provenance, ontology = (dataset.graph(NAMED_GRAPHS[name]) for name in GIVEN_GRAPHS)
        triples = derivation_record(asserted, provenance, ontology, inferred)
    return dataset, given, read_record(triples, given)


class Explanations:
    """The named graphs of a release and its record of every derivation of every inferred triple."""

    def __init__(self, graphs: dict[str, Graph], record: Record) -> None:
        started = time.perf_counter()
        self.graphs = graphs
        self.given = Graph()
        for name in GIVEN_GRAPHS:
            self.given += graphs[name]
        self.inferred = graphs["inferred"]
        self.record = record
        self.derivations: dict[Triple, tuple[Derivation, ...]] = record.support.derivations
        self.stated = Graph()
        self.stated += self.given
        self.stated += graphs["shapes"]
        self.statements: dict[str, Triple] = {}
        self._aliases: dict[Triple, Triple] = {}
        for graph in (self.stated, self.inferred):
            for triple in graph:
                self.statements[statement_key(triple)] = triple
                alias = _integer_key(triple)
                if alias is not None:
                    self._aliases.setdefault(alias, triple)
        self.seconds = time.perf_counter() - started

    @classmethod
    def of_release(cls, release: Path) -> Explanations:
        """Read ``release/dataset.nq`` and its derivations record (about a second)."""
        started = time.perf_counter()
        dataset, given, record = release_derivations(release)
        graphs = {name: Graph() for name, iri in NAMED_GRAPHS.items() if iri != DERIVATIONS}
        for name in graphs:
            graphs[name] += dataset.graph(NAMED_GRAPHS[name])
        explanations = cls(graphs, record)
        explanations.seconds = time.perf_counter() - started
        log.info(
            "explanations of %s: %d derivations in %.2f s",
            release.name,
            len(explanations.derivations),
            explanations.seconds,
        )
        return explanations

    # - lookups -

    def find(self, triple: Triple) -> Triple | None:
        """The triple as the release holds it (matching integer literals of any integer type), or None."""
        if triple in self.stated or triple in self.inferred:
            return triple
        alias = _integer_key(triple)
        return self._aliases.get(alias) if alias is not None else None

    def graphs_of(self, triple: Triple) -> list[str]:
        """The named graphs holding ``triple``."""
        return [name for name, graph in self.graphs.items() if triple in graph]

    def is_stated(self, triple: Triple) -> bool:
        """Whether a file of the project states ``triple`` (stated wins over inferred)."""
        return triple in self.stated

    def derivation(self, triple: Triple) -> Derivation | None:
        """The first (strongest, shallowest) derivation of an inferred triple; None for a stated one."""
        return None if self.is_stated(triple) else self.record.support.best(triple)

    def derivations_of(self, triple: Triple) -> tuple[Derivation, ...]:
        """Every recorded derivation of an inferred triple, strongest first (none for a stated one)."""
        return () if self.is_stated(triple) else self.derivations.get(triple, ())

    def derivation_iris(self, triple: Triple) -> set[str]:
        """The IRIs of the derivations the record holds for ``triple``."""
        return self.record.applications.get(triple, set())

    def modality(self, triple: Triple) -> URIRef:
        """How firmly ``triple`` holds: a claim's modality, or an inferred triple's strongest support."""
        return self.record.support.modality(triple)

    def supporting_passages(self, triple: Triple) -> list[URIRef]:
        """The passages an inferred triple rests on, through every derivation, in source order."""
        return self._by_position(self.record.passages.get(triple, ()))

    def sources(self, triple: Triple) -> list[Source]:
        """The passages behind a stated triple, best first.

        A claim about the evidence itself (``X md:statedIn P``) cites P; a triple about a passage
        or a source document cites it; otherwise the passages that state the triple's subject (an activity, a
        membership), else the passages that mention it, narrowed to those that also mention the
        object when there are such (``md:mentionedIn``).
        """
        subject, predicate, obj = triple
        asserted, provenance = self.graphs["asserted"], self.graphs["provenance"]
        if predicate in EVIDENCE and isinstance(obj, URIRef) and triple in asserted:
            return [Source(obj, "stated in" if predicate == MD.statedIn else "mentioned in")]
        if isinstance(subject, URIRef) and (subject, RDF.type, MD.Passage) in provenance:
            return [Source(subject, "is the passage")]
        if isinstance(subject, URIRef) and (subject, RDF.type, MD.SourceDocument) in provenance:
            return [Source(subject, "is the source document")]
        stated = set(asserted.objects(subject, MD.statedIn))
        if stated:
            return [Source(p, "stated in") for p in self._by_position(stated)]
        mentioned = set(asserted.objects(subject, MD.mentionedIn))
        both = mentioned & set(asserted.objects(obj, MD.mentionedIn)) if isinstance(obj, URIRef) else set()
        return [Source(p, "mentioned in") for p in self._by_position(both or mentioned)]

    def _by_position(self, passages: Iterable[Node]) -> list[URIRef]:
        provenance = self.graphs["provenance"]

        def position(passage: URIRef) -> tuple[int, str]:
            line = provenance.value(passage, MD.lineNumber)
            return (int(line) if isinstance(line, Literal) else 0), str(passage)

        return sorted((p for p in passages if isinstance(p, URIRef)), key=position)

    # - the linked-data answer -

    def graph(self, triple: Triple) -> Graph:
        """The PROV-O explanation of ``triple`` (which :meth:`find` found), self-contained.

        :func:`mildip_ld.pipeline.derive.explanation_graph`, plus for every asserted statement its source
        passages (``prov:wasDerivedFrom``, the ``md:statedIn`` / ``md:mentionedIn`` claim, the
        passage's label, line, source and selectors with quote and offsets), ``rdfs:isDefinedBy``
        the ontology for an ontology axiom, and the description of blank nodes a statement names
        (the list of a property chain), so each rule can be re-applied to the graph alone.
        """
        graph = explanation_graph(self.record.support, self.stated, triple)
        for passage in self.supporting_passages(triple):
            graph.add((statement_iri(triple), PROV.wasDerivedFrom, passage))
            self._add_passage(graph, passage)
        for node in list(graph.subjects(RDF.type, RDF.Statement)):
            subject, predicate, obj = (
                graph.value(node, part) for part in (RDF.subject, RDF.predicate, RDF.object)
            )
            if subject is None or predicate is None or obj is None:
                continue  # not a statement this record wrote (it always writes all three)
            current = (subject, predicate, obj)
            for term in current:
                if isinstance(term, BNode):
                    self._copy_blank(graph, term, set())
            if (node, MD.asserted, Literal(True)) not in graph:
                continue
            if current in self.graphs["ontology"]:
                graph.add((node, RDFS.isDefinedBy, URIRef(ONTOLOGY_IRI)))
            for source in self.sources(current):
                self._add_source(graph, node, current[0], source)
        return graph

    def _copy_blank(self, graph: Graph, node: BNode, seen: set[BNode]) -> None:
        """Copy what the stated graphs say about a blank node, recursively (an rdf:List)."""
        if node in seen:
            return
        seen.add(node)
        for triple in self.stated.triples((node, None, None)):
            graph.add(triple)
            if isinstance(triple[2], BNode):
                self._copy_blank(graph, triple[2], seen)

    def _add_source(self, graph: Graph, node: Node, subject: Node, source: Source) -> None:
        graph.add((node, PROV.wasDerivedFrom, source.passage))
        relation = {"stated in": MD.statedIn, "mentioned in": MD.mentionedIn}.get(source.relation)
        if relation is not None:
            graph.add((subject, relation, source.passage))
        self._add_passage(graph, source.passage)

    def _add_passage(self, graph: Graph, passage: URIRef) -> None:
        """The passage's description: label, line, source and selectors (quote, offsets)."""
        provenance = self.graphs["provenance"]
        for triple in provenance.triples((passage, None, None)):
            graph.add(triple)
            part = triple[2]
            selector = isinstance(part, URIRef) and str(part).startswith(f"{passage}#")
            if selector or isinstance(part, BNode):
                for nested in provenance.triples((part, None, None)):
                    graph.add(nested)


_compute_lock = threading.Lock()


@functools.lru_cache(maxsize=2)  # the served release and the one before it (a write publishes a new one)
def _compute(release: Path) -> Explanations:
    return Explanations.of_release(release)


def explanations_for(release: Path) -> Explanations:
    """A release's explanations, computed on first use and shared (one computation at a time)."""
    with _compute_lock:
        return _compute(release)
