"""Why does an inferred triple hold, and how firmly? Every derivation, and the modality it carries.

owlrl does not record how it derived a triple, so derivations are reconstructed: every inferred
triple is matched against the OWL 2 RL rules (named as in the W3C OWL 2 Profiles tables, section
4.3) whose conclusion it fits, with premises in the closure (:func:`candidates`). Grounding proceeds
in rounds from the given triples (asserted, provenance, ontology): a triple is grounded in round k
by premises of earlier rounds, so no kept derivation rests on its own conclusion and the number of
rounds bounds the enumeration.

Modality survives inference (:func:`derive_every`): a hedged claim's triples carry its
``md:modality``, a derivation is as weak as its weakest premise, and a triple holds with the
strongest modality over its derivations (stated when one rests on stated triples only). The
rounds are run once per strength, from the stated triples alone to every triple, which gives
exactly that (a least fixpoint of max over derivations of min over premises).

The result is recorded once, at build or write time, as the release's ``graph:derivations``
(:func:`derivation_record`); the pages and ``/explain`` read it back (:func:`read_record`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rdflib import Graph, Literal, Node, URIRef
from rdflib.collection import Collection
from rdflib.namespace import OWL, PROV, RDF, RDFS

from mildip_ld.vocab.namespaces import MD, MDR

Triple = tuple[Node, Node, Node]
RULES_SPEC = "https://www.w3.org/TR/owl2-profiles/#"


class TripleIndex:
    """Triples by subject and predicate and by predicate and object: the lookups :func:`candidates`
    makes, as dictionary reads (rdflib's memory store answers each through three generators, which
    was half the time of :func:`derive_every`). ``value`` and ``items`` let rdflib's ``Collection``
    read a list from it as from a graph."""

    def __init__(self, triples: Iterable[Triple]) -> None:
        self._triples: set[Triple] = set()
        self._objects: dict[tuple[Node, Node], list[Node]] = {}
        self._subjects: dict[tuple[Node, Node], list[Node]] = {}
        for triple in triples:
            if triple not in self._triples:
                self._triples.add(triple)
                s, p, o = triple
                self._objects.setdefault((s, p), []).append(o)
                self._subjects.setdefault((p, o), []).append(s)

    def __contains__(self, triple: object) -> bool:
        return triple in self._triples

    def objects(self, subject: Node, predicate: Node) -> list[Node]:
        return self._objects.get((subject, predicate), [])

    def subjects(self, predicate: Node, obj: Node) -> list[Node]:
        return self._subjects.get((predicate, obj), [])

    def value(self, subject: Node, predicate: Node) -> Node | None:
        found = self._objects.get((subject, predicate))
        return found[0] if found else None

    def items(self, head: Node) -> Iterator[Node]:
        return Graph.items(self, head)  # type: ignore[arg-type]  # rdflib's list walk, on value()


Lookups = Graph | TripleIndex
"""What rules are matched against: a graph, or the faster index of :func:`derive_every`."""


def _chain(graph: Lookups, head: Node) -> list[Node]:
    return list(Collection(graph, head))  # type: ignore[arg-type]  # it reads items() only


def candidates(
    closure: Lookups, triple: Triple
) -> Iterator[tuple[str, tuple[Triple, ...], tuple[Triple, ...]]]:
    """Every (rule, axioms, premises) whose conclusion is ``triple``, with premises in ``closure``."""
    s, p, o = triple
    if p == RDF.type:
        for narrower in closure.objects(s, RDF.type):
            if narrower != o and (narrower, RDFS.subClassOf, o) in closure:
                yield "cax-sco", ((narrower, RDFS.subClassOf, o),), ((s, RDF.type, narrower),)
        for prop in closure.subjects(RDFS.domain, o):
            for value in closure.objects(s, prop):
                yield "prp-dom", ((prop, RDFS.domain, o),), ((s, prop, value),)
        for prop in closure.subjects(RDFS.range, o):
            for subject in closure.subjects(prop, s):
                yield "prp-rng", ((prop, RDFS.range, o),), ((subject, prop, s),)
        return
    schema_rules: dict[Node, tuple[str, URIRef]] = {
        RDFS.subClassOf: ("scm-sco", RDFS.subClassOf),
        RDFS.subPropertyOf: ("scm-spo", RDFS.subPropertyOf),
    }
    if p in schema_rules:
        rule, link = schema_rules[p]
        for middle in closure.objects(s, link):
            if middle not in (s, o) and (middle, link, o) in closure:
                yield rule, ((s, link, middle), (middle, link, o)), ()
        return
    if p in (RDFS.domain, RDFS.range):
        suffix = "dom" if p == RDFS.domain else "rng"
        for narrower in closure.objects(s, p):
            if narrower != o and (narrower, RDFS.subClassOf, o) in closure:
                yield f"scm-{suffix}1", ((s, p, narrower), (narrower, RDFS.subClassOf, o)), ()
        for broader in closure.objects(s, RDFS.subPropertyOf):
            if broader != s and (broader, p, o) in closure:
                yield f"scm-{suffix}2", ((broader, p, o), (s, RDFS.subPropertyOf, broader)), ()
        return
    for narrower in closure.subjects(RDFS.subPropertyOf, p):
        if narrower != p and (s, narrower, o) in closure:
            yield "prp-spo1", ((narrower, RDFS.subPropertyOf, p),), ((s, narrower, o),)
    for inverse in closure.subjects(OWL.inverseOf, p):
        if (o, inverse, s) in closure:
            yield "prp-inv1", ((inverse, OWL.inverseOf, p),), ((o, inverse, s),)
    for inverse in closure.objects(p, OWL.inverseOf):
        if (o, inverse, s) in closure:
            yield "prp-inv2", ((p, OWL.inverseOf, inverse),), ((o, inverse, s),)
    if (p, RDF.type, OWL.SymmetricProperty) in closure and (o, p, s) in closure:
        yield "prp-symp", ((p, RDF.type, OWL.SymmetricProperty),), ((o, p, s),)
    if (p, RDF.type, OWL.TransitiveProperty) in closure:
        for middle in closure.objects(s, p):
            if middle not in (s, o) and (middle, p, o) in closure:
                yield "prp-trp", ((p, RDF.type, OWL.TransitiveProperty),), ((s, p, middle), (middle, p, o))
    for head in closure.objects(p, OWL.propertyChainAxiom):
        steps = _chain(closure, head)
        for path in _paths(closure, s, o, steps):
            yield "prp-spo2", ((p, OWL.propertyChainAxiom, head),), path


def _paths(closure: Lookups, start: Node, end: Node, steps: list[Node]) -> Iterator[tuple[Triple, ...]]:
    if not steps:
        return
    step, rest = steps[0], steps[1:]
    for value in closure.objects(start, step):
        if not rest:
            if value == end:
                yield ((start, step, value),)
        else:
            for tail in _paths(closure, value, end, rest):
                yield ((start, step, value), *tail)


def conclude(closure: Lookups, rule: str, axioms: tuple[Triple, ...], premises: tuple[Triple, ...]) -> Triple:
    """Apply ``rule`` to its axioms and premises; return what it concludes (checks an explanation)."""
    first = axioms[0]
    if rule == "cax-sco":
        return premises[0][0], RDF.type, first[2]
    if rule == "prp-dom":
        return premises[0][0], RDF.type, first[2]
    if rule == "prp-rng":
        return premises[0][2], RDF.type, first[2]
    if rule in ("scm-sco", "scm-spo"):
        return axioms[0][0], axioms[0][1], axioms[1][2]
    if rule in ("scm-dom1", "scm-rng1"):
        return axioms[0][0], axioms[0][1], axioms[1][2]
    if rule in ("scm-dom2", "scm-rng2"):
        return axioms[1][0], axioms[0][1], axioms[0][2]
    if rule == "prp-spo1":
        return premises[0][0], first[2], premises[0][2]
    if rule == "prp-inv1":
        return premises[0][2], first[2], premises[0][0]
    if rule == "prp-inv2":
        return premises[0][2], first[0], premises[0][0]
    if rule == "prp-symp":
        return premises[0][2], first[0], premises[0][0]
    if rule == "prp-trp":
        return premises[0][0], first[0], premises[-1][2]
    if rule == "prp-spo2":
        steps = _chain(closure, first[2])
        if [premise[1] for premise in premises] != steps:
            raise ValueError("premises do not follow the chain")
        if any(premises[i][2] != premises[i + 1][0] for i in range(len(premises) - 1)):
            raise ValueError("premises are not connected")
        return premises[0][0], first[0], premises[-1][2]
    raise ValueError(f"unknown rule {rule}")


MODALITIES = (MD.stated, MD.forecast, MD.likely, MD.possible)
"""How firmly a statement holds, strongest first (the ontology's ``md:Modality`` values)."""
RANK = {modality: rank for rank, modality in enumerate(MODALITIES)}
CLAIM_RECORD = frozenset({MD.statedIn, MD.mentionedIn, MD.modality, MD.hedgeCue})
"""Properties that record a claim (where the source states it, how firmly) rather than say what it
claims: that the source states a hedged claim is itself stated."""


def hedged_statements(asserted: Graph, ontology: Graph) -> dict[Triple, URIRef]:
    """The asserted triples weaker than stated, with their modality: what hedged claims claim.

    A claim node (a subject with ``md:modality``) lends its modality to its triples, except those
    recording the claim (:data:`CLAIM_RECORD` and the ontology's annotation properties: labels,
    notes). A modality the ontology does not know counts as the weakest (fail closed). Every other
    triple (an ontology axiom, a typing or description of an entity, a passage) is stated.
    """
    record = CLAIM_RECORD | set(ontology.subjects(RDF.type, OWL.AnnotationProperty))
    hedged: dict[Triple, URIRef] = {}
    for claim, stated in asserted.subject_objects(MD.modality):
        modality = stated if isinstance(stated, URIRef) and stated in RANK else MODALITIES[-1]
        if modality == MD.stated:
            continue
        for triple in asserted.triples((claim, None, None)):
            if triple[1] not in record:
                hedged[triple] = weakest(hedged.get(triple, MD.stated), modality)
    return hedged


def weakest(*modalities: URIRef) -> URIRef:
    """The weakest of ``modalities`` (stated when none is given)."""
    return MODALITIES[max((RANK[m] for m in modalities), default=0)]


@dataclass(frozen=True)
class Derivation:
    """One application of a rule: ``premises`` (data) and ``axioms`` (schema) give ``conclusion``."""

    rule: str
    conclusion: Triple
    axioms: tuple[Triple, ...]
    premises: tuple[Triple, ...]
    modality: URIRef = MD.stated
    """How firmly it supports its conclusion: as weakly as its weakest axiom or premise."""

    @property
    def parts(self) -> tuple[Triple, ...]:
        return (*self.axioms, *self.premises)


@dataclass
class Support:
    """Every kept derivation of each inferred triple (strongest, then shallowest, first), and how
    firmly each triple holds."""

    derivations: dict[Triple, tuple[Derivation, ...]]
    modalities: dict[Triple, URIRef]
    """Each inferred triple's modality (its strongest derivation's) and the asserted ones weaker than
    stated; any other triple is stated."""

    def modality(self, triple: Triple) -> URIRef:
        return self.modalities.get(triple, MD.stated)

    def best(self, triple: Triple) -> Derivation | None:
        """The strongest, shallowest derivation of ``triple`` (None for a triple not inferred)."""
        found = self.derivations.get(triple)
        return found[0] if found else None


def derive_every(
    given: Graph, inferred: Graph, hedged: dict[Triple, URIRef] | None = None, max_rounds: int = 50
) -> Support:
    """Every grounded derivation of every inferred triple, and the modality each triple holds with.

    ``given`` holds the asserted, provenance and ontology triples, ``hedged`` those of them weaker
    than stated (:func:`hedged_statements`), ``inferred`` the entailments. At each strength (stated;
    stated or forecast; …; any) the given triples at least that strong are grounded in round 0, and
    an inferred triple in round k when a rule instance derives it from triples of earlier rounds;
    a triple holds with the strongest modality at which it is grounded. A rule instance is kept as
    a derivation when, at some strength at least as weak as its weakest part, all its axioms and
    premises are grounded before its conclusion: no derivation rests on its own conclusion, and a
    fact with a stated and a hedged derivation keeps both (and is stated).
    """
    hedged = hedged or {}
    given_set = set(given)
    given_rank = {triple: RANK[modality] for triple, modality in hedged.items() if triple in given_set}
    closure = TripleIndex(itertools.chain(given, inferred))
    options = {triple: list(candidates(closure, triple)) for triple in set(inferred) - given_set}
    rounds: list[dict[Triple, int]] = []
    for level in range(len(MODALITIES)):
        grounded: dict[Triple, int] = {}

        def ready(part: Triple, level: int = level, grounded: dict[Triple, int] = grounded) -> bool:
            if part in given_set:
                return given_rank.get(part, 0) <= level
            return part in grounded

        pending = set(options)
        for round_number in range(1, max_rounds + 1):
            newly = [
                triple
                for triple in pending
                if any(
                    all(ready(part) for part in (*axioms, *premises))
                    for _, axioms, premises in options[triple]
                )
            ]
            if not newly:
                break
            grounded.update((triple, round_number) for triple in newly)
            pending.difference_update(newly)
        rounds.append(grounded)

    strength = {
        triple: next(level for level, grounded in enumerate(rounds) if triple in grounded)
        for triple in options
        if triple in rounds[-1]
    }

    def rank(part: Triple) -> int | None:
        return given_rank.get(part, 0) if part in given_set else strength.get(part)

    def round_of(part: Triple, level: int) -> int:
        return 0 if part in given_set else rounds[level][part]

    derivations: dict[Triple, list[Derivation]] = {}
    for triple in strength:
        kept = derivations[triple] = []
        for rule, axioms, premises in options[triple]:
            parts = (*axioms, *premises)
            ranks = [known for part in parts if (known := rank(part)) is not None]
            if len(ranks) < len(parts):
                continue
            level = max(ranks, default=0)
            if any(
                all(round_of(part, at) < rounds[at][triple] for part in parts)
                for at in range(level, len(MODALITIES))
            ):
                kept.append(Derivation(rule, triple, axioms, premises, MODALITIES[level]))
    modalities = {triple: MODALITIES[level] for triple, level in strength.items()}
    modalities.update((triple, modality) for triple, modality in hedged.items() if triple in given_set)
    return Support(ordered(derivations, modalities), modalities)


def ordered(
    derivations: dict[Triple, list[Derivation]], modalities: dict[Triple, URIRef]
) -> dict[Triple, tuple[Derivation, ...]]:
    """Each triple's derivations, strongest first, then shallowest (then by rule and parts).

    The depth of a triple is 0 when it is not derived, else one more than the deepest part of its
    shallowest derivation as strong as the triple (a least fixpoint): following first derivations
    always ends at given triples, since each step lowers (strength, depth).
    """
    rank = {triple: RANK[modality] for triple, modality in modalities.items()}
    depth: dict[Triple, int] = {}
    changed = True
    while changed:
        changed = False
        for triple, found in derivations.items():
            for derivation in found:
                if RANK[derivation.modality] != rank[triple] or any(
                    part in derivations and part not in depth for part in derivation.parts
                ):
                    continue
                reached = 1 + max((depth.get(part, 0) for part in derivation.parts), default=0)
                if reached < depth.get(triple, reached + 1):
                    depth[triple] = reached
                    changed = True

    def key(derivation: Derivation) -> tuple:
        deepest = max((depth.get(part, 0) for part in derivation.parts), default=0)
        return (
            RANK[derivation.modality],
            deepest,
            derivation.rule,
            [term.n3() for part in derivation.parts for term in part],
        )

    return {triple: tuple(sorted(found, key=key)) for triple, found in derivations.items()}


def supporting_passages(support: Support, asserted: Graph) -> dict[Triple, frozenset[URIRef]]:
    """The passages each inferred triple rests on: those stating a claim reached through its
    derivations (``md:statedIn`` of an asserted premise's subject), over every derivation."""

    def stated_in(triple: Triple) -> frozenset[URIRef]:
        if triple not in asserted:
            return frozenset()
        return frozenset(p for p in asserted.objects(triple[0], MD.statedIn) if isinstance(p, URIRef))

    leaves: dict[Triple, frozenset[URIRef]] = {}
    found: dict[Triple, frozenset[URIRef]] = {triple: frozenset() for triple in support.derivations}
    changed = True
    while changed:  # a fixpoint: derivations may reach a triple again through another derivation
        changed = False
        for triple, derivations in support.derivations.items():
            passages = set(found[triple])
            for derivation in derivations:
                for part in derivation.parts:
                    if part in found:
                        passages |= found[part]
                    else:
                        if part not in leaves:
                            leaves[part] = stated_in(part)
                        passages |= leaves[part]
            if len(passages) != len(found[triple]):
                found[triple] = frozenset(passages)
                changed = True
    return found


def statement_iri(triple: Triple) -> URIRef:
    """A stable IRI for a triple (an RDF statement), from a hash of its N-Triples form."""
    text = " ".join(term.n3() for term in triple)
    return MDR[f"statement/{hashlib.sha256(text.encode('utf-8')).hexdigest()[:24]}"]


def derivation_iri(conclusion: URIRef, rule: str, parts: Iterable[URIRef]) -> URIRef:
    """A stable IRI for one derivation, under its conclusion's statement IRI: a hash of the rule and
    the statements it used."""
    text = " ".join([rule, *map(str, parts)])
    return URIRef(f"{conclusion}/derivation/{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}")


def derivations_graph(support: Support, passages: dict[Triple, frozenset[URIRef]], asserted: Graph) -> Graph:
    """The record of every derivation, as PROV-O (the release's ``graph:derivations``).

    Each inferred triple is an ``rdf:Statement`` with its ``md:modality`` (the strongest over its
    derivations), ``prov:wasGeneratedBy`` each of its derivations and ``prov:wasDerivedFrom``
    every passage it rests on. Each derivation is an ``md:RuleApplication`` naming its rule
    (``md:rule``, ``rdfs:seeAlso`` the W3C table), its ``md:modality`` (its weakest part's) and the
    statements it used (``md:usedAxiom``, ``md:usedPremise``); a statement a file asserts is
    ``md:asserted true`` with its own modality, and a claim's triple ``prov:wasDerivedFrom`` the
    passages that state the claim.
    """
    graph = Graph(store="SimpleMemory")
    quads: list[tuple[Node, Node, Node, Graph]] = []
    nodes: dict[Triple, URIRef] = {}
    modality, asserted_flag, stated_in = MD.modality, MD.asserted, MD.statedIn  # looked up once
    flags = {True: Literal(True), False: Literal(False)}
    rules = {
        rule: (Literal(rule), URIRef(RULES_SPEC + rule))
        for rule in {d.rule for found in support.derivations.values() for d in found}
    }

    def statement(triple: Triple) -> URIRef:
        node = nodes.get(triple)
        if node is not None:
            return node
        node = nodes[triple] = statement_iri(triple)
        inferred = triple in support.derivations
        quads.extend(
            (node, p, o, graph)
            for p, o in (
                (RDF.type, RDF.Statement),
                (RDF.subject, triple[0]),
                (RDF.predicate, triple[1]),
                (RDF.object, triple[2]),
                (asserted_flag, flags[not inferred]),
                (modality, support.modality(triple)),
            )
        )
        sources = (
            passages.get(triple, ())
            if inferred
            else (asserted.objects(triple[0], stated_in) if triple in asserted else ())
        )
        quads.extend((node, PROV.wasDerivedFrom, passage, graph) for passage in sources)
        return node

    application_type, rule_name = MD.RuleApplication, MD.rule
    used_axiom, used_premise = MD.usedAxiom, MD.usedPremise
    for triple, derivations in support.derivations.items():
        node = statement(triple)
        for derivation in derivations:
            axioms = [statement(axiom) for axiom in derivation.axioms]
            premises = [statement(premise) for premise in derivation.premises]
            application = derivation_iri(node, derivation.rule, (*axioms, *premises))
            name, spec = rules[derivation.rule]
            quads.extend(
                (application, p, o, graph)
                for p, o in (
                    (RDF.type, application_type),
                    (rule_name, name),
                    (RDFS.seeAlso, spec),
                    (modality, derivation.modality),
                )
            )
            quads.append((node, PROV.wasGeneratedBy, application, graph))
            quads.extend((application, used_axiom, axiom, graph) for axiom in axioms)
            quads.extend((application, used_premise, premise, graph) for premise in premises)
    graph.store.addN(quads)  # terms built here: Graph.addN's check of each one took a third of the time
    return graph


def derivation_record(asserted: Graph, provenance: Graph, ontology: Graph, inferred: Graph) -> Graph:
    """The derivations graph of a release (computed once, at build or write time)."""
    given = Graph(store="SimpleMemory")
    given.addN((*triple, given) for graph in (asserted, provenance, ontology) for triple in graph)
    support = derive_every(given, inferred, hedged_statements(asserted, ontology))
    return derivations_graph(support, supporting_passages(support, asserted), asserted)


@dataclass
class Record:
    """A release's derivations record read back: every derivation, and the passages each inferred
    triple rests on."""

    support: Support
    passages: dict[Triple, frozenset[URIRef]]
    statements: dict[Node, Triple]
    """Each statement node of the record, by IRI."""
    applications: dict[Triple, set[str]]
    """The IRIs of each inferred triple's derivations."""


def _iri(node: Node) -> URIRef:
    """``node``, which a derivations record holds as an IRI (a ValueError when it does not)."""
    if not isinstance(node, URIRef):
        raise ValueError(f"the derivations record has {node!r} where an IRI belongs")
    return node


def read_record(triples: Iterable[Triple], closure: Graph) -> Record:
    """Read a derivations graph (:func:`derivations_graph`) back; ``closure`` holds the statements'
    chain lists. RDF keeps no order, so each derivation's axioms and premises are put in the order
    in which its rule, re-applied (:func:`conclude`), gives its conclusion; a derivation whose rule
    does not give it is an error."""
    parts: dict[Node, dict[Node, list[Node]]] = {}
    for subject, predicate, obj in triples:
        parts.setdefault(subject, {}).setdefault(predicate, []).append(obj)
    statements = {
        node: (found[RDF.subject][0], found[RDF.predicate][0], found[RDF.object][0])
        for node, found in parts.items()
        if RDF.subject in found
    }
    modalities = {statements[node]: _iri(parts[node][MD.modality][0]) for node in statements}
    derivations: dict[Triple, list[Derivation]] = {}
    passages: dict[Triple, frozenset[URIRef]] = {}
    iris: dict[Triple, set[str]] = {}
    for node, triple in statements.items():
        applications = parts[node].get(PROV.wasGeneratedBy, [])
        if not applications:
            continue
        iris[triple] = {str(application) for application in applications}
        passages[triple] = frozenset(_iri(passage) for passage in parts[node].get(PROV.wasDerivedFrom, ()))
        found = derivations[triple] = []
        for application in applications:
            described = parts[application]
            rule = str(described[MD.rule][0])
            axioms = [statements[n] for n in described.get(MD.usedAxiom, ())]
            premises = [statements[n] for n in described.get(MD.usedPremise, ())]
            found.append(
                Derivation(
                    rule,
                    triple,
                    *_in_rule_order(closure, rule, triple, axioms, premises),
                    _iri(described[MD.modality][0]),
                )
            )
    return Record(Support(ordered(derivations, modalities), modalities), passages, statements, iris)


def _in_rule_order(
    closure: Graph, rule: str, conclusion: Triple, axioms: list[Triple], premises: list[Triple]
) -> tuple[tuple[Triple, ...], tuple[Triple, ...]]:
    for ordered_axioms in itertools.permutations(axioms):
        for ordered_premises in itertools.permutations(premises):
            try:
                if conclude(closure, rule, ordered_axioms, ordered_premises) == conclusion:
                    return ordered_axioms, ordered_premises
            except (ValueError, IndexError):
                continue
    raise ValueError(f"the recorded {rule} derivation does not give {conclusion}")


def explanation_graph(support: Support, given: Graph, triple: Triple, max_depth: int = 20) -> Graph:
    """PROV-O description of why ``triple`` holds, down to asserted triples.

    Each statement is reified (``rdf:Statement``) with its ``md:modality``; an inferred one
    ``prov:wasGeneratedBy`` a rule application (``md:RuleApplication``, with its ``md:modality``)
    that ``prov:used`` its premises and axioms, with ``md:rule`` naming the OWL 2 RL rule; an
    asserted one is marked ``md:asserted true``. ``triple`` itself is given with every derivation
    of it, the statements below it with their first (strongest, shallowest) one.
    """
    graph = Graph()
    graph.bind("md", MD)
    graph.bind("prov", PROV)
    seen: set[Triple] = set()

    def statement_node(current: Triple, depth: int) -> URIRef:
        node = statement_iri(current)
        if current in seen:
            return node
        seen.add(current)
        subject, predicate, obj = current
        graph.add((node, RDF.type, RDF.Statement))
        graph.add((node, RDF.subject, subject))
        graph.add((node, RDF.predicate, predicate))
        graph.add((node, RDF.object, obj))
        graph.add((node, MD.modality, support.modality(current)))
        derivations = support.derivations.get(current, ())
        if not derivations or depth >= max_depth:
            graph.add((node, MD.asserted, Literal(current in given)))
            return node
        graph.add((node, MD.asserted, Literal(False)))
        for derivation in derivations if depth == 0 else derivations[:1]:
            axioms = [statement_node(axiom, depth + 1) for axiom in derivation.axioms]
            premises = [statement_node(premise, depth + 1) for premise in derivation.premises]
            application = derivation_iri(node, derivation.rule, (*axioms, *premises))
            graph.add((node, PROV.wasGeneratedBy, application))
            graph.add((application, RDF.type, MD.RuleApplication))
            graph.add((application, RDF.type, PROV.Activity))
            graph.add((application, MD.rule, Literal(derivation.rule)))
            graph.add((application, MD.modality, derivation.modality))
            graph.add((application, RDFS.seeAlso, URIRef(RULES_SPEC + derivation.rule)))
            for used, role in ((axioms, MD.usedAxiom), (premises, MD.usedPremise)):
                for part in used:
                    graph.add((application, role, part))
                    graph.add((application, PROV.used, part))
        return node

    statement_node(triple, 0)
    return graph
