"""Linked-data pages on a real server: every minted IRI dereferences (303 to an HTML or RDF document),
resource pages show labels, Wikidata links, asserted vs inferred triples and source quotes; the
ontology documents itself; the VoID description matches the data; the query page has its assets."""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urljoin

import pyoxigraph as ox
import pytest
import requests
from rdflib import Dataset, Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD

from mildip_ld.release.build import BuildReport, load_release
from mildip_ld.release.dumps import ensure_dumps
from mildip_ld.release.store import open_store
from mildip_ld.release.void import DATASET, LINKSET, WIKIDATA
from mildip_ld.site.describe import Describer
from mildip_ld.site.querypage import GRAPH_DOWNLOADS, RESULT_DOWNLOADS
from mildip_ld.vocab.config import DEFAULT_PATHS
from mildip_ld.vocab.namespaces import (
    DERIVATIONS,
    INFERRED,
    MD,
    NAMED_GRAPHS,
    ONTOLOGY,
    ONTOLOGY_IRI,
    RESOURCE_BASE,
    WD,
)
from mildip_ld.vocab.queries import named_queries
from mildip_ld.vocab.settings import PUBLIC_URL
from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.server

VOID = Namespace("http://rdfs.org/ns/void#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
RUSSIA = URIRef(RESOURCE_BASE + "russia")
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # a browser's
RDF_TYPES = {
    "text/turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/n-triples": "nt",
    "application/rdf+xml": "xml",
}


def get(server: LiveServer, path: str, **headers: str) -> requests.Response:
    return requests.get(server.url + path, headers=headers, allow_redirects=False, timeout=60)


def follow(server: LiveServer, path: str, accept: str) -> requests.Response:
    """GET with Accept, expect a 303, and GET its Location with the same Accept."""
    first = get(server, path, Accept=accept)
    assert first.status_code == 303, (path, first.status_code, first.text[:200])
    assert "accept" in first.headers["vary"].lower()
    return requests.get(
        urljoin(server.url + path, first.headers["location"]), headers={"Accept": accept}, timeout=60
    )


def minted_iris(dataset: Dataset) -> set[str]:
    """Every IRI under the resource base in any graph, fragment removed (the document to fetch)."""
    found = set()
    for quad in dataset.quads():
        for term in quad[:3]:
            if isinstance(term, URIRef) and str(term).startswith(RESOURCE_BASE):
                found.add(str(term).split("#")[0])
    return found


# --- resources: 303 to documents --------------------------------------------------------------------


def test_browser_gets_303_to_the_html_document(live_server: LiveServer):
    first = get(live_server, "/id/russia", **HTML)
    assert first.status_code == 303 and first.headers["location"] == "/doc/russia.html"
    page = follow(live_server, "/id/russia", HTML["Accept"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "media_type, extension",
    [
        ("text/turtle", "ttl"),
        ("application/ld+json", "jsonld"),
        ("application/n-triples", "nt"),
        ("application/rdf+xml", "rdf"),
    ],
)
def test_rdf_clients_get_303_to_rdf_that_describes_the_resource(
    live_server: LiveServer, media_type: str, extension: str
):
    assert get(live_server, "/id/russia", Accept=media_type).headers["location"] == f"/doc/russia.{extension}"
    answer = follow(live_server, "/id/russia", media_type)
    assert answer.headers["content-type"].split(";")[0] == media_type
    graph = Graph().parse(data=answer.content, format=RDF_TYPES[media_type])
    assert (RUSSIA, RDFS.label, Literal("Russia", lang="en")) in graph
    assert (RUSSIA, SKOS.exactMatch, WD.Q159) in graph
    assert (RUSSIA, RDF.type, MD.State) in graph
    assert any(graph.triples((None, None, RUSSIA)))  # triples pointing to it too


def test_quad_formats_keep_asserted_and_inferred_apart(live_server: LiveServer):
    answer = get(live_server, "/doc/russia.trig")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/trig")
    parsed = Dataset()
    parsed.parse(data=answer.content, format="trig")
    asserted, inferred = parsed.graph(NAMED_GRAPHS["asserted"]), parsed.graph(NAMED_GRAPHS["inferred"])
    assert (RUSSIA, RDF.type, MD.State) in asserted
    assert (RUSSIA, RDF.type, MD.Actor) in inferred and (RUSSIA, RDF.type, MD.Actor) not in asserted


def test_document_without_extension_negotiates_with_content_location(live_server: LiveServer):
    answer = get(live_server, "/doc/russia", Accept="application/ld+json")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/ld+json")
    assert answer.headers["content-location"] == "/doc/russia.jsonld"
    assert "accept" in answer.headers["vary"].lower()
    assert "/doc/russia.ttl" in answer.headers["link"]


def test_unknown_resources_are_404(live_server: LiveServer):
    page = get(live_server, "/id/atlantis", **HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text and "atlantis" in page.text
    plain = get(live_server, "/id/atlantis", Accept="text/turtle")
    assert plain.status_code == 404
    assert get(live_server, "/doc/atlantis.ttl").status_code == 404
    assert get(live_server, "/id/", **HTML).status_code == 404


def test_every_minted_iri_dereferences(live_server: LiveServer, dataset: Dataset):
    iris = sorted(minted_iris(dataset))
    assert len(iris) > 100
    session = requests.Session()
    for iri in iris:
        path = "/id/" + quote(iri[len(RESOURCE_BASE) :])
        answer = session.get(
            live_server.url + path, headers={"Accept": "text/turtle"}, allow_redirects=True, timeout=60
        )
        assert answer.status_code == 200, iri
        assert answer.headers["content-type"].startswith("text/turtle"), iri
        assert URIRef(iri) in set(Graph().parse(data=answer.content, format="turtle").all_nodes()), iri


def test_every_minted_iri_has_an_html_page(live_server: LiveServer, dataset: Dataset):
    session = requests.Session()
    for iri in sorted(minted_iris(dataset)):
        answer = session.get(f"{live_server.url}/doc/{quote(iri[len(RESOURCE_BASE) :])}.html", timeout=60)
        assert answer.status_code == 200, iri
        assert f"<code>{iri}</code>" in answer.text, iri


# --- the HTML page of a resource --------------------------------------------------------------------


@pytest.fixture(scope="module")
def russia_page(live_server: LiveServer) -> requests.Response:
    return follow(live_server, "/id/russia", HTML["Accept"])


def test_page_shows_label_types_and_wikidata(russia_page: requests.Response):
    text = russia_page.text
    assert "<h1>Russia</h1>" in text
    assert 'href="https://www.wikidata.org/wiki/Q159"' in text
    assert 'href="/ontology#State"' in text


def test_page_tells_asserted_from_inferred(russia_page: requests.Response):
    text = russia_page.text
    asserted = text.index('id="graph-asserted"')
    inferred = text.index('id="graph-inferred"')
    assert asserted < inferred
    # md:Actor is only inferred (from md:State rdfs:subClassOf md:Actor), md:State only asserted
    assert "/ontology#Actor" in text[inferred:] and "/ontology#Actor" not in text[asserted:inferred]


def test_page_quotes_the_source_sentence_with_line_and_offsets(russia_page: requests.Response):
    text = russia_page.text
    assert "Military diplomacy in Russia has evolved as a significant tool within its foreign policy" in text
    assert '<li id="src-l1-s1">' in text
    assert "characters 0–172" in text and "line 1" in text
    assert 'href="#src-l1-s1"' in text  # asserted rows cite it


def test_html_pages_carry_security_headers(russia_page: requests.Response):
    headers = russia_page.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["referrer-policy"]


def test_passage_page_shows_its_quote_and_selectors(live_server: LiveServer):
    page = follow(live_server, "/id/passage/military-diplomacy-in-russia/l32-s2", HTML["Accept"])
    assert page.status_code == 200
    assert 'joint military drills like "Peace Mission" with China' in html.unescape(page.text)
    assert "characters 7348–7456" in page.text
    assert "Parts (selectors and nested nodes)" in page.text


# --- the ontology -----------------------------------------------------------------------------------


def test_ontology_html_documents_classes_and_properties(live_server: LiveServer):
    page = get(live_server, "/ontology", **HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert 'id="State"' in text and "A sovereign political entity" in text
    member_of = text[text.index('id="memberOf"') :]
    member_of = member_of[: member_of.index("</article>")]
    for expected in (
        "md:Actor",
        "md:InternationalOrganization",
        "md:hasMember",
        "md:hasMembership",
        "md:organization",
    ):
        assert expected in member_of
    assert page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "path, accept",
    [
        ("/ontology", "text/turtle"),
        ("/ontology.ttl", "*/*"),
        ("/ontology", "application/ld+json"),
        ("/ontology.rdf", "*/*"),
        ("/ontology/0.2.0", "text/turtle"),
    ],
)
def test_ontology_rdf_is_the_ontology_graph(
    live_server: LiveServer, dataset: Dataset, path: str, accept: str
):
    answer = get(live_server, path, Accept=accept)
    assert answer.status_code == 200
    media_type = answer.headers["content-type"].split(";")[0]
    graph = Graph().parse(data=answer.content, format=RDF_TYPES[media_type])
    assert (URIRef(ONTOLOGY_IRI), RDF.type, OWL.Ontology) in graph
    assert len(graph) == len(dataset.graph(ONTOLOGY))


def test_unknown_ontology_version_is_404(live_server: LiveServer):
    assert get(live_server, "/ontology/9.9.9", Accept="text/turtle").status_code == 404


def test_named_graph_iris_redirect_to_their_dumps(live_server: LiveServer):
    answer = get(live_server, "/graph/asserted", Accept="text/turtle")
    assert answer.status_code == 303 and answer.headers["location"] == "/dumps/asserted.ttl"
    assert get(live_server, "/graph/asserted", **HTML).headers["location"] == "/dumps/#asserted"
    assert get(live_server, "/graph/elsewhere", Accept="text/turtle").status_code == 404


# --- VoID -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def void_graph(live_server: LiveServer, built: BuildReport) -> Graph:
    ensure_dumps(built.release)  # as `mildip dump` does: generating them outlasts a page's render limit
    answer = get(live_server, "/.well-known/void")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/turtle")
    return Graph().parse(data=answer.content, format="turtle")


def test_void_counts_every_triple_of_the_dataset(void_graph: Graph, built: BuildReport):
    dataset = load_release(built.release, record=True)  # the derivations record too
    assert len(dataset.graph(DERIVATIONS)) > len(dataset.graph(INFERRED))
    total = sum(len(dataset.graph(iri)) for iri in NAMED_GRAPHS.values())
    assert total == sum(built.counts.values())
    assert void_graph.value(DATASET, VOID.triples) == Literal(total, datatype=XSD.integer)
    for name, iri in NAMED_GRAPHS.items():
        subset = URIRef(f"https://w3id.org/mildip/void#graph-{name}")
        assert (DATASET, VOID.subset, subset) in void_graph
        assert void_graph.value(subset, VOID.triples).toPython() == len(dataset.graph(iri)), name


def test_void_partitions_count_classes_and_properties(void_graph: Graph, dataset: Dataset):
    partitions = {
        void_graph.value(p, VOID["class"]): void_graph.value(p, VOID.entities).toPython()
        for p in void_graph.objects(DATASET, VOID.classPartition)
    }
    states = {quad[0] for quad in dataset.quads((None, RDF.type, MD.State))}
    assert partitions[MD.State] == len(states) > 10
    properties = {
        void_graph.value(p, VOID.property): void_graph.value(p, VOID.triples).toPython()
        for p in void_graph.objects(DATASET, VOID.propertyPartition)
    }
    assert properties[RDFS.label] == sum(1 for _ in dataset.quads((None, RDFS.label, None, None)))
    assert sum(properties.values()) == void_graph.value(DATASET, VOID.triples).toPython()


def test_void_has_a_wikidata_linkset(void_graph: Graph, dataset: Dataset):
    assert (LINKSET, RDF.type, VOID.Linkset) in void_graph
    assert (LINKSET, VOID.linkPredicate, SKOS.exactMatch) in void_graph
    assert (LINKSET, VOID.objectsTarget, WIKIDATA) in void_graph
    links = {
        (s, o)
        for s, _, o, _ in dataset.quads((None, SKOS.exactMatch, None, None))
        if str(o).startswith(str(WD))
    }
    assert void_graph.value(LINKSET, VOID.triples).toPython() == len(links) > 20


def test_void_describes_endpoint_and_every_dump(
    void_graph: Graph, live_server: LiveServer, built: BuildReport
):
    """The access URLs are built on the public_url setting (by default the w3id IRIs), not on the
    request's Host."""
    assert (DATASET, VOID.sparqlEndpoint, URIRef(f"{PUBLIC_URL}sparql")) in void_graph
    assert void_graph.value(DATASET, URIRef("http://purl.org/dc/terms/license")) is not None
    files = [f for f in ensure_dumps(built.release) if f.graph != "void"]
    downloads = {
        void_graph.value(d, DCAT.downloadURL): d for d in void_graph.subjects(RDF.type, DCAT.Distribution)
    }
    assert len(downloads) == len(files)
    for entry in files:
        distribution = downloads[URIRef(f"{PUBLIC_URL}dumps/{entry.file}")]
        assert void_graph.value(distribution, DCAT.byteSize).toPython() == entry.size
        checksum = void_graph.value(distribution, SPDX.checksum)
        assert str(void_graph.value(checksum, SPDX.checksumValue)) == entry.sha256
        assert str(void_graph.value(distribution, DCAT.mediaType)).endswith(entry.media_type)
    dumps = set(void_graph.objects(DATASET, VOID.dataDump))
    assert URIRef(f"{PUBLIC_URL}dumps/dataset.nq.gz") in dumps


@pytest.mark.parametrize(
    "accept, parser",
    [("application/ld+json", "json-ld"), ("application/n-triples", "nt"), ("application/rdf+xml", "xml")],
)
def test_void_by_content_negotiation(live_server: LiveServer, void_graph: Graph, accept: str, parser: str):
    answer = get(live_server, "/.well-known/void", Accept=accept)
    assert answer.headers["content-type"].split(";")[0] == accept
    assert len(Graph().parse(data=answer.content, format=parser)) == len(void_graph)


def test_void_is_included_in_the_dumps(live_server: LiveServer, void_graph: Graph):
    answer = get(live_server, "/dumps/void.ttl")
    assert answer.status_code == 200
    dumped = Graph().parse(data=answer.content, format="turtle")
    assert dumped.value(DATASET, VOID.triples) == void_graph.value(DATASET, VOID.triples)
    assert (DATASET, VOID.sparqlEndpoint, URIRef("https://w3id.org/mildip/sparql")) in dumped


# --- the query page and the example queries ---------------------------------------------------------


def test_query_page_loads_its_own_assets(live_server: LiveServer):
    page = get(live_server, "/", **HTML)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert "/static/yasgui/yasgui.min.js" in assets and "/static/yasgui/yasgui.min.css" in assets
    for asset in assets:
        answer = get(live_server, asset)
        assert answer.status_code == 200, asset
    assert "http" not in "".join(re.findall(r'<script[^>]*src="([^"]+)"', page.text))  # nothing remote
    script = get(live_server, "/static/yasgui/yasgui.min.js")
    assert script.headers["content-type"].startswith("text/javascript")


def test_static_paths_cannot_leave_the_folder(live_server: LiveServer):
    for path in ("/static/..%2Fweb.py", "/static/%2e%2e/%2e%2e/pyproject.toml", "/static/nothing.js"):
        assert get(live_server, path).status_code == 404, path


def test_example_queries_are_listed_and_served(live_server: LiveServer):
    expected = named_queries(DEFAULT_PATHS.queries)
    listed = get(live_server, "/queries/", Accept="application/json").json()
    assert [entry["name"] for entry in listed] == [query.name for query in expected]
    for query, entry in zip(expected, listed, strict=True):
        assert entry["question"] == query.question
        answer = get(live_server, f"/queries/{query.name}.rq")
        assert answer.status_code == 200 and answer.text == query.text
        assert answer.headers["content-type"].startswith("application/sparql-query")
    page = html.unescape(get(live_server, "/", **HTML).text)
    for query in expected:
        assert query.question in page
    assert get(live_server, "/queries/nothing.rq").status_code == 404


DOWNLOAD_TYPES = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "turtle": "text/turtle",
    "ntriples": "application/n-triples",
    "jsonld": "application/ld+json",
    "rdfxml": "application/rdf+xml",
}
"""What each ``format`` of the query page's download links must answer (SPARQL 1.1 and RDF media types)."""


def test_download_links_name_formats_the_endpoint_serves(live_server: LiveServer):
    select = "SELECT ?s WHERE { ?s a <https://w3id.org/mildip/ontology#State> } LIMIT 2"
    construct = "CONSTRUCT { ?s a ?c } WHERE { ?s a ?c } LIMIT 2"
    for _, name in RESULT_DOWNLOADS:
        answer = requests.get(live_server.sparql, params={"query": select, "format": name}, timeout=60)
        assert answer.status_code == 200, (name, answer.text[:200])
        assert answer.headers["content-type"].split(";")[0] == DOWNLOAD_TYPES[name]
        if name == "csv":  # lossy, so no parser reads it back: a header and one line per solution
            assert len(answer.text.strip().splitlines()) == 3, answer.text
        else:
            results = ox.QueryResultsFormat.from_media_type(DOWNLOAD_TYPES[name])
            assert len(list(ox.parse_query_results(answer.content, format=results))) == 2, name
    for _, name in GRAPH_DOWNLOADS:
        answer = requests.get(live_server.sparql, params={"query": construct, "format": name}, timeout=60)
        assert answer.status_code == 200, (name, answer.text[:200])
        assert answer.headers["content-type"].split(";")[0] == DOWNLOAD_TYPES[name]
        parsed = ox.parse(answer.content, format=ox.RdfFormat.from_media_type(DOWNLOAD_TYPES[name]))
        assert len(list(parsed)) == 2, name


@pytest.mark.parametrize(
    "accept, location",
    [
        ("text/turtle;q=0.5, application/rdf+xml", "/doc/russia.rdf"),
        ("application/n-triples, text/html;q=0.1", "/doc/russia.nt"),
        ("application/trig", "/doc/russia.trig"),
        ("*/*", "/doc/russia.html"),
        ("image/png", "/doc/russia.html"),  # nothing acceptable: the HTML page rather than a 406
    ],
)
def test_negotiation_follows_q_values(live_server: LiveServer, accept: str, location: str):
    assert get(live_server, "/id/russia", Accept=accept).headers["location"] == location


def test_curated_wikidata_links_are_not_attributed_to_a_sentence(built: BuildReport):
    describer = Describer(open_store(built.release))
    asserted = ox.NamedNode(str(NAMED_GRAPHS["asserted"]))
    quads = describer.store.quads_for_pattern(ox.NamedNode(f"{RESOURCE_BASE}russia"), None, None, asserted)
    rows = {quad.predicate.value: describer.statement(quad) for quad in quads}
    assert rows[str(SKOS.exactMatch)].sources == ()
    assert rows[str(MD.wikidataId)].sources == ()
    assert any(source.endswith("/l1-s1") for source in rows[str(RDFS.label)].sources)
