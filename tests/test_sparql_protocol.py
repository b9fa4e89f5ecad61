"""The SPARQL endpoint over real HTTP, with real clients: SPARQLWrapper, rdflib's SPARQLStore, httpx.

Answers are checked against the article (Russia's label, the CSTO, Russia inferred to be an
md:Actor) and against the build's manifest (triples per named graph).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import CSV, JSON, JSONLD, N3, RDFXML, TSV, TURTLE, XML, SPARQLWrapper

from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.config import Paths
from mildip_ld.vocab.namespaces import ASSERTED, GRAPH_BASE, INFERRED, MD, MDR, NAMED_GRAPHS
from tests.live_server import (  # noqa: F401
    LiveServer,
    Recorder,
    build_dir_of,
    live_server,
    recorder,
    serve,
    update_server,
)

pytestmark = pytest.mark.server

SD = "http://www.w3.org/ns/sparql-service-description#"
RUSSIA_LABEL = f"SELECT ?label WHERE {{ <{MDR.russia}> <{RDFS.label}> ?label }}"
RUSSIA_CONSTRUCT = f"CONSTRUCT WHERE {{ <{MDR.russia}> <{RDFS.label}> ?l }}"
SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
JSON_RESULTS = "application/sparql-results+json"


@pytest.fixture(scope="module")
def strict_server(
    built: BuildReport, recorder: Recorder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Tight limits (1 s, 50 results) and the recorder as the one allowed SERVICE endpoint."""
    yield from serve(
        build_dir_of(built),
        tmp_path_factory.mktemp("logs") / "strict.log",
        query_timeout_s="1",
        max_results="50",
        workers="2",
        service_allowlist=recorder.url,
    )


def labels(bindings: list[dict]) -> list[str]:
    return [row["label"]["value"] for row in bindings]


def get(
    server: LiveServer, query: str, accept: str = JSON_RESULTS, **params: str | list[str]
) -> httpx.Response:
    return httpx.get(server.sparql, params={"query": query, **params}, headers={"Accept": accept}, timeout=30)


# --- clients -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [JSON, XML, CSV, TSV])
def test_sparqlwrapper_select_in_every_results_format(live_server: LiveServer, fmt: str) -> None:
    client = SPARQLWrapper(live_server.sparql)
    client.setQuery(RUSSIA_LABEL)
    client.setReturnFormat(fmt)
    answer = client.query()
    converted = answer.convert()
    if fmt == JSON:
        assert labels(converted["results"]["bindings"]) == ["Russia"]
    elif fmt == XML:
        assert [node.firstChild.data for node in converted.getElementsByTagName("literal")] == ["Russia"]
    else:
        separator = "," if fmt == CSV else "\t"
        lines = converted.decode().splitlines()
        assert lines[0].lstrip("?") == "label" and lines[1].split(separator)[0].strip('"@en') == "Russia"


@pytest.mark.parametrize("fmt", [TURTLE, JSONLD, RDFXML, "ntriples"])
def test_sparqlwrapper_construct_in_every_rdf_format(live_server: LiveServer, fmt: str) -> None:
    client = SPARQLWrapper(live_server.sparql)
    client.setQuery(RUSSIA_CONSTRUCT)
    if fmt == "ntriples":  # SPARQLWrapper has no N-Triples format: ask by Accept only
        client.setReturnFormat(N3)
        client.setOnlyConneg(True)
        client.addCustomHttpHeader("Accept", "application/n-triples")
    else:
        client.setReturnFormat(fmt)
    answer = client.query()
    converted = answer.convert()
    if isinstance(converted, bytes):
        assert answer.response.headers["Content-Type"].startswith(
            "text/turtle" if fmt == TURTLE else "application/n-triples"
        )
        converted = Graph().parse(data=converted, format="turtle" if fmt == TURTLE else "nt")
    assert set(converted.objects(MDR.russia, RDFS.label)) == {Literal("Russia", lang="en")}


def test_rdflib_sparqlstore(live_server: LiveServer, built: BuildReport) -> None:
    union = Graph(SPARQLStore(live_server.sparql, returnFormat="json"))
    assert [str(row.label) for row in union.query(RUSSIA_LABEL)] == ["Russia"]
    assert (MDR.csto, RDFS.label, Literal("Collective Security Treaty Organization", lang="en")) in union
    # a named graph through SPARQLStore is asked with default-graph-uri
    asserted = Graph(SPARQLStore(live_server.sparql, returnFormat="json"), identifier=ASSERTED)
    assert len(asserted) == built.counts["asserted"]


