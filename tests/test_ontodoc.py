"""The ontology's documentation: class hierarchy, domain/range usage, namespaces and version
history, as read from the release's ontology graph and shown on /ontology."""

from __future__ import annotations

import requests
from rdflib.namespace import OWL, RDF, RDFS

from mildip_ld.release.build import BuildReport
from mildip_ld.release.store import open_store
from mildip_ld.site.ontodoc import document, ontology_graph
from mildip_ld.vocab.namespaces import MD, ONTOLOGY_IRI
from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)


def doc(built: BuildReport):
    graph = ontology_graph(open_store(built.release))
    return graph, document(graph)


def test_the_hierarchy_has_every_class_under_its_parents(built: BuildReport):
    graph, o = doc(built)
    classes = {str(c) for c in graph.subjects(RDF.type, OWL.Class) if str(c).startswith(str(MD))}
    listed = [ref.iri for _, ref, _ in o.hierarchy]
    assert {ref.iri for _, ref, _ in o.hierarchy if not ref.external} == classes
    subclass_of = {(str(s), str(p)) for s, p in graph.subject_objects(RDFS.subClassOf)}
    stack: list[str] = []
    for depth, ref, _ in o.hierarchy:  # a class at depth d sits right under the last class at d - 1
        del stack[depth:]
        if depth:
            assert (ref.iri, stack[-1]) in subclass_of, (ref.iri, stack[-1])
        stack.append(ref.iri)
    position = {iri: index for index, iri in enumerate(listed)}
    assert position[str(MD.Actor)] < position[str(MD.State)]
    depth_of = {ref.iri: depth for depth, ref, _ in o.hierarchy}
    assert depth_of[str(MD.State)] > depth_of[str(MD.Actor)]


def test_classes_say_where_they_are_domain_and_range(built: BuildReport):
    _, o = doc(built)
    claim = next(entry for entry in o.classes if entry.iri == str(MD.Claim))
    assert "md:statedIn" in [ref.text for ref in claim.links["domain of"]]
    state = next(entry for entry in o.classes if entry.iri == str(MD.Actor))
    assert state.links["range of"]


def test_namespaces_and_version_history(built: BuildReport):
    _, o = doc(built)
    prefixes = dict(o.namespaces)
    assert prefixes["md"] == str(MD) and "skos" in prefixes and "owl" in prefixes
    current = o.history[0]
    version, prior, note = current.iri, current.prior, current.note
    assert version == f"{ONTOLOGY_IRI}/0.2.0" and prior == f"{ONTOLOGY_IRI}/0.1.0"
    assert note and "0.2.0" in note
    assert [v.iri for v in o.history][1] == prior


def test_the_page_shows_them(live_server: LiveServer):
    page = requests.get(f"{live_server.url}/ontology.html", timeout=60)
    for section in ("hierarchy", "namespaces", "history", "classes", "properties"):
        assert f'<section id="{section}">' in page.text
    assert "<dt>domain of</dt>" in page.text and "<dt>range of</dt>" in page.text
    assert 'href="/ontology/0.2.0"' in page.text
    assert len(page.content) < 150 * 1024
