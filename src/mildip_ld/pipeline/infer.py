"""OWL 2 RL inference, kept behind this one module.

Two reasoners give the same result (a test checks it on the article graph):

- ``rules`` (default): owlrl closes the ontology alone (small), then :mod:`mildip_ld.pipeline.rules` pushes
  the data through the compiled instance rules once, semi-naively: seconds at 10^6 triples;
- ``owlrl``: owlrl's naive closure of ontology + data, the reference (minutes at 10^5 triples).

owlrl (pinned) is imported here only. It is being folded into rdflib itself (``Graph.expand()``,
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
from itertools import chain

import owlrl
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, XSD

from mildip_ld.pipeline.rules import Materializer, Schema, Triple

W3C_VOCABULARIES = (str(RDF), str(RDFS), str(OWL), str(XSD))
REFLEXIVE_NOISE = {
    OWL.sameAs,
    RDFS.subClassOf,
    RDFS.subPropertyOf,
    OWL.equivalentClass,
    OWL.equivalentProperty,
}
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
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, axiomatic_triples=False, datatype_axioms=False).expand(
        graph
    )


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
    if (
        isinstance(obj, URIRef)
        and predicate == RDF.type
        and str(obj).startswith(W3C_VOCABULARIES)
        and obj not in (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty)
    ):
        return "vocabulary typing"
    return None


def _entailments_by_rules(ontology: Graph, data: list[Graph]) -> tuple[list[Triple], int]:
    """Entailments not stated by ``ontology`` or ``data``, and the closure size.

    owlrl closes the ontology alone; the data then goes through the compiled instance rules.
    """
    tbox = Graph()
    tbox += ontology
    _owl_rl_closure(tbox)
    schema_entailments = [t for t in tbox if t not in ontology and not any(t in graph for graph in data)]
    derived = Materializer(Schema.compile(tbox, ignore=EMPTY_TYPES)).run(chain(tbox, *data))
    return schema_entailments + derived, len(tbox) + sum(len(graph) for graph in data) + len(derived)


def _entailments_by_owlrl(ontology: Graph, data: list[Graph]) -> tuple[list[Triple], int]:
    """Entailments by owlrl's naive closure of ontology + data, and the closure size."""
    premises = Graph()
    premises += ontology
    for graph in data:
        premises += graph
    closure = Graph()
    closure += premises
    _owl_rl_closure(closure)
    return [t for t in closure if t not in premises], len(closure)


REASONERS = {"rules": _entailments_by_rules, "owlrl": _entailments_by_owlrl}


def infer(ontology: Graph, *data: Graph, reasoner: str = "rules") -> InferenceResult:
    """The OWL 2 RL entailments of ``ontology`` + ``data`` that none of them states, junk filtered out.

    The inputs are not modified.
    """
    if reasoner not in REASONERS:
        raise ValueError(f"unknown reasoner {reasoner!r}: choose one of {', '.join(REASONERS)}")
    started = time.perf_counter()
    entailments, closure_size = REASONERS[reasoner](ontology, list(data))
    inferred = Graph()
    dropped: dict[str, int] = {}
    kept = []
    for triple in entailments:
        reason = junk_reason(triple)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
        else:
            kept.append(triple)
    inferred.addN((s, p, o, inferred) for s, p, o in kept)
    return InferenceResult(inferred, closure_size, dropped, time.perf_counter() - started)