def test_get_post_form_and_post_direct_agree(live_server: LiveServer) -> None:
    accept = {"Accept": JSON_RESULTS}
    answers = [
        httpx.get(live_server.sparql, params={"query": RUSSIA_LABEL}, headers=accept),
        httpx.post(live_server.sparql, data={"query": RUSSIA_LABEL}, headers=accept),
        httpx.post(
            live_server.sparql,
            content=RUSSIA_LABEL.encode(),
            headers=accept | {"Content-Type": "application/sparql-query"},
        ),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == JSON_RESULTS
        assert labels(answer.json()["results"]["bindings"]) == ["Russia"]


def test_named_query_csto_members_over_http(live_server: LiveServer, paths: Paths) -> None:
    """The article: the CSTO comprises Belarus, Armenia, Kazakhstan, Kyrgyzstan and Tajikistan (line
    19), and Russia is a member of it (line 63)."""
    text = (paths.queries / "csto-members.rq").read_text(encoding="utf-8")
    answer = httpx.post(
        live_server.sparql,
        content=text.encode(),
        headers={"Content-Type": "application/sparql-query", "Accept": JSON_RESULTS},
    )
    members = {row["memberLabel"]["value"] for row in answer.json()["results"]["bindings"]}
    assert members == {"Armenia", "Belarus", "Kazakhstan", "Kyrgyzstan", "Tajikistan", "Russia"}
    memberships = f"ASK {{ ?m a <{MD.Membership}> ; <{MD.organization}> <{MDR.csto}> }}"
    assert get(live_server, memberships, **{"default-graph-uri": str(ASSERTED)}).json()["boolean"] is True


# --- datasets ------------------------------------------------------------------------------------


def test_default_graph_is_the_union_and_graphs_match_the_manifest(
    live_server: LiveServer, built: BuildReport
) -> None:
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    total = get(live_server, count).json()["results"]["bindings"][0]["n"]["value"]
    assert int(total) == sum(built.counts.values())
    for name, expected in built.counts.items():
        answer = get(live_server, count, **{"default-graph-uri": GRAPH_BASE + name})
        assert int(answer.json()["results"]["bindings"][0]["n"]["value"]) == expected, name


def test_default_graph_uri_chooses_asserted_or_inferred(live_server: LiveServer) -> None:
    ask = f"ASK {{ <{MDR.russia}> a <{MD.Actor}> }}"
    assert get(live_server, ask, **{"default-graph-uri": str(INFERRED)}).json()["boolean"] is True
    assert get(live_server, ask, **{"default-graph-uri": str(ASSERTED)}).json()["boolean"] is False
    both = get(live_server, ask, **{"default-graph-uri": [str(ASSERTED), str(INFERRED)]})
    assert both.json()["boolean"] is True


def test_named_graph_uri_limits_graph_patterns(live_server: LiveServer) -> None:
    query = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
    graphs = get(live_server, query, **{"named-graph-uri": [str(ASSERTED), str(INFERRED)]}).json()
    assert {row["g"]["value"] for row in graphs["results"]["bindings"]} == {str(ASSERTED), str(INFERRED)}
    everything = get(live_server, query).json()["results"]["bindings"]
    assert len(everything) == len(NAMED_GRAPHS)


def test_from_clause_is_honoured_and_never_fetched(live_server: LiveServer, recorder: Recorder) -> None:
    answer = get(live_server, f"SELECT * FROM <{recorder.url}> WHERE {{ ?s ?p ?o }}")
    assert answer.status_code == 200 and answer.json()["results"]["bindings"] == []
    inferred_only = get(live_server, f"ASK FROM <{INFERRED}> {{ <{MDR.russia}> a <{MD.Actor}> }}")
    assert inferred_only.json()["boolean"] is True
    asserted_only = get(live_server, f"ASK FROM <{ASSERTED}> {{ <{MDR.russia}> a <{MD.Actor}> }}")
    assert asserted_only.json()["boolean"] is False
    assert recorder.hits == []


# --- query forms and formats ---------------------------------------------------------------------


def test_ask_and_describe(live_server: LiveServer) -> None:
    assert get(live_server, f"ASK {{ <{MDR.russia}> a <{MD.Actor}> }}").json()["boolean"] is True
    assert get(live_server, "ASK { <urn:x:nothing> ?p ?o }").json()["boolean"] is False
    described = get(live_server, f"DESCRIBE <{MDR.russia}>", accept="text/turtle")
    assert described.headers["content-type"].startswith("text/turtle")
    graph = Graph().parse(data=described.text, format="turtle")
    assert (MDR.russia, RDFS.label, Literal("Russia", lang="en")) in graph
    assert (MDR.russia, RDF.type, MD.Actor) in graph


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/csv;q=0.5, application/sparql-results+xml", "application/sparql-results+xml"),
        ("application/sparql-results+json;q=0.1, text/tab-separated-values", "text/tab-separated-values"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/sparql-results+xml"),
        ("*/*", JSON_RESULTS),
        ("application/json", JSON_RESULTS),
    ],
)
def test_accept_header_negotiation_for_solutions(live_server: LiveServer, accept: str, expected: str) -> None:
    answer = get(live_server, RUSSIA_LABEL, accept=accept)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(expected)
    assert "Russia" in answer.text


