"""Why does an inferred triple hold? The OWL 2 RL rule, the ontology axiom and the premises.

owlrl does not record how it derived a triple, so derivations are reconstructed: every inferred
triple is matched against the OWL 2 RL rules (named as in the W3C OWL 2 Profiles tables, section
4.3) whose conclusion it fits, looking for premises among the triples already grounded. Grounding
proceeds in rounds from the given triples (asserted, provenance, ontology): a triple is explained
in round k only by premises of earlier rounds, so explanations have no cycles and their depth is
bounded by the number of rounds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from rdflib import Dataset, Graph, Literal, Node, URIRef
from rdflib.collection import Collection
from rdflib.namespace import OWL, PROV, RDF, RDFS

from .namespaces import ASSERTED, INFERRED, MD, MDR, ONTOLOGY, PROVENANCE

Triple = tuple[Node, Node, Node]
RULES_SPEC = "https://www.w3.org/TR/owl2-profiles/#"


@dataclass(frozen=True)
class Derivation:
    """One application of a rule: ``premises`` (data) and ``axioms`` (schema) give ``conclusion``."""

    rule: str
    conclusion: Triple
    axioms: tuple[Triple, ...]
    premises: tuple[Triple, ...]
    round: int


def _chain(graph: Graph, head: Node) -> list[Node]:
    return list(Collection(graph, head))


def candidates(
    closure: Graph, triple: Triple
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
    schema_rules = {
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


def _paths(closure: Graph, start: Node, end: Node, steps: list[Node]) -> Iterator[tuple[Triple, ...]]:
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


def conclude(closure: Graph, rule: str, axioms: tuple[Triple, ...], premises: tuple[Triple, ...]) -> Triple:
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


def derive_all(given: Graph, inferred: Graph, max_rounds: int = 50) -> dict[Triple, Derivation]:
    """One grounded derivation for every inferred triple that can be explained.

    ``given`` holds the asserted, provenance and ontology triples; ``inferred`` the entailments.
    Axioms may be given or inferred (e.g. a subclass link derived by scm-sco), but must be grounded.
    """
    closure = Graph()
    closure += given
    closure += inferred
    grounded: set[Triple] = set(given)
    pending = set(inferred) - grounded
    derivations: dict[Triple, Derivation] = {}
    for round_number in range(1, max_rounds + 1):
        newly: dict[Triple, Derivation] = {}
        for triple in pending:
            for rule, axioms, premises in candidates(closure, triple):
                if all(t in grounded for t in (*axioms, *premises)):
                    newly[triple] = Derivation(rule, triple, axioms, premises, round_number)
                    break
        if not newly:
            break
        derivations.update(newly)
        grounded.update(newly)
        pending -= set(newly)
    return derivations


def statement_iri(triple: Triple) -> URIRef:
    """A stable IRI for a triple (an RDF statement), from a hash of its N-Triples form."""
    text = " ".join(term.n3() for term in triple)
    return MDR[f"statement/{hashlib.sha256(text.encode('utf-8')).hexdigest()[:24]}"]


def explanation_graph(
    derivations: dict[Triple, Derivation], given: Graph, triple: Triple, max_depth: int = 20
) -> Graph:
    """PROV-O description of why ``triple`` holds, down to asserted triples.

    Each statement is reified (``rdf:Statement``); an inferred one ``prov:wasGeneratedBy`` a rule
    application (``md:RuleApplication``) that ``prov:used`` its premises and axioms, with
    ``md:rule`` naming the OWL 2 RL rule; an asserted one is marked ``md:asserted true``.
    """
    graph = Graph()
    graph.bind("md", MD)
    graph.bind("prov", PROV)
    seen: set[Triple] = set()

    def describe(current: Triple, depth: int) -> URIRef:
        node = statement_iri(current)
        if current in seen:
            return node
        seen.add(current)
        subject, predicate, obj = current
        graph.add((node, RDF.type, RDF.Statement))
        graph.add((node, RDF.subject, subject))
        graph.add((node, RDF.predicate, predicate))
        graph.add((node, RDF.object, obj))
        derivation = derivations.get(current)
        if derivation is None or depth >= max_depth:
            graph.add((node, MD.asserted, Literal(current in given)))
            return node
        application = URIRef(f"{node}/derivation")
        graph.add((node, MD.asserted, Literal(False)))
        graph.add((node, PROV.wasGeneratedBy, application))
        graph.add((application, RDF.type, MD.RuleApplication))
        graph.add((application, RDF.type, PROV.Activity))
        graph.add((application, MD.rule, Literal(derivation.rule)))
        graph.add((application, RDFS.seeAlso, URIRef(RULES_SPEC + derivation.rule)))
        for axiom in derivation.axioms:
            graph.add((application, MD.usedAxiom, describe(axiom, depth + 1)))
            graph.add((application, PROV.used, statement_iri(axiom)))
        for premise in derivation.premises:
            graph.add((application, MD.usedPremise, describe(premise, depth + 1)))
            graph.add((application, PROV.used, statement_iri(premise)))
        return node

    describe(triple, 0)
    return graph


def release_derivations(dataset: Dataset) -> tuple[Graph, Graph, dict[Triple, Derivation]]:
    """The given triples, the inferred graph and every derivation of a built dataset."""
    given = Graph()
    for name in (ASSERTED, PROVENANCE, ONTOLOGY):
        given += dataset.graph(name)
    inferred = Graph()
    inferred += dataset.graph(INFERRED)
    return given, inferred, derive_all(given, inferred)
