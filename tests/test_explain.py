"""Explanations: every inferred triple has a grounded derivation whose rule re-derives it."""

from __future__ import annotations

import pytest
from rdflib import Dataset, Graph, Literal
from rdflib.namespace import PROV, RDF

from mildip_ld.explain import Derivation, conclude, derive_all, explanation_graph, statement_iri
from mildip_ld.namespaces import ASSERTED, INFERRED, MD, MDR, ONTOLOGY, PROVENANCE

OWL_2_RL_RULES = {
    "cax-sco",
    "prp-dom",
    "prp-rng",
    "prp-spo1",
    "prp-spo2",
    "prp-inv1",
    "prp-inv2",
    "prp-symp",
    "prp-trp",
    "scm-sco",
    "scm-spo",
    "scm-dom1",
    "scm-dom2",
    "scm-rng1",
    "scm-rng2",
}


@pytest.fixture(scope="module")
def given(dataset: Dataset) -> Graph:
    graph = Graph()
    for name in (ASSERTED, PROVENANCE, ONTOLOGY):
        graph += dataset.graph(name)
    return graph


@pytest.fixture(scope="module")
def derivations(dataset: Dataset, given: Graph) -> dict:
    return derive_all(given, dataset.graph(INFERRED))


def test_every_inferred_triple_is_explained(dataset: Dataset, derivations: dict):
    inferred = set(dataset.graph(INFERRED))
    assert inferred and set(derivations) == inferred


def test_reapplying_each_rule_to_its_premises_yields_the_triple(
    dataset: Dataset, given: Graph, derivations: dict[tuple, Derivation]
):
    closure = given + dataset.graph(INFERRED)
    for triple, derivation in derivations.items():
        assert derivation.rule in OWL_2_RL_RULES
        assert conclude(closure, derivation.rule, derivation.axioms, derivation.premises) == triple
        for used in (*derivation.axioms, *derivation.premises):
            assert used in given or derivations[used].round < derivation.round, "not grounded"


def test_an_engagement_is_explained_down_to_asserted_claims_with_sources(
    dataset: Dataset, given: Graph, derivations: dict
):
    triple = (MDR["russia"], MD.engagesWith, MDR["china"])
    assert derivations[triple].rule in ("prp-spo2", "prp-symp")
    graph = explanation_graph(derivations, given, triple)
    leaves = set(graph.subjects(MD.asserted, Literal(True)))
    assert leaves
    assert not set(graph.subjects(MD.asserted, Literal(False))) - set(
        graph.subjects(PROV.wasGeneratedBy, None)
    )
    asserted_premises = [
        (graph.value(leaf, RDF.subject), graph.value(leaf, RDF.predicate), graph.value(leaf, RDF.object))
        for leaf in leaves
    ]
    assert all(t in given for t in asserted_premises)
    activities = {s for s, p, o in asserted_premises if p in (MD.hasAgent, MD.hasPartner)}
    assert activities and all(given.value(a, MD.statedIn) is not None for a in activities)


def test_an_asserted_triple_is_reported_as_asserted_not_explained(given: Graph, derivations: dict):
    triple = next(iter(given.triples((MDR["russia"], None, None))))
    assert triple not in derivations
    graph = explanation_graph(derivations, given, triple)
    node = statement_iri(triple)
    assert (node, MD.asserted, Literal(True)) in graph
    assert not list(graph.objects(node, PROV.wasGeneratedBy))
