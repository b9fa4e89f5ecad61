"""The ontology: every term labelled and defined, metadata present, only OWL 2 RL constructs."""

from __future__ import annotations

from rdflib import Graph, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS

from mildip_ld.loader import ProjectData
from mildip_ld.namespaces import MD, ONTOLOGY_IRI

# OWL vocabulary the ontology may use: declarations and axioms that OWL 2 RL supports in the
# positions we use them (no existentials, unions or cardinalities in superclass position).
OWL_2_RL_USED = {OWL.Ontology, OWL.versionIRI, OWL.versionInfo, OWL.priorVersion, OWL.Class,
                 OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty, OWL.inverseOf,
                 OWL.propertyChainAxiom, OWL.FunctionalProperty, OWL.TransitiveProperty,
                 OWL.SymmetricProperty}


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
        graph.subjects(RDF.type, OWL.DatatypeProperty))
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
    assert {MD.JointExercise, MD.ArmsTransfer, MD.MilitaryEducationExchange, MD.BilateralDefenceAgreement,
            MD.SecurityDialogue, MD.ForumParticipation, MD.IntelligenceSharing} <= instruments
    for instrument in instruments:
        assert graph.value(instrument, RDFS.subClassOf) is not None
