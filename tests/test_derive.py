"""Explanations: every inferred triple has grounded derivations whose rules re-derive it, recorded in
the release's derivations graph with the modality it holds with (hedged claims stay hedged)."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Dataset, Graph, Literal, URIRef
from rdflib.namespace import OWL, PROV, RDF

from mildip_ld.pipeline.derive import (
    MODALITIES,
    RANK,
    Derivation,
    Record,
    Support,
    candidates,
    conclude,
    derive_every,
    explanation_graph,
    hedged_statements,
    statement_iri,
)
from mildip_ld.pipeline.infer import infer
from mildip_ld.release.build import DATASET_FILE, BuildReport
from mildip_ld.release.explanations import record_triples, release_derivations
from mildip_ld.vocab.namespaces import ASSERTED, DERIVATIONS, INFERRED, MD, MDR, ONTOLOGY, PROVENANCE

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
def record(built: BuildReport) -> Record:
    """The release's derivations graph, read back."""
    return release_derivations(built.release)[2]


@pytest.fixture(scope="module")
def support(record: Record) -> Support:
    return record.support


@pytest.fixture(scope="module")
def derivations(support: Support) -> dict[tuple, tuple[Derivation, ...]]:
    return support.derivations


def test_every_inferred_triple_is_explained(dataset: Dataset, derivations: dict):
    inferred = set(dataset.graph(INFERRED))
    assert inferred and set(derivations) == inferred and all(derivations.values())


def test_reapplying_each_rule_to_its_premises_yields_the_triple(
    dataset: Dataset, given: Graph, derivations: dict[tuple, tuple[Derivation, ...]]
):
    closure = given + dataset.graph(INFERRED)
    for triple, found in derivations.items():
        for derivation in found:
            assert derivation.rule in OWL_2_RL_RULES
            assert conclude(closure, derivation.rule, derivation.axioms, derivation.premises) == triple
            assert all(used in given or used in derivations for used in derivation.parts)


def test_following_first_derivations_always_ends_at_given_triples(given: Graph, support: Support):
    for triple in support.derivations:
        stack: list[tuple[tuple, tuple]] = [(triple, ())]
        while stack:
            current, above = stack.pop()
            assert current not in above, "a cycle through first derivations"
            best = support.best(current)
            if best is None:
                assert current in given
                continue
            stack.extend((part, (*above, current)) for part in best.parts)


def test_several_derivations_are_kept_where_several_exist(derivations: dict):
    several = [triple for triple, found in derivations.items() if len(found) > 1]
    assert len(several) > 100
    assert len({d.rule for found in derivations.values() for d in found} - OWL_2_RL_RULES) == 0


def test_an_engagement_is_explained_down_to_asserted_claims_with_sources(
    dataset: Dataset, given: Graph, support: Support
):
    triple = (MDR["russia"], MD.engagesWith, MDR["china"])
    assert support.best(triple).rule in ("prp-spo2", "prp-symp")
    graph = explanation_graph(support, given, triple)
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


def test_an_asserted_triple_is_reported_as_asserted_not_explained(given: Graph, support: Support):
    triple = next(iter(given.triples((MDR["russia"], None, None))))
    assert triple not in support.derivations
    graph = explanation_graph(support, given, triple)
    node = statement_iri(triple)
    assert (node, MD.asserted, Literal(True)) in graph
    assert not list(graph.objects(node, PROV.wasGeneratedBy))


# --- modality survives inference ------------------------------------------------------------------------

RUSSIA = MDR["russia"]


def _least_fixpoint(given: Graph, inferred: Graph, claims: Graph) -> dict[tuple, int]:
    """Each inferred triple's strength, computed the naive way: start with nothing, and repeat
    "a triple is as strong as its strongest rule instance, each as weak as its weakest part"
    until nothing changes (ranks: 0 stated … 3 possible)."""
    closure = given + inferred
    weak: dict[tuple, int] = {}
    for claim, modality in claims.subject_objects(MD.modality):
        for triple in claims.triples((claim, None, None)):
            if (
                triple[1] not in (MD.statedIn, MD.mentionedIn, MD.modality, MD.hedgeCue)
                and (triple[1], RDF.type, OWL.AnnotationProperty) not in given
            ):
                weak[triple] = max(weak.get(triple, 0), RANK[modality])
    instances = {
        t: [(*axioms, *premises) for _, axioms, premises in candidates(closure, t)] for t in inferred
    }
    strength: dict[tuple, int] = {}

    def of(part: tuple) -> int | None:
        return weak.get(part, 0) if part in given else strength.get(part)

    changed = True
    while changed:
        changed = False
        for triple, options in instances.items():
            ranks = [
                max((of(part) for part in parts), default=0)
                for parts in options
                if all(of(part) is not None for part in parts)
            ]
            if ranks and min(ranks) < strength.get(triple, len(MODALITIES)):
                strength[triple] = min(ranks)
                changed = True
    return strength


def test_every_inferred_triple_holds_with_its_strongest_derivation_weakest_premise(
    dataset: Dataset, given: Graph, support: Support
):
    expected = _least_fixpoint(given, dataset.graph(INFERRED), dataset.graph(ASSERTED))
    assert set(expected) == set(support.derivations)
    found = {triple: RANK[support.modality(triple)] for triple in support.derivations}
    assert found == expected
    assert {MD.forecast, MD.likely, MD.possible} <= {support.modality(t) for t in support.derivations}


