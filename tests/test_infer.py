"""OWL-RL inference: implied relations that no file asserts, kept in their own graph, and no junk."""

from __future__ import annotations

from rdflib import Dataset, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS

from mildip_ld.pipeline.infer import infer
from mildip_ld.pipeline.loader import ProjectData
from mildip_ld.pipeline.validate import data_graph
from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.namespaces import ASSERTED, INFERRED, MD, MDR, ONTOLOGY, PROVENANCE, WD

RUSSIA = MDR["russia"]


def _graphs(dataset: Dataset) -> tuple[Graph, Graph, Graph]:
    return dataset.graph(ASSERTED), dataset.graph(INFERRED), dataset.graph(ONTOLOGY)


def test_inferred_graph_is_disjoint_from_every_input_graph(dataset: Dataset):
    inferred = set(dataset.graph(INFERRED))
    for name in (ASSERTED, ONTOLOGY, PROVENANCE):
        assert not inferred & set(dataset.graph(name)), name


def test_engagement_partners_are_derived_both_ways(dataset: Dataset):
    asserted, inferred, _ = _graphs(dataset)
    pairs = {
        (agent, partner)
        for activity, agent in asserted.subject_objects(MD.hasAgent)
        for partner in asserted.objects(activity, MD.hasPartner)
    }
    pairs |= {
        (supplier, recipient)
        for activity, supplier in asserted.subject_objects(MD.hasSupplier)
        for recipient in asserted.objects(activity, MD.hasRecipient)
    }
    assert pairs, "no activity with an agent and a partner"
    for agent, partner in pairs:
        assert (agent, MD.engagesWith, partner) in inferred
        assert (partner, MD.engagesWith, agent) in inferred
    assert not list(asserted.triples((None, MD.engagesWith, None))), "engagesWith must only be inferred"


def test_states_engaging_with_russia_come_from_exercises_agreements_and_arms_transfers(dataset: Dataset):
    asserted, inferred, _ = _graphs(dataset)
    both = asserted + inferred
    engaging = set(inferred.subjects(MD.engagesWith, RUSSIA))
    for kind in (MD.JointExercise, MD.BilateralDefenceAgreement, MD.ArmsTransfer):
        via_kind = {
            partner
            for activity in both.subjects(RDF.type, kind)
            if (activity, MD.hasAgent, RUSSIA) in both
            for partner in both.objects(activity, MD.hasPartner)
        }
        assert via_kind, f"no {kind} with a partner of Russia"
        assert via_kind <= engaging
        assert not {(RUSSIA, MD.engagesWith, partner) for partner in via_kind} & set(asserted)
    assert {MDR["china"], MDR["india"], MDR["vietnam"], MDR["belarus"], MDR["serbia"]} <= engaging


def test_membership_nodes_yield_member_of_and_its_inverse(dataset: Dataset):
    asserted, inferred, _ = _graphs(dataset)
    memberships = list(asserted.subjects(RDF.type, MD.Membership))
    assert memberships
    for membership in memberships:
        member = asserted.value(membership, MD.heldBy)
        organization = asserted.value(membership, MD.organization)
        assert (member, MD.memberOf, organization) in inferred
        assert (organization, MD.hasMember, member) in inferred
        assert (member, MD.hasMembership, membership) in inferred
    assert (MDR["belarus"], MD.memberOf, MDR["csto"]) in inferred


def test_instances_are_typed_up_the_instrument_taxonomy(dataset: Dataset):
    asserted, inferred, ontology = _graphs(dataset)
    exercises = set(asserted.subjects(RDF.type, MD.JointExercise))
    assert exercises
    for exercise in exercises:
        assert (exercise, RDF.type, MD.MilitaryExercise) in inferred
        assert (exercise, RDF.type, MD.MilitaryDiplomacyActivity) in inferred
    assert (MD.MultinationalExercise, RDFS.subClassOf, MD.MilitaryDiplomacyActivity) in inferred
    assert (MD.MultinationalExercise, RDFS.subClassOf, MD.MilitaryDiplomacyActivity) not in ontology


