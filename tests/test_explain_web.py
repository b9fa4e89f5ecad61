"""``/explain`` on a real server: every inferred triple of the article graph is explained over HTTP
down to asserted triples, and each rule, re-applied with :func:`mildip_ld.pipeline.derive.conclude` to the
premises the answer names, yields the statement it explains; asserted triples are reported as
asserted with their passage; the HTML view, the resource pages' "why?" links, statement IRIs and
the 400 / 404 answers.

All ~3,400 inferred triples are fetched (Turtle, one request each, from a few client threads:
about 2 ms a request, some 10 s in all): checking every triple through the route itself leaves no
gap between what is tested and what is served, and is fast enough to keep.
"""

from __future__ import annotations

import html
import itertools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyoxigraph as ox
import pytest
import requests
from rdflib import BNode, Dataset, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import PROV, RDF, RDFS

from mildip_ld.pipeline.derive import RULES_SPEC, Record, Triple, conclude, statement_iri
from mildip_ld.release import explanations as explanations_module
from mildip_ld.release.build import BuildReport
from mildip_ld.release.explanations import (
    Explanations,
    explain_path_of,
    explanations_for,
    parse_triple,
    release_derivations,
)
from mildip_ld.site.explainpage import MAX_SENTENCES
from mildip_ld.vocab.formats import FORMATS
from mildip_ld.vocab.namespaces import ASSERTED, INFERRED, MD, MDR, OA, PROVENANCE, RESOURCE_BASE
from mildip_ld.vocab.terms import to_rdflib
from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)
from tests.test_derive import given  # noqa: F401 (fixture: the asserted, provenance and ontology graphs)

pytestmark = pytest.mark.server

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
TURTLE = {"Accept": "text/turtle"}
ACT = MDR["activity/russia-vietnam-military-cooperation"]
ENGAGES = (MDR["russia"], MD.engagesWith, MDR["vietnam"])
"""Russia engages with Vietnam: prp-spo2 over an inferred premise (prp-inv1) and an asserted one."""
PARTNER = (ACT, MD.hasPartner, MDR["vietnam"])
"""Asserted, stated in line 32 of the article."""
CLIENTS = 4


def get(
    server: LiveServer,
    path: str,
    headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
    **params: str,
) -> requests.Response:
    return (session or requests).get(
        server.url + path, params=params or None, headers=headers or {}, allow_redirects=False, timeout=60
    )


def explain(
    server: LiveServer,
    triple: Triple,
    headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
) -> requests.Response:
    return get(server, explain_path_of(triple), headers, session)


def turtle_graph(body: bytes) -> Graph:
    """A Turtle answer as an rdflib graph (parsed by Oxigraph: rdflib's parser is ten times slower)."""
    graph = Graph()
    for quad in ox.parse(body, format=ox.RdfFormat.TURTLE):
        graph.add((to_rdflib(quad.subject), to_rdflib(quad.predicate), to_rdflib(quad.object)))
    return graph


def statement_of(graph: Graph, node: URIRef) -> Triple:
    return graph.value(node, RDF.subject), graph.value(node, RDF.predicate), graph.value(node, RDF.object)


def rederives(graph: Graph, node: URIRef) -> bool:
    """Whether every rule application that generated ``node`` yields its statement when re-applied to
    the axioms and premises the graph names (in some order: RDF keeps none, prp-spo2 and scm-* need one)."""
    applications = list(graph.objects(node, PROV.wasGeneratedBy))
    return bool(applications) and all(application_rederives(graph, node, a) for a in applications)


def application_rederives(graph: Graph, node: URIRef, application: URIRef) -> bool:
    rule = str(graph.value(application, MD.rule))
    axioms = [statement_of(graph, n) for n in graph.objects(application, MD.usedAxiom)]
    premises = [statement_of(graph, n) for n in graph.objects(application, MD.usedPremise)]
    expected = statement_of(graph, node)
    for ordered_axioms in itertools.permutations(axioms):
        for ordered_premises in itertools.permutations(premises):
            try:
                if conclude(graph, rule, ordered_axioms, ordered_premises) == expected:
                    return True
            except (ValueError, IndexError):
                continue
    return False