def test_the_issues_examples_are_hedged(dataset: Dataset, support: Support):
    asserted = dataset.graph(ASSERTED)
    possible_only = {  # concepts (not claims) that only "may"/"can" claims link to
        obj
        for obj in set(asserted.objects())
        if isinstance(obj, URIRef)
        and asserted.value(obj, MD.modality) is None
        and {asserted.value(s, MD.modality) for s in asserted.subjects(None, obj)} == {MD.possible}
    }
    inferred = dataset.graph(INFERRED)
    examples = {(RUSSIA, p, o) for p, o in inferred.predicate_objects(RUSSIA) if o in possible_only}
    assert (RUSSIA, MD.usesTechnology, MDR["technology/advanced-weaponry"]) in examples  # "may" (line 57)
    for triple in examples:  # what only "may"/"can" claims link Russia to holds only as possible
        assert support.modality(triple) == MD.possible, triple
        assert all(d.modality == MD.possible for d in support.derivations[triple])
    faced = [
        (actor, challenge)
        for actor, challenge in dataset.graph(INFERRED).subject_objects(MD.facesChallenge)
        if asserted.value(challenge, MD.modality) in (MD.likely, MD.possible)
    ]
    assert len(faced) >= 3  # "can" / "may" challenges: the edge to them is as hedged as they are
    for actor, challenge in faced:
        edge = (actor, MD.facesChallenge, challenge)
        assert support.modality(edge) == asserted.value(challenge, MD.modality)


def test_a_fact_with_a_stated_and_a_hedged_derivation_is_stated(support: Support):
    mixed = [
        triple
        for triple, found in support.derivations.items()
        if found[0].modality == MD.stated and any(d.modality != MD.stated for d in found)
    ]
    assert mixed
    assert all(support.modality(triple) == MD.stated for triple in mixed)
    assert support.modality((RUSSIA, RDF.type, MD.Actor)) == MD.stated


def test_the_record_partitions_the_inferred_graph_by_modality(built: BuildReport, dataset: Dataset):
    record = Graph()
    for triple in record_triples(built.release):
        record.add(triple)
    inferred = set(dataset.graph(INFERRED))
    by_modality: dict = {modality: set() for modality in MODALITIES}
    for node in record.subjects(MD.asserted, Literal(False)):
        (modality,) = record.objects(node, MD.modality)  # exactly one
        triple = tuple(record.value(node, part) for part in (RDF.subject, RDF.predicate, RDF.object))
        by_modality[modality].add(triple)
    assert sum(map(len, by_modality.values())) == len(inferred)
    assert set().union(*by_modality.values()) == inferred
    assert all(by_modality.values())


def test_modality_on_a_small_graph_weakest_premise_strongest_derivation():
    """Two activities serve one aim and a chain of likely and forecast claims: the aim Russia pursues
    by a stated and a possible activity is stated; a chain of a likely and a forecast claim is likely."""
    ontology = Graph().parse(
        data="""
        @prefix md: <https://w3id.org/mildip/ontology#> . @prefix owl: <http://www.w3.org/2002/07/owl#> .
        md:agentIn owl:inverseOf md:hasAgent .
        md:pursuesAim owl:propertyChainAxiom ( md:agentIn md:servesAim ) .
        md:partOf a owl:TransitiveProperty .
    """,
        format="turtle",
    )
    data = Graph().parse(
        data="""
        @prefix md: <https://w3id.org/mildip/ontology#> . @prefix x: <https://example.org/> .
        x:a md:hasAgent x:russia ; md:servesAim x:trust ; md:modality md:stated .
        x:b md:hasAgent x:russia ; md:servesAim x:trust , x:leverage ; md:modality md:possible .
        x:c md:partOf x:d ; md:modality md:likely .
        x:d md:partOf x:e ; md:modality md:forecast .
    """,
        format="turtle",
    )
    inferred = infer(ontology, data).inferred
    given = ontology + data
    support = derive_every(given, inferred, hedged_statements(data, ontology))
    x = "https://example.org/"
    trust, leverage = (
        (URIRef(x + "russia"), MD.pursuesAim, URIRef(x + aim)) for aim in ("trust", "leverage")
    )
    assert support.modality(trust) == MD.stated
    assert sorted(d.modality for d in support.derivations[trust]) == [MD.possible, MD.stated]
    assert support.best(trust).modality == MD.stated
    assert support.modality(leverage) == MD.possible
    assert support.modality((URIRef(x + "c"), MD.partOf, URIRef(x + "e"))) == MD.likely
    assert support.modality((URIRef(x + "russia"), MD.agentIn, URIRef(x + "b"))) == MD.possible
    assert (URIRef(x + "b"), MD.modality, MD.possible) not in support.modalities  # records a claim: stated


def test_a_release_built_without_a_record_gets_the_same_one_on_reading(
    built: BuildReport, record: Record, tmp_path: Path
):
    release = tmp_path / built.release.name
    release.mkdir()
    without = ox.NamedNode(str(DERIVATIONS))
    quads = [
        q
        for q in ox.parse(path=str(built.release / DATASET_FILE), format=ox.RdfFormat.N_QUADS)
        if q.graph_name != without
    ]
    ox.serialize(quads, str(release / DATASET_FILE), ox.RdfFormat.N_QUADS)
    derived = release_derivations(release)[2]
    assert derived.support.modalities == record.support.modalities
    assert {t: set(found) for t, found in derived.support.derivations.items()} == {
        t: set(found) for t, found in record.support.derivations.items()
    }
    assert derived.passages == record.passages and derived.applications == record.applications
