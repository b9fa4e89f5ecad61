"""The ontology: every term labelled and defined, metadata present, only OWL 2 RL constructs."""

from __future__ import annotations

from rdflib import Graph, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS

from mildip_ld.pipeline.loader import ProjectData
from mildip_ld.vocab.namespaces import MD, ONTOLOGY_IRI

# OWL vocabulary the ontology may use: declarations and axioms that OWL 2 RL supports in the
# positions we use them (no existentials, unions or cardinalities in superclass position).
OWL_2_RL_USED = {
    OWL.Ontology,
    OWL.versionIRI,
    OWL.versionInfo,
    OWL.priorVersion,
    OWL.Class,
    OWL.ObjectProperty,
    OWL.DatatypeProperty,
    OWL.AnnotationProperty,
    OWL.inverseOf,
    OWL.propertyChainAxiom,
    OWL.FunctionalProperty,
    OWL.TransitiveProperty,
    OWL.SymmetricProperty,
}


def terms(graph: Graph) -> set[URIRef]:
    return {s for s in graph.subjects() if isinstance(s, URIRef) and str(s).startswith(str(MD))}


def test_every_term_has_a_label_and_a_definition(project: ProjectData):
    graph = project.ontology.graph
    declared = terms(graph)
    assert len(declared) > 100
    for term in declared:
        assert graph.value(term, RDFS.label) is not None, term
        assert graph.value(term, SKOS.definition) is not None, term


def test_ontology_metadata(project: ProjectData):
    graph = project.ontology.graph
    ontology = URIRef(ONTOLOGY_IRI)
    for predicate in (OWL.versionIRI, DCTERMS.license, DCTERMS.creator, DCTERMS.description, DCTERMS.title):
        assert graph.value(ontology, predicate) is not None, predicate


def test_only_owl_2_rl_constructs(project: ProjectData):
    graph = project.ontology.graph
    used = {p for p in graph.predicates() if str(p).startswith(str(OWL))}
    used |= {o for o in graph.objects(None, RDF.type) if str(o).startswith(str(OWL))}
    assert used <= OWL_2_RL_USED, used - OWL_2_RL_USED


def test_no_iri_is_both_a_class_and_a_property(project: ProjectData):
    graph = project.ontology.graph
    classes = set(graph.subjects(RDF.type, OWL.Class))
    properties = set(graph.subjects(RDF.type, OWL.ObjectProperty)) | set(
        graph.subjects(RDF.type, OWL.DatatypeProperty)
    )
    assert classes and properties and not classes & properties


def test_object_properties_have_domain_range_and_inverse(project: ProjectData):
    graph = project.ontology.graph
    inverses = {s for s, o in graph.subject_objects(OWL.inverseOf)} | set(graph.objects(None, OWL.inverseOf))
    for prop in graph.subjects(RDF.type, OWL.ObjectProperty):
        if prop in (MD.wikidataStatus, MD.mentionedIn, MD.mentions):
            continue  # mention and status links: ranges only (any entity may use them)
        assert graph.value(prop, RDFS.domain) is not None, prop
        assert graph.value(prop, RDFS.range) is not None, prop
        if prop == MD.modality:
            continue  # functional, towards four controlled values: no inverse wanted
        symmetric = (prop, RDF.type, OWL.SymmetricProperty) in graph
        assert symmetric or prop in inverses, f"{prop} has no inverse"


def test_every_instrument_sits_under_a_broader_kind(project: ProjectData):
    graph = project.ontology.graph
    instruments = set(graph.transitive_subjects(RDFS.subClassOf, MD.MilitaryDiplomacyActivity))
    instruments.discard(MD.MilitaryDiplomacyActivity)
    assert len(instruments) > 25
    assert {
        MD.JointExercise,
        MD.ArmsTransfer,
        MD.MilitaryEducationExchange,
        MD.BilateralDefenceAgreement,
        MD.SecurityDialogue,
        MD.ForumParticipation,
        MD.IntelligenceSharing,
    } <= instruments
    for instrument in instruments:
        assert graph.value(instrument, RDFS.subClassOf) is not None


def test_no_two_terms_align_to_the_same_cco_term(project: ProjectData):
    graph = project.ontology.graph
    aligned: dict[URIRef, URIRef] = {}
    for term, target in graph.subject_objects(SKOS.closeMatch):
        if str(target).startswith("https://www.commoncoreontologies.org/"):
            assert target not in aligned, f"{term} and {aligned[target]} both match {target}"
            aligned[target] = term
    assert len(aligned) > 15


def test_the_instruments_of_the_literature_are_defined_with_their_source(project: ProjectData):
    graph = project.ontology.graph
    literature = {
        MD.DefenceAttachePosting,
        MD.ShipVisit,
        MD.PeacekeepingOperation,
        MD.ArmsControlAgreement,
        MD.ConfidenceBuildingMeasure,
        MD.StaffTalks,
        MD.PersonnelPlacement,
        MD.NonProliferationCooperation,
    }
    instruments = set(graph.transitive_subjects(RDFS.subClassOf, MD.MilitaryDiplomacyActivity))
    assert literature <= instruments
    for instrument in literature:
        assert graph.value(instrument, SKOS.definition) is not None, instrument
        assert graph.value(instrument, DCTERMS.source) is not None, instrument


def test_claims_share_one_class_that_the_provenance_links_apply_to(project: ProjectData):
    graph = project.ontology.graph
    for prop in (MD.statedIn, MD.modality, MD.frequency):
        assert graph.value(prop, RDFS.domain) == MD.Claim, prop
    for kind in (MD.MilitaryDiplomacyActivity, MD.Membership, MD.Challenge, MD.NamedEvent):
        assert (kind, RDFS.subClassOf, MD.Claim) in graph, kind
    assert graph.value(MD.hasOutcome, RDFS.range) == MD.Outcome
    assert graph.value(MD.servesAim, RDFS.range) == MD.Aim


def test_renamed_properties_are_gone_and_the_version_is_bumped(project: ProjectData):
    graph = project.ontology.graph
    for old in (MD.member, MD.states):
        assert not list(graph.triples((old, None, None))), old
    assert graph.value(MD.heldBy, OWL.inverseOf) == MD.hasMembership
    assert graph.value(MD.statedIn, OWL.inverseOf) == MD.statesClaim
    ontology = URIRef(ONTOLOGY_IRI)
    assert str(graph.value(ontology, OWL.versionInfo)) == "0.2.0"
    assert "md:member -> md:heldBy" in str(graph.value(ontology, SKOS.changeNote))


def test_concept_schemes_have_defined_top_concepts_that_data_points_to(project: ProjectData):
    graph, data = project.ontology.graph, project.asserted.graph
    tops = {}
    for scheme in (MD.aimScheme, MD.outcomeScheme, MD.factorScheme):
        tops[scheme] = set(graph.objects(scheme, SKOS.hasTopConcept))
        assert len(tops[scheme]) >= 5
        for concept in tops[scheme]:
            assert (concept, SKOS.topConceptOf, scheme) in graph
            assert graph.value(concept, SKOS.definition) is not None
    kinds = ((MD.Aim, MD.aimScheme), (MD.Outcome, MD.outcomeScheme), (MD.GeopoliticalFactor, MD.factorScheme))
    for kind, scheme in kinds:
        members = set(data.subjects(RDF.type, kind))
        assert members, kind
        for concept in members:
            assert (concept, SKOS.inScheme, scheme) in data, concept
            assert set(data.objects(concept, SKOS.broader)) & tops[scheme], concept
