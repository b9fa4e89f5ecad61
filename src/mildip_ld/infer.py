"""OWL 2 RL inference, kept behind this one module.

The reasoner is owlrl (pinned). owlrl is being folded into rdflib itself (``Graph.expand()``,
RDFLib/rdflib #3484); switching to it means changing :func:`_owl_rl_closure` only.

owlrl expands a graph in place and emits, besides real entailments, material that breaks other
stores or says nothing: triples with a literal subject (RDFLib/OWL-RL #50, #63), reflexive
``owl:sameAs``/``rdfs:subClassOf`` statements and axioms about the RDF, RDFS, OWL and XSD
vocabularies. We expand a copy, keep only what is new, and filter that junk out, so the inferred
graph holds the implied relations and nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import owlrl
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, XSD

W3C_VOCABULARIES = (str(RDF), str(RDFS), str(OWL), str(XSD))
REFLEXIVE_NOISE = {OWL.sameAs, RDFS.subClassOf, RDFS.subPropertyOf, OWL.equivalentClass,
                   OWL.equivalentProperty}
EMPTY_TYPES = {OWL.Thing, RDFS.Resource}


@dataclass
class InferenceResult:
    """The inferred triples (only those not already asserted), and what was dropped as junk."""

    inferred: Graph
    closure_size: int
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _owl_rl_closure(graph: Graph) -> None:
    """Expand ``graph`` in place with the OWL 2 RL closure (the only reasoner-specific call)."""
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, axiomatic_triples=False,
                           datatype_axioms=False).expand(graph)


def junk_reason(triple: tuple) -> str | None:
    """Why an entailed triple is not worth keeping, or None when it is."""
    subject, predicate, obj = triple
    if isinstance(subject, Literal):
        return "literal subject"
    if subject == obj and predicate in REFLEXIVE_NOISE:
        return "reflexive"
    if isinstance(subject, URIRef) and str(subject).startswith(W3C_VOCABULARIES):
        return "about RDF/RDFS/OWL/XSD vocabulary"
    if predicate in (RDF.type, RDFS.subClassOf, RDFS.domain, RDFS.range) and obj in EMPTY_TYPES:
        return "empty type"
    if isinstance(obj, URIRef) and predicate == RDF.type and str(obj).startswith(W3C_VOCABULARIES) \
            and obj not in (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty):
        return "vocabulary typing"
    return None


def infer(*graphs: Graph) -> InferenceResult:
    """The OWL 2 RL entailments of the union of ``graphs`` that none of them states.

    The inputs are not modified: the closure is computed on a copy.
    """
    started = time.perf_counter()
    premises = Graph()
    for graph in graphs:
        premises += graph
    closure = Graph()
    closure += premises
    _owl_rl_closure(closure)
    inferred = Graph()
    dropped: dict[str, int] = {}
    for triple in closure:
        if triple in premises:
            continue
        reason = junk_reason(triple)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
        else:
            inferred.add(triple)
    return InferenceResult(inferred, len(closure), dropped, time.perf_counter() - started)
