"""Semi-naive forward chaining of the OWL 2 RL instance rules, compiled from a closed ontology.

owlrl recomputes every rule over the whole graph until nothing changes, which is quadratic in
practice (minutes at 10^5 triples). Here the ontology's schema closure (computed once by owlrl on
the ontology alone, which is small) is compiled into lookup tables, and each triple is pushed
through the rules once, on arrival (a worklist): the rules with one data premise (cax-sco,
prp-dom, prp-rng, prp-spo1, prp-inv1/2, prp-symp) need no join at all, and the two-or-more
premise rules (prp-spo2 property chains, prp-trp) join against indexes kept only for the
properties they mention. Terms are interned as integers to keep memory low.

Scope: the rules above. Equality (owl:sameAs, functional and inverse-functional properties,
keys), class expressions (someValuesFrom, hasValue, intersections, unions) and consistency
checks are not handled: the ontology does not use them (its functional properties are guarded by
SHACL maximum counts), and a test checks that the result equals owlrl's on the article graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rdflib import Graph, Literal, Node
from rdflib.collection import Collection
from rdflib.namespace import OWL, RDF, RDFS

Triple = tuple[Node, Node, Node]


def _strict_closure(pairs: Iterable[tuple[Node, Node]]) -> dict[Node, frozenset[Node]]:
    """Transitive closure of a relation given as (narrower, broader) pairs, without reflexive links."""
    direct: dict[Node, set[Node]] = defaultdict(set)
    for narrower, broader in pairs:
        if narrower != broader:
            direct[narrower].add(broader)
    closed: dict[Node, frozenset[Node]] = {}
    for start in list(direct):
        seen: set[Node] = set()
        stack = list(direct[start])
        while stack:
            node = stack.pop()
            if node not in seen and node != start:
                seen.add(node)
                stack.extend(direct.get(node, ()))
        closed[start] = frozenset(seen)
    return closed


@dataclass(frozen=True)
class Chain:
    """A property chain axiom ``result ≡ steps[0] ∘ … ∘ steps[-1]``."""

    result: Node
    steps: tuple[Node, ...]


@dataclass
class Schema:
    """The ontology's axioms, closed and compiled for the instance rules."""

    superclasses: dict[Node, frozenset[Node]] = field(default_factory=dict)
    superproperties: dict[Node, frozenset[Node]] = field(default_factory=dict)
    domains: dict[Node, frozenset[Node]] = field(default_factory=dict)
    ranges: dict[Node, frozenset[Node]] = field(default_factory=dict)
    inverses: dict[Node, frozenset[Node]] = field(default_factory=dict)
    symmetric: frozenset[Node] = frozenset()
    transitive: frozenset[Node] = frozenset()
    chains: tuple[Chain, ...] = ()

    @classmethod
    def compile(cls, tbox: Graph, ignore: Iterable[Node] = ()) -> Schema:
        """Read the (already closed) schema axioms of ``tbox``; classes in ``ignore`` are never derived."""
        ignored = set(ignore)

        def grouped(predicate: Node) -> dict[Node, frozenset[Node]]:
            table: dict[Node, set[Node]] = defaultdict(set)
            for subject, obj in tbox.subject_objects(predicate):
                if obj not in ignored:
                    table[subject].add(obj)
            return {key: frozenset(values) for key, values in table.items()}

        inverses: dict[Node, set[Node]] = defaultdict(set)
        for first, second in tbox.subject_objects(OWL.inverseOf):
            inverses[first].add(second)
            inverses[second].add(first)
        return cls(
            superclasses=_strict_closure(
                (c, d) for c, d in tbox.subject_objects(RDFS.subClassOf) if d not in ignored
            ),
            superproperties=_strict_closure(tbox.subject_objects(RDFS.subPropertyOf)),
            domains=grouped(RDFS.domain),
            ranges=grouped(RDFS.range),
            inverses={key: frozenset(values) for key, values in inverses.items()},
            symmetric=frozenset(tbox.subjects(RDF.type, OWL.SymmetricProperty)),
            transitive=frozenset(tbox.subjects(RDF.type, OWL.TransitiveProperty)),
            chains=tuple(
                Chain(result, tuple(Collection(tbox, head)))
                for result, head in tbox.subject_objects(OWL.propertyChainAxiom)
            ),
        )

    def joined_properties(self) -> set[Node]:
        """The properties some multi-premise rule joins on (they need indexes)."""
        joined = set(self.transitive)
        for chain in self.chains:
            joined.update(chain.steps)
        return joined


