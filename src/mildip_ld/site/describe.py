"""What the store says about one resource: its triples out and in, per named graph, with labels and
the source passages (quote, line, offsets) behind each asserted claim; each inferred triple with
how firmly it holds and how many sentences support it, read from the release's derivations record
(whose own statement nodes are not listed: ``/explain`` shows them).

Lookups are bounded pattern scans of the read-only store (``quads_for_pattern``), never user SPARQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import pyoxigraph as ox

from mildip_ld.pipeline.derive import statement_iri
from mildip_ld.release.explanations import explain_path
from mildip_ld.release.void import VOID_DOC
from mildip_ld.vocab.namespaces import (
    DERIVATIONS,
    GRAPH_BASE,
    MD,
    NAMED_GRAPHS,
    OA,
    ONTOLOGY_IRI,
    PREFIXES,
    PROV,
    RESOURCE_BASE,
    SKOS,
    WD,
)
from mildip_ld.vocab.terms import to_rdflib_triple

RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
LABEL_PREDICATES = tuple(
    ox.NamedNode(iri) for iri in (str(SKOS.prefLabel), RDFS_LABEL, "http://purl.org/dc/terms/title")
)
NOTE_PREDICATES = tuple(
    ox.NamedNode(str(iri))
    for iri in (
        SKOS.definition,
        SKOS.scopeNote,
        "http://www.w3.org/2000/01/rdf-schema#comment",
        "http://purl.org/dc/terms/description",
    )
)
ALT_LABEL = ox.NamedNode(str(SKOS.altLabel))
EXACT_MATCH = ox.NamedNode(str(SKOS.exactMatch))
STATED_IN = ox.NamedNode(str(MD.statedIn))
MENTIONED_IN = ox.NamedNode(str(MD.mentionedIn))
EVIDENCE = (STATED_IN, MENTIONED_IN)
CURATED = frozenset(ox.NamedNode(str(p)) for p in (SKOS.exactMatch, MD.wikidataId, MD.wikidataStatus))
"""Wikidata links come from the curated reference list, not from the source text: no passage backs them."""
HAS_SELECTOR = ox.NamedNode(str(OA.hasSelector))
EXACT = ox.NamedNode(str(OA.exact))
START = ox.NamedNode(str(OA.start))
END = ox.NamedNode(str(OA.end))
HAS_SOURCE = ox.NamedNode(str(OA.hasSource))
LINE = ox.NamedNode(str(MD.lineNumber))
MODALITY = ox.NamedNode(str(MD.modality))
DERIVED_FROM = ox.NamedNode(str(PROV.wasDerivedFrom))
RECORD = ox.NamedNode(str(DERIVATIONS))
STATED = ox.NamedNode(str(MD.stated))
GRAPH_NAMES = {str(iri): name for name, iri in NAMED_GRAPHS.items()}
GRAPH_ORDER = ("asserted", "inferred", "provenance", "ontology", "shapes")
MAX_QUADS = 2000
"""At most this many triples out of, and again into, a resource are shown (the rest via SPARQL)."""
MAX_PER_PROPERTY = 10
"""Statements a page shows per direction, graph and property; the page says how many more there are
and links to the RDF document, which has them all. Russia, named in hundreds of claims, gets a
page of some 230 rows instead of 860 (the cost of its rendering grows with the rows)."""
MAX_NESTING = 3
"""Depth to which blank nodes and hash IRIs (``#quote``) reached from the resource are described."""

Subject = ox.NamedNode | ox.BlankNode
Node = ox.NamedNode | ox.BlankNode | ox.Literal


def local_path(iri: str) -> str | None:
    """This server's path for an IRI the project mints (``/id/…``, ``/ontology#…``), else None.

    Paths are relative to the app's root; templates prefix them with the mount point (``local``).
    """
    if iri.startswith(RESOURCE_BASE):
        return "/id/" + iri[len(RESOURCE_BASE) :]
    if iri == ONTOLOGY_IRI or iri.startswith(ONTOLOGY_IRI + "#") or iri.startswith(ONTOLOGY_IRI + "/"):
        return "/ontology" + iri[len(ONTOLOGY_IRI) :]
    if iri.startswith(GRAPH_BASE):
        return "/graph/" + iri[len(GRAPH_BASE) :]
    if iri.startswith(VOID_DOC):
        return "/void" + iri[len(VOID_DOC) :]
    return None


@functools.lru_cache(maxsize=8192)
def curie(iri: str) -> str | None:
    """``prefix:local`` for an IRI in one of the project's namespaces (longest namespace wins)."""
    best = None
    for prefix, namespace in PREFIXES.items():
        namespace = str(namespace)
        if iri.startswith(namespace) and (best is None or len(namespace) > len(best[1])):
            best = (prefix, namespace)
    return f"{best[0]}:{iri[len(best[1]) :]}" if best else None


@dataclass(frozen=True)
class Term:
    """An RDF term ready to show: its text, a label when known, and where a link should go."""

    kind: str
    """``iri``, ``literal`` or ``bnode``."""
    value: str
    label: str | None = None
    href: str | None = None
    curie: str | None = None
    language: str | None = None
    datatype: str | None = None

    @property
    def text(self) -> str:
        """The best short text for the term (label, CURIE or the IRI itself)."""
        return self.label or self.curie or self.value


def wikidata_term(iri: str) -> Term:
    """A Wikidata entity IRI, labelled with its Q-number and linked to its human-readable page."""
    qid = iri[len(str(WD)) :]
    return Term("iri", iri, qid, f"https://www.wikidata.org/wiki/{qid}", f"wd:{qid}")


@dataclass(frozen=True)
class Statement:
    """One triple of one named graph, oriented for display around the described resource."""

    subject: Term
    predicate: Term
    object: Term
    graph: str
    sources: tuple[str, ...] = ()
    """IRIs of the passages that state the claim (asserted triples only)."""
    why: str | None = None
    """This server's ``/explain`` path for an inferred triple (its derivation)."""
    hedge: Term | None = None
    """The modality of an inferred triple that holds only as forecast, likely or possible."""
    sentences: int | None = None
    """How many source sentences an inferred triple rests on, through all its derivations."""


@dataclass(frozen=True)
class Passage:
    """A source sentence: its quote and where it is in the source text."""

    iri: str
    href: str | None
    label: str
    exact: str | None
    line: int | None
    start: int | None
    end: int | None
    source: str | None

    @property
    def anchor(self) -> str:
        return "src-" + self.iri.rsplit("/", 1)[-1]


@dataclass
class Description:
    """Everything shown on a resource's page."""

    iri: str
    label: str
    types: list[Term]
    notes: list[Term]
    alt_labels: list[str]
    wikidata: list[Term]
    outgoing: dict[str, list[Statement]] = field(default_factory=dict)
    incoming: dict[str, list[Statement]] = field(default_factory=dict)
    parts: dict[str, list[Statement]] = field(default_factory=dict)
    """Triples about blank nodes and hash IRIs reached from the resource (its selectors...)."""
    passages: list[Passage] = field(default_factory=list)
    truncated: bool = False
    more: dict[str, dict[str, list[tuple[Term, int]]]] = field(default_factory=dict)
    """Per side (``out``, ``in``, ``part``) and graph: the properties with statements not shown
    (past :data:`MAX_PER_PROPERTY`), and how many."""

    @property
    def passages_by_iri(self) -> dict[str, Passage]:
        return {passage.iri: passage for passage in self.passages}

    @property
    def graphs(self) -> list[str]:
        """The named graphs that say something about the resource, in display order."""
        used = set(self.outgoing) | set(self.incoming) | set(self.parts)
        return [name for name in GRAPH_ORDER if name in used] + sorted(used - set(GRAPH_ORDER))


def graph_of(quad: ox.Quad) -> str:
    """The short name of a quad's graph (``asserted``...), ``default`` outside the project's graphs."""
    return GRAPH_NAMES.get(
        quad.graph_name.value if isinstance(quad.graph_name, ox.NamedNode) else "", "default"
    )


def capped(
    quads: list[ox.Quad], other_end: Callable[[ox.Quad], Node | ox.Triple]
) -> tuple[list[ox.Quad], dict[tuple[str, ox.NamedNode], int]]:
    """At most :data:`MAX_PER_PROPERTY` quads per graph and property (those whose ``other_end``
    comes first in term order, so the same ones each time), and how many more each group has."""
    groups: dict[tuple[str, ox.NamedNode], list[ox.Quad]] = {}
    for quad in quads:
        groups.setdefault((graph_of(quad), quad.predicate), []).append(quad)
    shown: list[ox.Quad] = []
    hidden: dict[tuple[str, ox.NamedNode], int] = {}
    for group, members in groups.items():
        members.sort(key=lambda quad: str(other_end(quad)))
        shown += members[:MAX_PER_PROPERTY]
        if len(members) > MAX_PER_PROPERTY:
            hidden[group] = len(members) - MAX_PER_PROPERTY
    return shown, hidden


def _best_literal(values: Iterable[Node]) -> str | None:
    """Prefer English, then no language, then anything."""
    ranked = sorted(
        (0 if v.language == "en" else 1 if not v.language else 2, v.value)
        for v in values
        if isinstance(v, ox.Literal)
    )
    return ranked[0][1] if ranked else None


class Describer:
    """Reads one resource's description from a store; caches labels while doing so."""

    def __init__(self, store: ox.Store) -> None:
        self.store = store
        self._labels: dict[str, str | None] = {}

    def objects(self, subject: Subject, predicate: ox.NamedNode) -> list[Node]:
        quads = self.store.quads_for_pattern(subject, predicate, None)
        return [quad.object for quad in quads if not isinstance(quad.object, ox.Triple)]

    def label(self, iri: str) -> str | None:
        """The resource's preferred label in any graph (English first), cached."""
        if iri not in self._labels:
            node = ox.NamedNode(iri)
            found = None
            for predicate in LABEL_PREDICATES:
                found = _best_literal(self.objects(node, predicate))
                if found:
                    break
            self._labels[iri] = found
        return self._labels[iri]

    def term(self, node: Node | ox.Triple, labelled: bool = True) -> Term:
        if isinstance(node, ox.NamedNode):
            path = local_path(node.value)
            href = path or (node.value if node.value.startswith("http") else None)
            label = self.label(node.value) if labelled else None
            return Term("iri", node.value, label, href, curie(node.value))
        if isinstance(node, ox.Literal):
            datatype = node.datatype.value if node.datatype else None
            plain = datatype in (
                None,
                "http://www.w3.org/2001/XMLSchema#string",
                "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString",
            )
            return Term(
                "literal",
                node.value,
                language=node.language or None,
                datatype=None if plain else (curie(datatype) or datatype),
            )
        return Term("bnode", str(node))

    def exists(self, iri: str) -> bool:
        """Whether any graph mentions the IRI as subject or object."""
        node = ox.NamedNode(iri)
        return any(True for _ in islice(self.store.quads_for_pattern(node, None, None), 1)) or any(
            True for _ in islice(self.store.quads_for_pattern(None, None, node), 1)
        )

    def evidence(self, subject: Subject) -> tuple[str, ...]:
        """The passages a node is stated in or mentioned in (asserted graph)."""
        graph = ox.NamedNode(str(NAMED_GRAPHS["asserted"]))
        return tuple(
            sorted(
                {
                    quad.object.value
                    for predicate in EVIDENCE
                    for quad in self.store.quads_for_pattern(subject, predicate, None, graph)
                    if isinstance(quad.object, ox.NamedNode)
                }
            )
        )

    def passage(self, iri: str) -> Passage:
        """A passage with its quote, line and code-point offsets (from its selectors)."""
        node = ox.NamedNode(iri)
        exact = start = end = None
        for selector in self.objects(node, HAS_SELECTOR):
            if not isinstance(selector, ox.NamedNode | ox.BlankNode):
                continue
            exact = exact or _best_literal(self.objects(selector, EXACT))
            start = start if start is not None else _first_int(self.objects(selector, START))
            end = end if end is not None else _first_int(self.objects(selector, END))
        sources = self.objects(node, HAS_SOURCE)
        return Passage(
            iri=iri,
            href=local_path(iri),
            label=self.label(iri) or iri,
            exact=exact,
            line=_first_int(self.objects(node, LINE)),
            start=start,
            end=end,
            source=sources[0].value if sources else None,
        )

    def related(self, iri: str) -> tuple[list[ox.Quad], list[ox.Quad], list[ox.Quad], bool]:
        """(out, in, parts, truncated): the quads of the resource, bounded by MAX_QUADS each way."""
        node = ox.NamedNode(iri)
        outgoing = list(islice(self._described(node, None), MAX_QUADS + 1))
        incoming = list(islice(self._described(None, node), MAX_QUADS + 1))
        truncated = len(outgoing) > MAX_QUADS or len(incoming) > MAX_QUADS
        parts: list[ox.Quad] = []
        seen = {iri}
        frontier = [quad.object for quad in outgoing[:MAX_QUADS]]
        for _ in range(MAX_NESTING):
            reached = []
            for candidate in frontier:
                if not (
                    isinstance(candidate, ox.BlankNode)
                    or (isinstance(candidate, ox.NamedNode) and candidate.value.startswith(iri + "#"))
                ):
                    continue  # only blank nodes and hash IRIs of the resource are its parts
                if str(candidate) in seen:
                    continue
                seen.add(str(candidate))
                quads = list(islice(self.store.quads_for_pattern(candidate, None, None), MAX_QUADS))
                parts += quads
                reached += [quad.object for quad in quads]
            frontier = reached
        return outgoing[:MAX_QUADS], incoming[:MAX_QUADS], parts, truncated

    def _described(self, subject: Subject | None, obj: Node | None) -> Iterator[ox.Quad]:
        """The quads with ``subject`` or ``obj``, the derivations record left out."""
        quads = self.store.quads_for_pattern(subject, None, obj)
        return (quad for quad in quads if quad.graph_name != RECORD)

    def support(self, quad: ox.Quad) -> tuple[Term | None, int | None]:
        """(the modality when weaker than stated, the number of supporting sentences) of an inferred
        triple, from its statement node in the derivations record; (None, None) when the record
        does not hold it (a release built before there was one)."""
        node = ox.NamedNode(str(statement_iri(to_rdflib_triple(quad))))
        modality = next((q.object for q in self.store.quads_for_pattern(node, MODALITY, None, RECORD)), None)
        if not isinstance(modality, ox.NamedNode):
            return None, None
        sentences = sum(1 for _ in self.store.quads_for_pattern(node, DERIVED_FROM, None, RECORD))
        return (None if modality == STATED else self.term(modality)), sentences

    def statement(self, quad: ox.Quad) -> Statement:
        graph = graph_of(quad)
        sources: tuple[str, ...] = ()
        if graph == "asserted" and quad.predicate not in CURATED:
            if quad.predicate in EVIDENCE and isinstance(quad.object, ox.NamedNode):
                sources = (quad.object.value,)
            elif not isinstance(quad.subject, ox.Triple):
                sources = self.evidence(quad.subject)
        why, hedge, sentences = None, None, None
        if (
            graph == "inferred"
            and isinstance(quad.subject, ox.NamedNode)
            and not isinstance(quad.object, ox.BlankNode)
        ):
            obj = quad.object.value if isinstance(quad.object, ox.NamedNode) else str(quad.object)
            why = explain_path(quad.subject.value, quad.predicate.value, obj)
            hedge, sentences = self.support(quad)
        return Statement(
            self.term(quad.subject),
            self.term(quad.predicate),
            self.term(quad.object),
            graph,
            sources,
            why,
            hedge,
            sentences,
        )

    def describe(self, iri: str) -> Description | None:
        """The resource's description, or None when no graph mentions it."""
        if not self.exists(iri):
            return None
        node = ox.NamedNode(iri)
        outgoing, incoming, parts, truncated = self.related(iri)
        description = Description(
            iri=iri,
            label=self.label(iri) or curie(iri) or iri.rsplit("/", 1)[-1],
            types=sorted({self.term(t) for t in self.objects(node, RDF_TYPE)}, key=lambda t: t.text.lower()),
            notes=[self.term(n) for predicate in NOTE_PREDICATES for n in self.objects(node, predicate)],
            alt_labels=sorted({n.value for n in self.objects(node, ALT_LABEL) if isinstance(n, ox.Literal)}),
            wikidata=[
                wikidata_term(n.value)
                for n in self.objects(node, EXACT_MATCH)
                if isinstance(n, ox.NamedNode) and n.value.startswith(str(WD))
            ],
            truncated=truncated,
        )
        for side, target, quads, other_end in (
            ("out", description.outgoing, outgoing, _object),
            ("in", description.incoming, incoming, _subject),
            ("part", description.parts, parts, _object),
        ):
            quads, hidden = capped(quads, other_end)
            for (graph, predicate), count in sorted(hidden.items(), key=lambda item: item[0][1].value):
                more = description.more.setdefault(side, {}).setdefault(graph, [])
                more.append((self.term(predicate), count))
            for quad in quads:
                statement = self.statement(quad)
                target.setdefault(statement.graph, []).append(statement)
            for statements in target.values():
                statements.sort(
                    key=lambda s: (s.predicate.text.lower(), s.subject.text.lower(), s.object.text.lower())
                )
        cited = {
            source
            for group in (description.outgoing, description.incoming)
            for statement in group.get("asserted", [])
            for source in statement.sources
        }
        if any(t.value == str(MD.Passage) for t in description.types):
            cited.add(iri)
        passages = [self.passage(source) for source in cited]
        description.passages = sorted(passages, key=lambda p: (p.line or 0, p.start or 0, p.iri))
        return description

    def quads(self, iri: str) -> list[ox.Quad]:
        """The quads of the resource's RDF representation: out, in and nested parts (bounded)."""
        outgoing, incoming, parts, _ = self.related(iri)
        return outgoing + parts + incoming


def _object(quad: ox.Quad) -> Node | ox.Triple:
    return quad.object


def _subject(quad: ox.Quad) -> Subject | ox.Triple:
    return quad.subject


def _first_int(values: list[Node]) -> int | None:
    for value in values:
        if isinstance(value, ox.Literal):
            try:
                return int(value.value)
            except ValueError:
                continue
    return None