@pytest.mark.parametrize(
    ("accept", "rdflib_format"),
    [
        ("application/rdf+xml;q=0.5, application/ld+json", "json-ld"),
        ("application/trig", "trig"),
        ("application/n-quads", "nquads"),
        ("text/turtle;q=0.2, application/n-triples;q=0.9", "nt"),
    ],
)
def test_accept_header_negotiation_for_graphs(
    live_server: LiveServer, accept: str, rdflib_format: str
) -> None:
    answer = get(live_server, RUSSIA_CONSTRUCT, accept=accept)
    assert answer.status_code == 200, answer.text
    graph = Graph().parse(data=answer.text, format=rdflib_format)
    assert set(graph.objects(MDR.russia, RDFS.label)) == {Literal("Russia", lang="en")}


def test_format_parameter_wins_over_accept(live_server: LiveServer) -> None:
    assert (
        get(live_server, RUSSIA_LABEL, accept="text/turtle", format="csv")
        .headers["content-type"]
        .startswith("text/csv")
    )
    jsonld = get(live_server, RUSSIA_CONSTRUCT, format="jsonld")
    assert jsonld.headers["content-type"] == "application/ld+json"
    assert get(live_server, RUSSIA_LABEL, format="turtle").status_code == 406
    unknown = get(live_server, RUSSIA_LABEL, format="bogus")
    assert unknown.status_code == 400 and "unknown format" in unknown.text


# --- refusals ------------------------------------------------------------------------------------


