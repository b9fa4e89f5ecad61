"""`mildip serve --store sparql:URL`: the same API answered by a remote store (a real Oxigraph
server on loopback, filled by `mildip publish`), compared with the embedded store's answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rdflib import Graph

from benchmarks.bench import load_queries
from benchmarks.launch import LOOPBACK, ServerFailedError, free_port
from mildip_ld.engine.remote import RemoteAnswerTooLargeError, SparqlStore
from mildip_ld.release.build import BuildReport
from mildip_ld.release.publish import publish
from mildip_ld.vocab.config import Paths
from mildip_ld.vocab.namespaces import GRAPH_BASE, INFERRED, MDR
from tests.live_server import LiveServer, build_dir_of, live_server, serve  # noqa: F401
from tests.oxigraph_server import OxigraphServer, oxigraph_server

pytestmark = pytest.mark.server

JSON_RESULTS = "application/sparql-results+json"
SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


@pytest.fixture(scope="module")
def remote(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OxigraphServer]:
    """An Oxigraph server holding the published build (its own limit stops the slow test query)."""
    folder = tmp_path_factory.mktemp("remote")
    for server in oxigraph_server(folder / "store", folder / "oxigraph.log", timeout_s=5):
        publish(built.release, server.store)
        yield server


@pytest.fixture(scope="module")
def remote_api(
    built: BuildReport, remote: OxigraphServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Our server in front of the remote store, with a short time limit and a small answer cap."""
    log = tmp_path_factory.mktemp("remote-api") / "serve.log"
    yield from serve(
        build_dir_of(built), log, store=f"sparql:{remote.query}", query_timeout_s="2", max_results="1000"
    )


def rows(server: LiveServer, query: str, **params: str) -> list[str]:
    answer = httpx.get(
        server.sparql, params={"query": query, **params}, headers={"Accept": JSON_RESULTS}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    return sorted(json.dumps(row, sort_keys=True) for row in answer.json()["results"]["bindings"])


@pytest.mark.timing  # every example query must come back within the remote API's 2 s limit
def test_every_example_query_has_the_embedded_stores_answer(
    remote_api: LiveServer, live_server: LiveServer, paths: Paths
):
    queries, federated = load_queries(paths.queries)  # the federated one calls Wikidata: refused by both
    assert federated == ["wikidata-federated"]
    compared = 0
    for name, text in queries.items():
        expected = rows(live_server, text)
        assert len(expected) <= 1000, name  # under the remote API's cap
        assert rows(remote_api, text) == expected, name
        compared += 1
    assert compared >= 15


def test_health_and_counts_come_from_the_remote_store(remote_api: LiveServer, built: BuildReport):
    health = httpx.get(f"{remote_api.url}/health", timeout=10).json()
    assert health["status"] == "ok"
    assert health["graphs"] == built.counts
    assert health["triples"] == sum(built.counts.values())


def test_graph_answers_and_dataset_parameters_are_forwarded(remote_api: LiveServer, live_server: LiveServer):
    describe = f"DESCRIBE <{MDR.russia}>"
    graphs = []
    for server in (remote_api, live_server):
        answer = httpx.get(
            server.sparql, params={"query": describe}, headers={"Accept": "text/turtle"}, timeout=30
        )
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/turtle")
        graphs.append(Graph().parse(data=answer.text, format="turtle"))
    assert len(graphs[0]) == len(graphs[1]) > 0
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    inferred = rows(live_server, count, **{"default-graph-uri": str(INFERRED)})
    assert rows(remote_api, count, **{"default-graph-uri": str(INFERRED)}) == inferred
    with_from = f"SELECT (COUNT(*) AS ?n) FROM <{INFERRED}> WHERE {{ ?s ?p ?o }}"
    assert rows(remote_api, with_from) == inferred
    asserted = f"ASK {{ GRAPH <{GRAPH_BASE}asserted> {{ ?s ?p ?o }} }}"
    ask = httpx.get(remote_api.sparql, params={"query": asserted}, headers={"Accept": "text/csv"}, timeout=30)
    assert ask.status_code == 200 and ask.text.strip().lower() == "true"


@pytest.mark.timing  # the row limit must be met within the 2 s time limit
def test_the_apis_refusals_and_limits_hold(remote_api: LiveServer):
    def status(query: str) -> tuple[int, str]:
        answer = httpx.get(
            remote_api.sparql, params={"query": query}, headers={"Accept": JSON_RESULTS}, timeout=30
        )
        return answer.status_code, answer.text

    code, text = status("SELEC ?x WHERE { ?x ?y ?z }")
    assert code == 400 and "malformed query" in text
    code, text = status("SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }")
    assert code == 400 and "SERVICE" in text
    code, text = status("SELECT * WHERE { ?s ?p ?o }")
    assert code == 422 and "1000" in text
    started = time.perf_counter()
    code, text = status(SLOW)
    assert code == 503 and "time limit" in text
    assert time.perf_counter() - started < 30  # the 2 s limit, not the remote's pace
    assert httpx.get(f"{remote_api.url}/health", timeout=10).json()["status"] == "ok"


@pytest.mark.parametrize(
    ("query", "what"),
    [("SELECT * WHERE { ?a ?b ?c . ?d ?e ?f }", "solutions"), ("CONSTRUCT WHERE { ?s ?p ?o }", "triples")],
)
def test_reading_a_remote_answer_stops_past_the_row_limit(remote: OxigraphServer, query: str, what: str):
    """The cross product has ~10^10 solutions: read whole, it would end in the remote store's own
    5 s limit (a cut answer: a RemoteStoreError), never in the row limit."""
    graphs = SparqlStore(remote.query, 60).named_graphs()
    store = SparqlStore(remote.query, 60, graphs, max_rows=50)
    with pytest.raises(RemoteAnswerTooLargeError, match=f"more than 50 {what}"):
        store.query(query, use_default_graph_as_union=True)
    assert len(list(store.query(f"{query} LIMIT 50", use_default_graph_as_union=True))) == 50


def test_the_apis_row_limit_holds_for_graph_answers(remote_api: LiveServer):
    answer = httpx.get(
        remote_api.sparql,
        params={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
        headers={"Accept": "text/turtle"},
        timeout=30,
    )
    assert answer.status_code == 422 and "more than 1000 triples" in answer.text


def test_an_unreachable_store_stops_the_start_with_its_address(built: BuildReport, tmp_path: Path):
    nowhere = f"http://{LOOPBACK}:{free_port()}/query"
    with pytest.raises(ServerFailedError, match="could not be reached"):
        for _ in serve(build_dir_of(built), tmp_path / "serve.log", store=f"sparql:{nowhere}"):
            pass