def check_explanation(graph: Graph, triple: Triple, given: Graph, asserted: Graph) -> None:
    """The answer explains ``triple``, and every statement in it is re-derived or asserted with sources."""
    root = statement_iri(triple)
    assert statement_of(graph, root) == triple
    assert (root, MD.asserted, Literal(False)) in graph
    assert (graph.value(graph.value(root, PROV.wasGeneratedBy), RDFS.seeAlso) or "").startswith(RULES_SPEC)
    for node in graph.subjects(RDF.type, RDF.Statement):
        current = statement_of(graph, node)
        if (node, PROV.wasGeneratedBy, None) in graph:
            assert (node, MD.asserted, Literal(False)) in graph
            assert rederives(graph, node), (triple, current)
            continue
        assert (node, MD.asserted, Literal(True)) in graph, (triple, current)
        if not any(isinstance(term, BNode) for term in current):  # chain lists: bnode labels differ
            assert current in given, (triple, current)
        if (node, RDFS.isDefinedBy, None) in graph:
            continue  # an ontology axiom
        passages = list(graph.objects(node, PROV.wasDerivedFrom))  # provenance: the passage or document
        assert passages, (triple, current)
        if current in asserted:  # a claim: the sentences that state it, quoted
            quotes = [
                graph.value(selector, OA.exact)
                for passage in passages
                for selector in graph.objects(passage, OA.hasSelector)
            ]
            assert any(quotes), (triple, current)


# --- every inferred triple -----------------------------------------------------------------------------


def test_every_inferred_triple_is_explained_down_to_asserted_triples(
    live_server: LiveServer, dataset: Dataset, given: Graph
):
    inferred = sorted(dataset.graph(INFERRED))
    assert len(inferred) > 3000
    local = threading.local()

    def fetch(triple: Triple) -> tuple[Triple, int, bytes, float]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        started = time.perf_counter()
        answer = explain(live_server, triple, TURTLE, local.session)
        return triple, answer.status_code, answer.content, time.perf_counter() - started

    explain(live_server, inferred[0], TURTLE)  # the first request computes the release's derivations
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(fetch, inferred))
    failed = [(triple, status) for triple, status, _, _ in answers if status != 200]
    assert not failed, failed[:5]
    for triple, _, body, _ in answers:
        check_explanation(turtle_graph(body), triple, given, dataset.graph(ASSERTED))
    latencies = sorted(seconds for *_, seconds in answers)
    median, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
    print(
        f"\n/explain over {len(answers)} inferred triples, {CLIENTS} clients: "
        f"median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
    )


def test_derivations_are_computed_once_per_release_under_concurrent_first_requests(
    built: BuildReport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    calls = []
    compute = Explanations.of_release

    def counted(release: Path) -> Explanations:
        calls.append(release)
        time.sleep(0.2)  # widen the window in which a second computation could start
        return compute(release)

    monkeypatch.setattr(Explanations, "of_release", staticmethod(counted))
    release = tmp_path / "release"
    release.symlink_to(built.release, target_is_directory=True)  # a release path no test has used yet
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: explanations_for(release), range(8)))
    assert len(calls) == 1 and all(result is results[0] for result in results)
    explanations_module._compute.cache_clear()


# --- formats, asserted triples, HTML -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS, ids=[fmt.name for fmt in FORMATS])
def test_the_explanation_is_served_in_every_rdf_format(live_server: LiveServer, fmt):
    turtle = turtle_graph(explain(live_server, ENGAGES, TURTLE).content)
    answer = explain(live_server, ENGAGES, {"Accept": fmt.media_type})
    assert answer.status_code == 200 and answer.headers["content-type"].split(";")[0] == fmt.media_type
    assert "accept" in answer.headers["vary"].lower()
    parsed = Dataset() if fmt.datasets else Graph()
    parsed.parse(data=answer.content, format=fmt.rdflib)
    graph = Graph()
    for s, p, o, *_ in parsed.quads() if fmt.datasets else parsed:
        graph.add((s, p, o))
    assert isomorphic(graph, turtle)
    by_parameter = get(live_server, explain_path_of(ENGAGES) + f"&format={fmt.extension}")
    assert by_parameter.headers["content-type"].split(";")[0] == fmt.media_type


def test_an_asserted_triple_is_reported_as_asserted_with_its_passage(
    live_server: LiveServer, dataset: Dataset
):
    answer = explain(live_server, PARTNER, TURTLE)
    assert answer.status_code == 200
    graph = turtle_graph(answer.content)
    node = statement_iri(PARTNER)
    assert (node, MD.asserted, Literal(True)) in graph
    assert (node, PROV.wasGeneratedBy, None) not in graph
    passage = graph.value(node, PROV.wasDerivedFrom)
    assert (ACT, MD.statedIn, passage) in dataset.graph(ASSERTED)
    quote = dataset.graph(PROVENANCE).value(URIRef(f"{passage}#quote"), OA.exact)
    assert graph.value(URIRef(f"{passage}#quote"), OA.exact) == quote
    assert graph.value(passage, MD.lineNumber) is not None
    page = explain(live_server, PARTNER, BROWSER)
    assert page.status_code == 200 and "asserted, not inferred" in page.text
    assert html.escape(str(quote), quote=False) in page.text and "inferred by OWL 2 RL rule" not in page.text