def test_bad_requests_have_status_and_readable_message(live_server: LiveServer) -> None:
    malformed = get(live_server, "SELECT ?s WHERE { ?s ?p }")
    assert malformed.status_code == 400
    assert malformed.headers["content-type"].startswith("text/plain")
    assert "malformed query" in malformed.text and "1:" in malformed.text  # line:column of the error
    assert get(live_server, RUSSIA_LABEL, accept="image/png").status_code == 406
    wrong_type = httpx.post(live_server.sparql, content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415 and "application/sparql-query" in wrong_type.text
    assert httpx.put(live_server.sparql, content=b"x").status_code == 405
    assert httpx.get(live_server.sparql, params={"update": "CLEAR ALL"}).status_code == 405
    too_long = httpx.post(
        live_server.sparql,
        content=("ASK {}" + " " * 200_000).encode(),
        headers={"Content-Type": "application/sparql-query"},
    )
    assert too_long.status_code == 413 and "limit" in too_long.text


def test_updates_are_refused_without_token(live_server: LiveServer, update_server: LiveServer) -> None:
    insert = f'INSERT DATA {{ <{MDR.russia}> <{RDFS.label}> "hacked" }}'
    direct = httpx.post(
        live_server.sparql, content=insert.encode(), headers={"Content-Type": "application/sparql-update"}
    )
    assert direct.status_code == 403 and "read-only" in direct.text
    assert httpx.post(live_server.sparql, data={"update": insert}).status_code == 403
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic test-token"}):
        refused = httpx.post(update_server.sparql, data={"update": insert}, headers=headers)
        assert refused.status_code == 403 and "test-token" not in refused.text
    assert get(update_server, RUSSIA_LABEL).json()["results"]["bindings"][0]["label"]["value"] == "Russia"


def test_update_with_token_is_applied(update_server: LiveServer) -> None:
    auth = {"Authorization": "Bearer test-token"}
    insert = f'INSERT DATA {{ GRAPH <{ASSERTED}> {{ <urn:x:new> <{RDFS.label}> "new" }} }}'
    applied = httpx.post(update_server.sparql, data={"update": insert}, headers=auth, timeout=60)  # a release
    assert applied.status_code == 204
    assert get(update_server, 'ASK { <urn:x:new> ?p "new" }').json()["boolean"] is True
    load = httpx.post(
        update_server.sparql, data={"update": "LOAD <http://127.0.0.1:9/x.ttl>"}, headers=auth, timeout=60
    )
    assert load.status_code == 400 and "LOAD" in load.text


def test_service_is_refused_unless_allowlisted(
    live_server: LiveServer, strict_server: LiveServer, recorder: Recorder
) -> None:
    query = f"SELECT * WHERE {{ SERVICE <{recorder.url}> {{ ?s ?p ?o }} }}"
    refused = get(live_server, query)
    assert refused.status_code == 400 and "SERVICE" in refused.text and "not allowed" in refused.text
    namespace = recorder.url.removesuffix("sparql")
    hidden = get(live_server, f"PREFIX r: <{namespace}> SELECT * {{ SERVICE SILENT r:sparql {{ ?s ?p ?o }}}}")
    assert hidden.status_code == 400
    assert get(live_server, "SELECT * { SERVICE ?endpoint { ?s ?p ?o } }").status_code == 400
    assert recorder.hits == []
    allowed = get(strict_server, query)
    assert allowed.status_code == 200, allowed.text
    assert len(recorder.hits) == 1
    recorder.hits.clear()


# --- limits --------------------------------------------------------------------------------------


def _workers(server: LiveServer) -> set[int]:
    return {child.pid for child in psutil.Process(server.pid).children() if child.is_running()}


@pytest.mark.timing
def test_a_query_past_the_time_limit_is_really_stopped(strict_server: LiveServer) -> None:
    before = _workers(strict_server)
    assert len(before) == 2
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(get, strict_server, SLOW)
        time.sleep(0.3)
        started = time.perf_counter()
        health = httpx.get(f"{strict_server.url}/health", timeout=5)
        assert health.status_code == 200 and time.perf_counter() - started < 0.5
        assert get(strict_server, RUSSIA_LABEL).status_code == 200  # the other worker still serves
        answer = slow.result(timeout=30)
    assert answer.status_code == 503
    assert "exceeded the 1 s time limit" in answer.text
    gone = before - _workers(strict_server)
    assert len(gone) == 1 and not psutil.pid_exists(gone.pop())
    deadline = time.monotonic() + 20
    while len(_workers(strict_server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_workers(strict_server)) == 2
    metrics = httpx.get(f"{strict_server.url}/metrics").text
    assert "mildip_query_timeouts_total 1.0" in metrics


def test_a_client_that_goes_away_stops_its_query(live_server: LiveServer) -> None:
    """Well before the 10 s limit, the worker of an abandoned query is killed and replaced."""
    before = _workers(live_server)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(live_server.sparql, params={"query": SLOW}, timeout=0.5)
    deadline = time.monotonic() + 5
    while not before - _workers(live_server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(before - _workers(live_server)) == 1
    metrics = httpx.get(f"{live_server.url}/metrics").text
    assert 'mildip_query_errors_total{reason="client_disconnected"}' in metrics


def test_result_size_limit(strict_server: LiveServer) -> None:
    too_many = get(strict_server, "SELECT * WHERE { ?s ?p ?o }")
    assert too_many.status_code == 422 and "more than 50" in too_many.text
    fifty = get(strict_server, "SELECT * WHERE { ?s ?p ?o } LIMIT 50")
    assert len(fifty.json()["results"]["bindings"]) == 50
    graph = get(strict_server, "CONSTRUCT WHERE { ?s ?p ?o }", accept="text/turtle")
    assert graph.status_code == 422 and "triples" in graph.text


# --- description, health, metrics, CORS ----------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "rdflib_format"), [("text/turtle", "turtle"), ("application/ld+json", "json-ld")]
)
def test_service_description(
    live_server: LiveServer, built: BuildReport, accept: str, rdflib_format: str
) -> None:
    answer = httpx.get(live_server.sparql, headers={"Accept": accept})
    assert answer.status_code == 200
    graph = Graph().parse(data=answer.text, format=rdflib_format)
    service = graph.value(predicate=RDF.type, object=URIRef(SD + "Service"))
    assert graph.value(service, URIRef(SD + "endpoint")) == URIRef(live_server.sparql)
    formats = set(graph.objects(service, URIRef(SD + "resultFormat")))
    assert URIRef("http://www.w3.org/ns/formats/SPARQL_Results_JSON") in formats
    assert URIRef("http://www.w3.org/ns/formats/Turtle") in formats
    assert URIRef(SD + "UnionDefaultGraph") in set(graph.objects(service, URIRef(SD + "feature")))
    dataset = graph.value(service, URIRef(SD + "defaultDataset"))
    triples = URIRef("http://rdfs.org/ns/void#triples")
    counts = {
        str(graph.value(named, URIRef(SD + "name"))).removeprefix(GRAPH_BASE): graph.value(
            graph.value(named, URIRef(SD + "graph")), triples
        ).toPython()
        for named in graph.objects(dataset, URIRef(SD + "namedGraph"))
    }
    assert counts == built.counts
    assert counts["derivations"] > counts["inferred"]  # the derivations record is listed, with its size


def test_health_and_metrics(live_server: LiveServer, built: BuildReport) -> None:
    deadline = time.monotonic() + 30  # a worker killed by an earlier test may still be starting
    while httpx.get(f"{live_server.url}/health").json()["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.1)
    health = httpx.get(f"{live_server.url}/health").json()
    assert health["status"] == "ok" and health["release"] == built.release.name
    assert health["triples"] == sum(built.counts.values()) and health["graphs"] == built.counts
    get(live_server, RUSSIA_LABEL)
    metrics = httpx.get(f"{live_server.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'mildip_http_requests_total{method="GET",route="/sparql",status="200"}' in metrics.text
    assert "mildip_http_request_duration_seconds_bucket" in metrics.text


def test_cors(live_server: LiveServer) -> None:
    origin = {"Origin": "https://example.org"}
    answer = httpx.get(live_server.sparql, params={"query": RUSSIA_LABEL}, headers=origin)
    assert answer.headers["access-control-allow-origin"] == "*"
    preflight = httpx.options(
        live_server.sparql,
        headers=origin
        | {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )
    assert preflight.status_code == 200 and "POST" in preflight.headers["access-control-allow-methods"]


# --- small conformance points (issue 15, item 5) ---------------------------------------------------


def test_answers_vary_on_accept(live_server: LiveServer) -> None:
    for answer in (
        get(live_server, RUSSIA_LABEL),
        get(live_server, RUSSIA_LABEL, accept="image/png"),
        httpx.get(live_server.sparql, headers={"Accept": "text/turtle"}),
        httpx.post(
            live_server.sparql, content=b"ASK {}", headers={"Content-Type": "application/sparql-query"}
        ),
    ):
        assert "accept" in answer.headers.get("vary", "").lower(), answer.status_code


@pytest.mark.parametrize(
    "content_type",
    [
        "application/sparql-query; charset=UTF-16",
        "application/x-www-form-urlencoded; charset=utf-16le",
        "application/sparql-update; charset=ISO-8859-1",
    ],
)
def test_a_body_declared_in_another_charset_is_unsupported_media(
    live_server: LiveServer, content_type: str
) -> None:
    body = "query=ASK {}" if "form" in content_type else "ASK {}"
    encoded = body.encode("utf-16" if "16" in content_type else "latin-1")
    answer = httpx.post(live_server.sparql, content=encoded, headers={"Content-Type": content_type})
    assert answer.status_code == 415 and "UTF-8" in answer.text
    utf8 = httpx.post(
        live_server.sparql,
        content=b"ASK {}",
        headers={"Content-Type": "application/sparql-query; charset=UTF-8"},
    )
    assert utf8.status_code == 200


def test_service_description_uses_w3c_format_iris_and_one_sparql_service(live_server: LiveServer) -> None:
    graph = Graph().parse(
        data=httpx.get(live_server.sparql, headers={"Accept": "text/turtle"}).text, format="turtle"
    )
    services = set(graph.subjects(RDF.type, URIRef(SD + "Service")))
    assert services == {URIRef(live_server.sparql + "#service")}
    formats = {str(fmt) for fmt in graph.objects(None, URIRef(SD + "resultFormat"))}
    assert "http://www.w3.org/ns/formats/JSON-LD" in formats
    assert all(fmt.startswith("http://www.w3.org/ns/formats/") for fmt in formats), formats
    store = URIRef(f"{live_server.url}/store#service")
    assert (store, RDF.type, URIRef("http://www.w3.org/ns/dcat#DataService")) in graph
