"""The ontology's documentation at pyLODE's level: a class hierarchy with external superclasses,
"domain of" / "range of" also through an ``owl:unionOf``, a namespaces table, a diagram laid out
by Graphviz and the version history read from the ontology's triples (on /ontology and /ontology.svg)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS

from mildip_ld.release.build import BuildReport
from mildip_ld.release.store import open_store
from mildip_ld.site.ontodiagram import diagram_svg
from mildip_ld.site.ontodoc import document, ontology_graph
from mildip_ld.site.web import page
from mildip_ld.vocab.namespaces import MD, ONTOLOGY_IRI
from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)

SVG = "{http://www.w3.org/2000/svg}"
CHANGELOG = Path(__file__).resolve().parents[1] / "docs" / "ontology-changelog.md"


@pytest.fixture(scope="module")
def graph(built: BuildReport) -> Graph:
    return ontology_graph(open_store(built.release))


def own_classes(graph: Graph) -> set[URIRef]:
    return {c for c in graph.subjects(RDF.type, OWL.Class) if str(c).startswith(str(MD))}


def union_graph() -> Graph:
    """md:A and md:B; md:p has the domain (md:A or md:B) and the range md:B; md:q the range (md:A or md:B)."""
    graph = Graph()
    for cls in (MD.A, MD.B):
        graph.add((cls, RDF.type, OWL.Class))
        graph.add((cls, RDFS.label, Literal(f"class {cls[-1]}")))
    for prop in (MD.p, MD.q):
        graph.add((prop, RDF.type, OWL.ObjectProperty))
    union, members = BNode(), BNode()
    Collection(graph, members, [MD.A, MD.B])
    graph.add((union, OWL.unionOf, members))
    graph.add((MD.p, RDFS.domain, union))
    graph.add((MD.p, RDFS.range, MD.B))
    graph.add((MD.q, RDFS.domain, MD.A))
    graph.add((MD.q, RDFS.range, union))
    return graph


def test_the_hierarchy_shows_every_class_under_each_of_its_parents(graph: Graph):
    o = document(graph)
    classes = own_classes(graph)
    placed: set[tuple[str, str | None]] = set()  # (class, the class it is listed right under)
    stack: list[str] = []
    for depth, ref, _ in o.hierarchy:
        del stack[depth:]
        placed.add((ref.iri, stack[-1] if stack else None))
        stack.append(ref.iri)
    for cls in classes:
        parents = {str(p) for p in graph.objects(cls, RDFS.subClassOf) if isinstance(p, URIRef)}
        if parents:
            for parent in parents:
                assert (str(cls), parent) in placed, (cls, parent)
        else:
            assert (str(cls), None) in placed, cls
    external = {str(p) for c in classes for p in graph.objects(c, RDFS.subClassOf)} - {
        str(c) for c in classes
    }
    assert external, "the ontology specialises classes of other vocabularies"
    parents = {p for c in classes for p in graph.objects(c, RDFS.subClassOf) if isinstance(p, URIRef)}
    for parent in parents:  # a superclass shows its subclasses once, and is marked where it does not
        assert [repeated for _, ref, repeated in o.hierarchy if ref.iri == str(parent)].count(False) == 1
    roots = {ref.iri: ref for depth, ref, _ in o.hierarchy if depth == 0}
    assert external <= set(roots) and all(roots[iri].external for iri in external)
    assert {iri for _, iri in placed} - {None} <= {str(c) for c in classes} | external


def test_domain_and_range_usage_through_a_union():
    o = document(union_graph())
    by_iri = {entry.iri: entry for entry in o.classes + o.properties}
    for cls in (MD.A, MD.B):
        assert [r.iri for r in by_iri[str(cls)].links["domain of"]] == [str(MD.p)] + (
            [str(MD.q)] if cls == MD.A else []
        )
        assert str(MD.q) in [r.iri for r in by_iri[str(cls)].links["range of"]]
    assert [r.iri for r in by_iri[str(MD.B)].links["range of"]] == [str(MD.p), str(MD.q)]
    (domain,) = by_iri[str(MD.p)].links["domain"]
    assert domain.operator == "or" and [m.iri for m in domain.members] == [str(MD.A), str(MD.B)]
    html = page("ontology.html", {"o": o, "formats": []}, "").body.decode()
    p = html[html.index('id="p"') :]
    p = p[: p.index("</article>")]
    assert re.search(r'\(<a href="/ontology#A">md:A</a> or <a href="/ontology#B">md:B</a>\)', p), p


def test_the_namespaces_table_lists_every_namespace_the_terms_use(graph: Graph):
    o = document(graph)
    listed = dict((namespace, prefix) for prefix, namespace in o.namespaces)
    axioms = (RDFS.subClassOf, RDFS.subPropertyOf, RDFS.domain, RDFS.range, OWL.inverseOf)
    terms = set(graph.predicates()) | set(graph.objects(None, RDF.type))
    terms |= {o for p in axioms for o in graph.objects(None, p) if isinstance(o, URIRef)}
    terms |= {o for o in graph.objects() if isinstance(o, URIRef) and str(o).startswith(str(MD))}
    terms |= {o.datatype for o in graph.objects() if isinstance(o, Literal) and o.datatype}
    terms |= {o for _, o in graph.subject_objects(URIRef("http://www.w3.org/2004/02/skos/core#closeMatch"))}
    for term in terms:
        assert any(str(term).startswith(namespace) for namespace in listed), term
    assert all(prefix for prefix in listed.values()), o.namespaces  # every one has its prefix
    for namespace in listed:  # and none is listed that no term uses
        assert any(str(term).startswith(namespace) for term in terms), namespace
    assert listed[str(MD)] == "md"


def test_the_diagram_is_an_svg_with_every_class(graph: Graph):
    root = ET.fromstring(diagram_svg(graph, "/mount"))
    assert root.tag == f"{SVG}svg"
    texts = {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}
    labels = {str(graph.value(cls, RDFS.label)) for cls in own_classes(graph)}
    assert labels <= texts, labels - texts
    external = {p for c in own_classes(graph) for p in graph.objects(c, RDFS.subClassOf)} - own_classes(graph)
    for superclass in external:  # drawn as prefix:local
        local = re.split(r"[#/]", str(superclass))[-1]
        assert any(text.endswith(f":{local}") for text in texts), superclass
    links = {a.get("{http://www.w3.org/1999/xlink}href") for a in root.iter(f"{SVG}a")}
    assert {f"/mount/ontology#{str(c).rsplit('#', 1)[-1]}" for c in own_classes(graph)} <= links


def test_the_diagram_draws_a_union_domain_member_by_member():
    root = ET.fromstring(diagram_svg(union_graph(), ""))
    labels = [
        "".join(t.itertext())
        for edge in root.iter(f"{SVG}g")
        if edge.get("class") == "edge"
        for t in edge.iter(f"{SVG}text")
    ]
    assert labels.count("md:p") == 2 and labels.count("md:q") == 2  # A→B, B→B; A→A, A→B


def test_the_version_history_comes_from_the_triples_and_matches_the_changelog(graph: Graph):
    history = document(graph).history
    ontology = URIRef(ONTOLOGY_IRI)
    assert history[0].iri == str(graph.value(ontology, OWL.versionIRI))
    assert history[0].version == str(graph.value(ontology, OWL.versionInfo)) == "0.2.0"
    assert history[0].prior == str(graph.value(ontology, OWL.priorVersion))
    assert [v.iri for v in history[1:]] == [history[0].prior]
    assert history[1].version == "0.1.0" and history[1].prior is None and history[1].note
    for version in history:
        assert version.issued == str(graph.value(URIRef(version.iri), DCTERMS.issued))
    headings = re.findall(r"^## (\S+) \((\d{4}-\d{2}-\d{2})\)$", CHANGELOG.read_text(), re.MULTILINE)
    assert [(v.version, v.issued) for v in history] == headings


@pytest.mark.server
def test_the_page_and_the_diagram_are_served(live_server: LiveServer):
    text = requests.get(f"{live_server.url}/ontology", headers={"Accept": "text/html"}, timeout=60).text
    assert len(text.encode()) < 150 * 1024
    assert '<section id="diagram">' in text and '<img src="/ontology.svg"' in text
    history = text[text.index('<section id="history">') :]
    assert "<strong>0.2.0</strong>" in history and "<strong>0.1.0</strong>" in history
    assert 'href="/ontology/0.1.0"' in history
    hierarchy = text[text.index('<section id="hierarchy">') : text.index('<section id="diagram">')]
    assert 'class="external"' in hierarchy and "prov:Agent" in hierarchy
    svg = requests.get(f"{live_server.url}/ontology.svg", timeout=60)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["content-security-policy"] and svg.headers["x-content-type-options"] == "nosniff"
    assert ET.fromstring(svg.content).tag == f"{SVG}svg"
    again = requests.get(
        f"{live_server.url}/ontology.svg", headers={"If-None-Match": svg.headers["etag"]}, timeout=60
    )
    assert again.status_code == 304