def test_aims_are_derived_for_the_agents(dataset: Dataset):
    asserted, inferred, _ = _graphs(dataset)
    checked = 0
    for activity, aim in asserted.subject_objects(MD.servesAim):
        for agent in asserted.objects(activity, MD.hasAgent):
            assert (agent, MD.pursuesAim, aim) in inferred
            checked += 1
    assert checked >= 5  # the article states aims of activities with agents: the loop ran over them


def test_no_junk_no_literal_subjects_no_same_as(dataset: Dataset, built: BuildReport):
    inferred = dataset.graph(INFERRED)
    assert not [t for t in inferred if isinstance(t[0], Literal)]
    assert not list(inferred.triples((None, OWL.sameAs, None)))
    assert not [t for t in inferred if t[0] == t[2] and t[1] in (RDFS.subClassOf, RDFS.subPropertyOf)]
    assert built.closure_size > len(inferred) > 0


def test_compiled_rules_give_exactly_owlrls_result(project: ProjectData):
    data = data_graph(project)
    by_owlrl = infer(project.ontology.graph, data, reasoner="owlrl")
    by_rules = infer(project.ontology.graph, data, reasoner="rules")
    assert set(by_rules.inferred) == set(by_owlrl.inferred)
    assert len(by_rules.inferred) > 3000
    assert by_owlrl.dropped.get("literal subject", 0) > 0  # owlrl emits them: the filter removes them


def test_wikidata_links_do_not_merge_or_copy_statements(dataset: Dataset):
    asserted, inferred, _ = _graphs(dataset)
    links = list(asserted.subject_objects(URIRef("http://www.w3.org/2004/02/skos/core#exactMatch")))
    assert links
    assert not [t for t in inferred if str(t[0]).startswith(str(WD))]
    assert not [t for t in inferred if t[1] == OWL.sameAs]
    described = {s for s in inferred.subjects() if s in {entity for entity, _ in links}}
    for entity in described:
        # what is inferred about a linked entity comes from our own graph, never from the linked item
        assert not [o for o in inferred.objects(entity, None) if str(o).startswith(str(WD))], entity


def test_infer_leaves_its_inputs_untouched(project: ProjectData):
    before = len(project.asserted.graph), len(project.ontology.graph)
    result = infer(project.ontology.graph, project.asserted.graph)
    assert (len(project.asserted.graph), len(project.ontology.graph)) == before
    assert len(result.inferred) > 0


def test_the_state_acts_through_its_armed_forces_without_being_asserted_twice(dataset: Dataset):
    asserted, inferred, _ = _graphs(dataset)
    forces = MDR["russian-armed-forces"]
    by_forces = set(asserted.subjects(MD.hasAgent, forces))
    assert len(by_forces) > 10
    for activity in by_forces:
        assert (activity, MD.hasAgent, RUSSIA) not in asserted, f"{activity} names both agents"
        assert (activity, MD.hasAgent, RUSSIA) in inferred
        assert (RUSSIA, MD.agentIn, activity) in inferred


def test_every_sourced_node_is_a_claim_and_outcomes_are_derived_for_agents(dataset: Dataset):
    asserted, inferred, _ = _graphs(dataset)
    both = asserted + inferred
    for claim in set(asserted.subjects(MD.statedIn, None)):
        assert (claim, RDF.type, MD.Claim) in both, claim
    outcomes = list(asserted.subject_objects(MD.hasOutcome))
    assert len(outcomes) > 50
    for activity, outcome in outcomes:
        assert (outcome, RDF.type, MD.Outcome) in both
        for agent in both.objects(activity, MD.hasAgent):
            assert (agent, MD.obtainsOutcome, outcome) in inferred
    assert not set(asserted.objects(None, MD.servesAim)) & set(asserted.objects(None, MD.hasOutcome))


def test_historical_and_subject_states_are_members_too(dataset: Dataset):
    _, inferred, _ = _graphs(dataset)
    assert (MDR["russia"], MD.memberOf, MDR["csto"]) in inferred
    assert (MDR["russia"], MD.memberOf, MDR["sco"]) in inferred
    assert (MDR["soviet-union"], MD.memberOf, MDR["warsaw-pact"]) in inferred