class Materializer:
    """Applies the compiled rules to triples until nothing new follows."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.ids: dict[Node, int] = {}
        self.terms: list[Node] = []
        self.known: set[tuple[int, int, int]] = set()
        self.forward: dict[int, dict[int, set[int]]] = {}
        self.backward: dict[int, dict[int, set[int]]] = {}
        self.type = self._id(RDF.type)
        self.literal: set[int] = set()
        self._compile()

    def _id(self, term: Node) -> int:
        number = self.ids.get(term)
        if number is None:
            number = self.ids[term] = len(self.terms)
            self.terms.append(term)
            if isinstance(term, Literal):
                self.literal.add(number)
        return number

    def _compile(self) -> None:
        s, i = self.schema, self._id

        def table(source: dict[Node, frozenset[Node]]) -> dict[int, tuple[int, ...]]:
            return {i(key): tuple(i(v) for v in values) for key, values in source.items()}

        self.superclasses = table(s.superclasses)
        self.superproperties = table(s.superproperties)
        self.domains = table(s.domains)
        self.ranges = table(s.ranges)
        self.inverses = table(s.inverses)
        self.symmetric = {i(p) for p in s.symmetric}
        self.transitive = {i(p) for p in s.transitive}
        self.chains = [(i(c.result), tuple(i(step) for step in c.steps)) for c in s.chains]
        self.chain_positions: dict[int, list[tuple[int, tuple[int, ...], int]]] = defaultdict(list)
        for result, steps in self.chains:
            for position, step in enumerate(steps):
                self.chain_positions[step].append((result, steps, position))
        for prop in s.joined_properties():
            self.forward[i(prop)] = defaultdict(set)
            self.backward[i(prop)] = defaultdict(set)

    def _walk_back(self, node: int, steps: tuple[int, ...]) -> Iterator[int]:
        """Nodes x with a path x -steps[0]-> … -steps[-1]-> node."""
        frontier = {node}
        for step in reversed(steps):
            index = self.backward[step]
            frontier = {previous for current in frontier for previous in index.get(current, ())}
            if not frontier:
                return
        yield from frontier

    def _walk_forward(self, node: int, steps: tuple[int, ...]) -> Iterator[int]:
        """Nodes y with a path node -steps[0]-> … -steps[-1]-> y."""
        frontier = {node}
        for step in steps:
            index = self.forward[step]
            frontier = {following for current in frontier for following in index.get(current, ())}
            if not frontier:
                return
        yield from frontier

    def _consequences(self, s: int, p: int, o: int) -> Iterator[tuple[int, int, int]]:
        """Everything one rule application derives from (s, p, o) and the triples known so far."""
        object_is_node = o not in self.literal
        if p == self.type:
            for broader in self.superclasses.get(o, ()):
                yield s, p, broader  # cax-sco
        for cls in self.domains.get(p, ()):
            yield s, self.type, cls  # prp-dom
        if object_is_node:
            for cls in self.ranges.get(p, ()):
                yield o, self.type, cls  # prp-rng
            for inverse in self.inverses.get(p, ()):
                yield o, inverse, s  # prp-inv1, prp-inv2
            if p in self.symmetric:
                yield o, p, s  # prp-symp
        for broader in self.superproperties.get(p, ()):
            yield s, broader, o  # prp-spo1
        if p in self.transitive:  # prp-trp
            for following in self.forward[p].get(o, ()):
                yield s, p, following
            for previous in self.backward[p].get(s, ()):
                yield previous, p, o
        for result, steps, position in self.chain_positions.get(p, ()):  # prp-spo2
            for start in self._walk_back(s, steps[:position]):
                for end in self._walk_forward(o, steps[position + 1 :]):
                    yield start, result, end

    def run(self, triples: Iterable[Triple]) -> list[Triple]:
        """Add ``triples``, apply the rules to a fixpoint, return the triples derived (not given)."""
        pending: list[tuple[int, int, int]] = []
        for s, p, o in triples:
            pending.append((self._id(s), self._id(p), self._id(o)))
        given = set(pending)
        derived: list[tuple[int, int, int]] = []
        while pending:
            triple = pending.pop()
            if triple in self.known:
                continue
            self.known.add(triple)
            if triple not in given:
                derived.append(triple)
            s_id, p_id, o_id = triple
            if p_id in self.forward:
                self.forward[p_id][s_id].add(o_id)
                self.backward[p_id][o_id].add(s_id)
            pending.extend(t for t in self._consequences(s_id, p_id, o_id) if t not in self.known)
        terms = self.terms
        return [(terms[s], terms[p], terms[o]) for s, p, o in derived]