def test_the_html_view_shows_the_rule_the_axiom_and_the_premises_down_to_the_source(
    live_server: LiveServer, dataset: Dataset
):
    page = explain(live_server, ENGAGES, BROWSER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"]
    text = page.text
    assert f'href="{RULES_SPEC}prp-spo2"' in text and f'href="{RULES_SPEC}prp-inv1"' in text
    assert "owl:propertyChainAxiom" in text and ">agent in</a>" in text and ">has partner</a>" in text
    assert re.search(r'class="role">premise</span>', text) and "depth 2" in text
    passage = dataset.graph(ASSERTED).value(ACT, MD.statedIn)
    quote = dataset.graph(PROVENANCE).value(URIRef(f"{passage}#quote"), OA.exact)
    assert html.escape(str(quote), quote=False) in text and "line 32" in text
    alone = [html.unescape(href) for href in re.findall(r'class="why" href="([^"]+)"', text)]
    assert alone  # the inferred premise (Russia agent in the activity) links to its own explanation
    for href in alone:
        premise = get(live_server, href, BROWSER)
        assert premise.status_code == 200 and "inferred by OWL 2 RL rule" in premise.text


def test_every_inferred_triple_on_a_resource_page_links_to_its_explanation(
    live_server: LiveServer, dataset: Dataset
):
    page = get(live_server, "/doc/russia.html", BROWSER)
    # the inferred graph's section, its groups by property included (a value per <li>)
    section = page.text.split('id="graph-inferred"', 1)[1].split('<section class="graph', 1)[0]
    rows = section.count("<li>")
    links = [html.unescape(href) for href in re.findall(r'class="why" href="([^"]+)"', section)]
    assert rows > 30 and len(links) == rows
    assert "page by page" in section  # the rest of each long group, on its own pages
    inferred = dataset.graph(INFERRED)
    for href in links:  # each names an inferred triple; the test above fetches every one of those
        query = parse_qs(urlsplit(href).query)
        assert parse_triple(query["s"][0], query["p"][0], query["o"][0]) in inferred, href
    for href in links[:: max(1, len(links) // 20)]:
        answer = get(live_server, href, BROWSER)
        assert answer.status_code == 200 and "inferred by OWL 2 RL rule" in answer.text, href
    assert 'class="why"' not in page.text.split('id="graph-asserted"', 1)[1].split("</section>", 1)[0]


# --- parameters, statement IRIs, errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "s, p, o",
    [
        (str(ENGAGES[0]), str(ENGAGES[1]), str(ENGAGES[2])),
        (f"<{ENGAGES[0]}>", f"<{ENGAGES[1]}>", f"<{ENGAGES[2]}>"),
        ("mdr:russia", "md:engagesWith", "mdr:vietnam"),
    ],
)
def test_iris_plain_bracketed_or_as_curies(live_server: LiveServer, s: str, p: str, o: str):
    answer = get(live_server, "/explain", TURTLE, s=s, p=p, o=o)
    assert answer.status_code == 200 and (statement_iri(ENGAGES), RDF.subject, ENGAGES[0]) in turtle_graph(
        answer.content
    )


def test_literal_objects_in_n_triples_syntax(live_server: LiveServer, dataset: Dataset):
    russia = (MDR["russia"], RDFS.label, Literal("Russia", lang="en"))
    label = get(live_server, "/explain", TURTLE, s=str(russia[0]), p=str(RDFS.label), o='"Russia"@en')
    assert label.status_code == 200
    assert (statement_iri(russia), RDF.object, russia[2]) in turtle_graph(label.content)  # that literal
    passage = dataset.graph(ASSERTED).value(ACT, MD.statedIn)
    line = dataset.graph(PROVENANCE).value(passage, MD.lineNumber)
    for written in (line.n3(), str(line), f'"{line}"^^<http://www.w3.org/2001/XMLSchema#integer>'):
        answer = get(live_server, "/explain", TURTLE, s=str(passage), p=str(MD.lineNumber), o=written)
        assert answer.status_code == 200, written  # the store types it xsd:integer: both are found
        explained = turtle_graph(answer.content)
        statements = set(explained.subjects(RDF.predicate, MD.lineNumber))
        assert len(statements) == 1, written
        assert statement_of(explained, statements.pop()) == (passage, MD.lineNumber, line), written


def test_statement_iris_dereference_to_their_explanation(live_server: LiveServer):
    path = "/id/" + str(statement_iri(ENGAGES))[len(RESOURCE_BASE) :]
    assert path.startswith("/id/statement/")
    rdf = get(live_server, path, TURTLE)
    assert rdf.status_code == 303 and "accept" in rdf.headers["vary"].lower()
    assert rdf.headers["location"].endswith("&format=ttl")
    graph = turtle_graph(get(live_server, rdf.headers["location"], TURTLE).content)
    assert statement_of(graph, statement_iri(ENGAGES)) == ENGAGES
    page = get(live_server, path, BROWSER)
    assert page.status_code == 303 and page.headers["location"] == explain_path_of(ENGAGES)
    derivation = get(live_server, path + "/derivation", TURTLE)
    assert derivation.status_code == 303 and derivation.headers["location"] == rdf.headers["location"]
    for application in graph.objects(statement_iri(ENGAGES), PROV.wasGeneratedBy):  # each recorded one
        assert str(application).startswith(str(statement_iri(ENGAGES)) + "/derivation/")
        answer = get(live_server, "/id/" + str(application)[len(RESOURCE_BASE) :], TURTLE)
        assert answer.status_code == 303 and answer.headers["location"] == rdf.headers["location"]
    assert get(live_server, path + "/derivation/000000000000", TURTLE).status_code == 404
    asserted = "/id/" + str(statement_iri(PARTNER))[len(RESOURCE_BASE) :]
    assert get(live_server, asserted, TURTLE).status_code == 303
    assert get(live_server, asserted + "/derivation", TURTLE).status_code == 404  # nothing derived it
    assert get(live_server, "/id/statement/000000000000000000000000", TURTLE).status_code == 404


def test_a_triple_not_in_the_graph_is_404_with_a_clear_message(live_server: LiveServer):
    missing = (MDR["russia"], MD.engagesWith, MDR["atlantis"])
    answer = explain(live_server, missing, TURTLE)
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/plain")
    assert "neither asserted nor inferred" in answer.text and "atlantis" in answer.text
    page = explain(live_server, missing, BROWSER)
    assert page.status_code == 404 and "Not in the graph" in page.text


@pytest.mark.parametrize(
    "params, message",
    [
        ({"s": "mdr:russia", "p": "md:engagesWith"}, "parameter o is missing"),
        ({"s": "", "p": "md:engagesWith", "o": "mdr:vietnam"}, "parameter s is missing"),
        ({"s": '"Russia"', "p": "md:engagesWith", "o": "mdr:vietnam"}, "must be an IRI"),
        ({"s": "mdr:russia", "p": '"engages"', "o": "mdr:vietnam"}, "must be an IRI"),
        ({"s": "_:b0", "p": "md:engagesWith", "o": "mdr:vietnam"}, "blank node"),
        (
            {"s": "https://w3id.org/mildip/id/rus sia", "p": "md:engagesWith", "o": "mdr:vietnam"},
            "not an IRI",
        ),
        ({"s": "<russia>", "p": "md:engagesWith", "o": "mdr:vietnam"}, "not an IRI"),
        ({"s": "mdr:russia", "p": "md:engagesWith", "o": "mdr:vietnam , mdr:china"}, "one RDF term"),
        ({"s": "mdr:russia", "p": "md:engagesWith", "o": '"unterminated'}, "not an IRI"),
        ({"s": "x" * 5000, "p": "md:engagesWith", "o": "mdr:vietnam"}, "longer than"),
        ({"s": "mdr:russia", "p": "md:engagesWith", "o": "mdr:vietnam", "format": "png"}, "unknown format"),
    ],
)
def test_malformed_parameters_are_400(live_server: LiveServer, params: dict[str, str], message: str):
    answer = get(live_server, "/explain", TURTLE, **params)
    assert answer.status_code == 400 and message in answer.text, answer.text
    assert get(live_server, "/explain", BROWSER, **params).status_code == 400


# --- modality and support, read from the derivations record --------------------------------------------

HEDGED = (MDR["russia"], MD.usesTechnology, MDR["technology/advanced-weaponry"])
"""Rests only on a "may" (line 57 of the article)."""


@pytest.fixture(scope="module")
def record(built: BuildReport) -> Record:
    return release_derivations(built.release)[2]


def test_a_hedged_fact_is_shown_hedged_with_the_one_sentence_it_rests_on(
    live_server: LiveServer, dataset: Dataset
):
    asserted = dataset.graph(ASSERTED)
    (activity,) = {
        a
        for a in asserted.subjects(MD.involvesTechnology, HEDGED[2])
        if (a, MD.hasAgent, HEDGED[0]) in asserted
    }
    assert asserted.value(activity, MD.modality) == MD.possible
    passage = asserted.value(activity, MD.statedIn)
    graph = turtle_graph(explain(live_server, HEDGED, TURTLE).content)
    root = statement_iri(HEDGED)
    assert graph.value(root, MD.modality) == MD.possible
    assert set(graph.objects(root, PROV.wasDerivedFrom)) == {passage}
    assert {graph.value(a, MD.modality) for a in graph.objects(root, PROV.wasGeneratedBy)} == {MD.possible}
    page = explain(live_server, HEDGED, BROWSER).text
    assert re.search(r'class="badge hedged"[^>]*>possible</span>', page)
    assert "supported by 1 sentence," in page and "every derivation rests on a claim" in page
    quote = dataset.graph(PROVENANCE).value(URIRef(f"{passage}#quote"), OA.exact)
    assert html.escape(str(quote), quote=False) in page


def test_a_fact_supported_by_several_sentences_lists_every_one(
    live_server: LiveServer, dataset: Dataset, record: Record
):
    asserted = dataset.graph(ASSERTED)
    by_aim: dict[URIRef, set] = {}
    for activity in asserted.subjects(MD.hasAgent, MDR["russia"]):  # Russia pursues what its activities serve
        for aim in asserted.objects(activity, MD.servesAim):
            by_aim.setdefault(aim, set()).update(asserted.objects(activity, MD.statedIn))
    aim, expected = max(by_aim.items(), key=lambda item: len(item[1]))
    assert len(expected) >= 3
    triple = (MDR["russia"], MD.pursuesAim, aim)
    graph = turtle_graph(explain(live_server, triple, TURTLE).content)
    root = statement_iri(triple)
    found = set(graph.objects(root, PROV.wasDerivedFrom))
    assert expected <= found and found == set(record.passages[triple])
    assert len(set(graph.objects(root, PROV.wasGeneratedBy))) == len(record.support.derivations[triple]) > 1
    page = explain(live_server, triple, BROWSER).text
    assert (
        f"supported by {len(found)} sentences, through {len(record.support.derivations[triple])} "
        "derivations" in page
    )
    assert "Other derivations" in page
    provenance = dataset.graph(PROVENANCE)
    lines = sorted(int(provenance.value(passage, MD.lineNumber)) for passage in found)
    shown = re.findall(r"· line (\d+)", page.split("Supporting sentences", 1)[1])
    assert [int(line) for line in shown] == lines[:MAX_SENTENCES]  # in source order, the first ones quoted
    if len(found) > MAX_SENTENCES:
        assert f"and {len(found) - MAX_SENTENCES} more (in the RDF of this page)" in page
    for passage in found:  # the RDF answer quotes every one
        quote = URIRef(f"{passage}#quote")
        assert graph.value(quote, OA.exact) == provenance.value(quote, OA.exact) is not None


def test_a_resource_page_marks_each_hedged_inferred_triple_and_counts_its_sentences(
    live_server: LiveServer, record: Record
):
    page = get(live_server, "/doc/russia.html", BROWSER).text
    section = page.split('id="graph-inferred"', 1)[1].split('<section class="graph ', 1)[0]
    hedged = 0
    for row in section.split("<li>")[1:]:
        match = re.search(r'class="why" href="([^"]+)"', row)
        if match is None:
            continue
        query = parse_qs(urlsplit(html.unescape(match.group(1))).query)
        triple = parse_triple(query["s"][0], query["p"][0], query["o"][0])
        modality = record.support.modality(triple)
        badge = re.search(r'class="badge hedged"[^>]*>([^<]+)</span>', row)
        assert (badge is not None) == (modality != MD.stated), triple
        hedged += badge is not None
        count = len(record.passages[triple])
        said = (
            f"supported by {count} sentence{'' if count == 1 else 's'}<"
            if count
            else "rests on no source sentence"
        )
        assert said in row, triple
    assert hedged >= 3  # the examples: a technology, an aim, challenges
    assert 'href="/id/statement/' not in page  # the record's statement nodes are not listed as triples
