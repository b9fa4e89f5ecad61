"""The W3C SPARQL 1.1 Protocol, Service Description and Graph Store test cases, against live servers.

Written from the manifests of w3c/rdf-tests (``sparql/sparql11/protocol``, ``service-description``
and ``http-rdf-update``): each case sends the manifest's requests (method, path parameters,
Content-Type, body) and checks its expected answer (status class, result format, boolean). Every
case runs against two servers, each on its own copy of the session's build with the manifests' data
graphs (``data1.nt``…``data3.nt``, named as the manifests name them) loaded: one read-only, one
with updates. Read-only, every update (and Graph Store write) must be refused with 403 and change
nothing; with updates, every case must pass as written, with these adaptations the manifests allow
or this store requires:

* ``/sparql/`` is the endpoint's ``/sparql``, ``$GRAPHSTORE$`` its ``/store`` (indirect graph
  identification, ``?graph=``), ``$HOST$`` the server's host.
* ``CLEAR ALL`` and ``DROP ALL`` would empty the project's computed and curated graphs, which no
  write may change: they are refused with 403 (checked by :func:`test_clear_all_is_refused`), and
  a case that starts with one clears the graphs the case itself uses instead.
* The Graph Store cases write the default graph (``PUT ?default``) and create graphs by ``POST``
  to the store itself: here the default graph is the union of the named graphs and is never written
  (403, checked), so those cases write a graph of their own instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from mildip_ld.release.build import BuildReport
from tests.live_server import LiveServer, build_dir_of, serve

pytestmark = pytest.mark.server

TOKEN = "w3c-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DATA = "http://kasei.us/2009/09/sparql/data/"
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
QUERY, UPDATE = "application/sparql-query", "application/sparql-update"
FORM = "application/x-www-form-urlencoded"
BIB = "<http://purl.org/dc/terms/BibliographicResource>"
RESULT_TYPES = {
    "boolean": ("application/sparql-results+json", "application/sparql-results+xml"),
    "tabular": (
        "application/sparql-results+json",
        "application/sparql-results+xml",
        "text/csv",
        "text/tab-separated-values",
    ),
    "RDF": ("application/rdf+xml", "text/turtle", "application/n-triples"),
}
SD_LANGUAGES = {SD.SPARQL10Query, SD.SPARQL11Query, SD.SPARQL11Update}


def data_graph(n: int) -> str:
    return f"{DATA}data{n}.rdf"


def load_data(server: LiveServer) -> None:
    """The manifests' data1.nt…data3.nt, each in the named graph the manifests give it."""
    for n in (1, 2, 3):
        triple = f"<{data_graph(n)}> <{RDF.type}> <{FOAF.Document}> .\n"
        answer = httpx.put(
            f"{server.url}/store",
            params={"graph": data_graph(n)},
            content=triple.encode(),
            headers={"Content-Type": "application/n-triples", **AUTH},
            timeout=120,
        )
        assert answer.status_code in (201, 204), answer.text


@dataclass(frozen=True)
class Servers:
    read_only: LiveServer
    updates: LiveServer


@pytest.fixture(scope="module")
def servers(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A read-only and an updatable server, each on its own copy of the build with the data loaded."""
    loaded, updated = (tmp_path_factory.mktemp(f"w3c-{mode}") for mode in ("read-only", "updates"))
    shutil.copytree(build_dir_of(built), loaded / "build", symlinks=True)
    with _serving(loaded, update_token=TOKEN) as loader:
        load_data(loader)
    # the updatable server starts from a copy of the loaded build and its change log (writes are
    # seconds each: the data is loaded once)
    shutil.copytree(loaded, updated, symlinks=True, dirs_exist_ok=True)
    with _serving(loaded) as read_only, _serving(updated, update_token=TOKEN) as updates:
        yield Servers(read_only, updates)


@contextmanager
def _serving(folder: Path, **settings: str) -> Iterator[LiveServer]:
    """``serve`` as a context manager: the server stops when the block ends."""
    yield from serve(folder / "build", folder / f"server-{len(settings)}.log", **settings)


@pytest.fixture(params=["read-only", "updates"])
def server(request: pytest.FixtureRequest, servers: Servers) -> LiveServer:
    return servers.read_only if request.param == "read-only" else servers.updates


def writable(server: LiveServer, servers: Servers) -> bool:
    return server is servers.updates


def sparql(
    server: LiveServer,
    method: str = "POST",
    params: dict[str, str | list[str]] | None = None,
    content_type: str | None = None,
    body: str | bytes | None = None,
    token: bool = True,
    accept: str | None = None,
) -> httpx.Response:
    headers = {**(AUTH if token else {})}
    if content_type:
        headers["Content-Type"] = content_type
    if accept:
        headers["Accept"] = accept
    content = body.encode("utf-8") if isinstance(body, str) else body
    return httpx.request(method, server.sparql, params=params, content=content, headers=headers, timeout=120)


def ask(server: LiveServer, query: str) -> bool:
    answer = sparql(server, content_type=QUERY, body=query, accept="application/sparql-results+json")
    assert answer.status_code == 200, answer.text
    return answer.json()["boolean"]


def expect_boolean(answer: httpx.Response, expected: bool | None = None) -> None:
    """A 2xx/3xx answer in a boolean results format (true or false as ``expected``)."""
    assert 200 <= answer.status_code < 400, answer.text
    assert answer.headers["content-type"].split(";")[0] in RESULT_TYPES["boolean"]
    if expected is not None:
        value = (
            answer.json()["boolean"]
            if "json" in answer.headers["content-type"]
            else "<boolean>true</boolean>" in answer.text
        )
        assert value is expected


# --- SPARQL 1.1 Protocol: queries ----------------------------------------------------------------

BOTH_TYPED = f"ASK {{ <{data_graph(1)}> a ?type . <{data_graph(2)}> a ?type . }}"
BOTH_NAMED = f"ASK {{ GRAPH ?g1 {{ <{data_graph(1)}> a ?type }} GRAPH ?g2 {{ <{data_graph(2)}> a ?type }} }}"


def test_query_post_form(server: LiveServer) -> None:
    expect_boolean(
        sparql(
            server,
            params={"default-graph-uri": f"{DATA}data0.rdf"},
            content_type=FORM,
            body="query=ASK%20%7B%7D",
        ),
        True,
    )


def test_query_get(server: LiveServer) -> None:
    expect_boolean(sparql(server, "GET", {"query": "ASK {}", "default-graph-uri": f"{DATA}data0.rdf"}), True)


def test_query_post_direct(server: LiveServer) -> None:
    expect_boolean(sparql(server, content_type=QUERY, body="ASK {}"), True)


def test_query_dataset_default_graphs_get(server: LiveServer) -> None:
    expect_boolean(
        sparql(server, "GET", {"query": BOTH_TYPED, "default-graph-uri": [data_graph(1), data_graph(2)]}),
        True,
    )


def test_query_dataset_default_graphs_post(server: LiveServer) -> None:
    expect_boolean(
        sparql(
            server,
            params={"default-graph-uri": [data_graph(1), data_graph(2)]},
            content_type=QUERY,
            body=BOTH_TYPED,
        ),
        True,
    )


def test_query_dataset_named_graphs_post(server: LiveServer) -> None:
    expect_boolean(
        sparql(
            server,
            params={"named-graph-uri": [data_graph(1), data_graph(2)]},
            content_type=QUERY,
            body=BOTH_NAMED,
        ),
        True,
    )


def test_query_dataset_named_graphs_get(server: LiveServer) -> None:
    expect_boolean(
        sparql(server, "GET", {"query": BOTH_NAMED, "named-graph-uri": [data_graph(1), data_graph(2)]}), True
    )


def test_query_dataset_full(server: LiveServer) -> None:
    query = (
        f"ASK {{ <{data_graph(3)}> a ?type GRAPH ?g1 {{ <{data_graph(1)}> a ?type }} "
        f"GRAPH ?g2 {{ <{data_graph(2)}> a ?type }} }}"
    )
    expect_boolean(
        sparql(
            server,
            params={"default-graph-uri": data_graph(3), "named-graph-uri": [data_graph(1), data_graph(2)]},
            content_type=QUERY,
            body=query,
        ),
        True,
    )


def test_query_multiple_dataset(server: LiveServer) -> None:
    """The protocol's dataset wins over the query's FROM (FROM data3 alone would make this false)."""
    query = (
        f"ASK FROM <{data_graph(3)}> {{ GRAPH ?g1 {{ <{data_graph(1)}> a ?type }} "
        f"GRAPH ?g2 {{ <{data_graph(2)}> a ?type }} }}"
    )
    expect_boolean(
        sparql(
            server, params={"named-graph-uri": [data_graph(1), data_graph(2)]}, content_type=QUERY, body=query
        ),
        True,
    )


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("SELECT (1 AS ?value) {}", "tabular"),
        ("ASK {}", "boolean"),
        ("DESCRIBE <http://example.org/>", "RDF"),
        ("CONSTRUCT { <s> <p> 1 } WHERE {}", "RDF"),
    ],
)
def test_query_content_type(server: LiveServer, query: str, kind: str) -> None:
    answer = sparql(server, params={"default-graph-uri": f"{DATA}data0.rdf"}, content_type=QUERY, body=query)
    assert 200 <= answer.status_code < 400, answer.text
    assert answer.headers["content-type"].split(";")[0] in RESULT_TYPES[kind]


# --- SPARQL 1.1 Protocol: refusals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params", "content_type", "body"),
    [
        ("PUT", {"query": "ASK {}"}, FORM, None),  # bad_query_method
        ("GET", {"query": ["ASK {}", "SELECT * {}"]}, None, None),  # bad_multiple_queries
        ("POST", None, "text/plain", "ASK {}"),  # bad_query_wrong_media_type
        ("POST", None, None, "query=ASK%20%7B%7D"),  # bad_query_missing_form_type
        ("POST", None, None, "ASK {}"),  # bad_query_missing_direct_type
        ("POST", None, f"{QUERY}; charset=UTF-16", "ASK {}".encode("utf-16")),  # bad_query_non_utf8
        ("GET", {"query": "ASK {"}, None, None),  # bad_query_syntax
        ("GET", {"update": "CLEAR ALL"}, None, None),  # bad_update_get
        ("POST", None, FORM, "update=CLEAR%20NAMED&update=CLEAR%20DEFAULT"),  # bad_multiple_updates
        ("POST", None, "text/plain", "CLEAR NAMED"),  # bad_update_wrong_media_type
        ("POST", None, None, "update=CLEAR%20NAMED"),  # bad_update_missing_form_type
        ("POST", None, f"{UPDATE}; charset=UTF-16", "CLEAR NAMED".encode("utf-16")),  # bad_update_non_utf8
        ("POST", None, FORM, "update=CLEAR%20XYZ"),  # bad_update_syntax
    ],
    ids=[
        "bad_query_method",
        "bad_multiple_queries",
        "bad_query_wrong_media_type",
        "bad_query_missing_form_type",
        "bad_query_missing_direct_type",
        "bad_query_non_utf8",
        "bad_query_syntax",
        "bad_update_get",
        "bad_multiple_updates",
        "bad_update_wrong_media_type",
        "bad_update_missing_form_type",
        "bad_update_non_utf8",
        "bad_update_syntax",
    ],
)
def test_bad_requests(
    server: LiveServer, method: str, params: dict | None, content_type: str | None, body: str | bytes | None
) -> None:
    answer = sparql(server, method, params, content_type, body)
    assert 400 <= answer.status_code < 500, answer.text


def test_bad_update_dataset_conflict(server: LiveServer) -> None:
    text = (
        "PREFIX foaf: <http://xmlns.com/foaf/0.1/> WITH <http://example/addresses> "
        "DELETE { ?person foaf:givenName 'Bill' } INSERT { ?person foaf:givenName 'William' } "
        "WHERE { ?person foaf:givenName 'Bill' }"
    )
    answer = sparql(
        server, params={"using-named-graph-uri": "http://example/people"}, content_type=UPDATE, body=text
    )
    assert 400 <= answer.status_code < 500, answer.text


# --- SPARQL 1.1 Protocol: updates ----------------------------------------------------------------


def clear_case_graphs(*graphs: str) -> str:
    """What a case's ``CLEAR ALL`` / ``DROP ALL`` becomes here (see the module docstring)."""
    return " ; ".join(f"DROP SILENT GRAPH <{graph}>" for graph in graphs)


def run_update(
    server: LiveServer,
    servers: Servers,
    text: str,
    check: str | None = None,
    params: dict | None = None,
    content_type: str = UPDATE,
    body: str | None = None,
) -> None:
    """Send an update case: applied (2xx/3xx, then ``check`` asks true) with updates; refused
    with 403 read-only, its ``check`` then still false."""
    answer = sparql(server, params=params, content_type=content_type, body=body if body is not None else text)
    if writable(server, servers):
        assert 200 <= answer.status_code < 400, answer.text
        if check:
            assert ask(server, check)
    else:
        assert answer.status_code == 403 and "read-only" in answer.text
        if check:
            assert not ask(server, check)


def data_reset(*extra: str) -> str:
    return (
        clear_case_graphs(data_graph(1), data_graph(2), data_graph(3), *extra)
        + f" ; INSERT DATA {{ GRAPH <{data_graph(1)}> {{ <{data_graph(1)}> a <{FOAF.Document}> }} "
        f"GRAPH <{data_graph(2)}> {{ <{data_graph(2)}> a <{FOAF.Document}> }} "
        f"GRAPH <{data_graph(3)}> {{ <{data_graph(3)}> a <{FOAF.Document}> }} }}"
    )


def test_update_dataset_default_graph(server: LiveServer, servers: Servers) -> None:
    target = "http://example.org/protocol-update-dataset-test/"
    text = f"{data_reset(target)} ; INSERT {{ GRAPH <{target}> {{ ?s a {BIB} }} }} WHERE {{ ?s a ?type }}"
    check = f"ASK {{ GRAPH <{target}> {{ <{data_graph(1)}> a {BIB} }} }}"
    run_update(server, servers, text, check, {"using-graph-uri": data_graph(1)})


@pytest.mark.parametrize("parameter", ["using-graph-uri", "using-named-graph-uri"])
def test_update_dataset_graphs(server: LiveServer, servers: Servers, parameter: str) -> None:
    """update_dataset_default_graphs and update_dataset_named_graphs: data3 stays out of the dataset."""
    target = f"http://example.org/protocol-update-dataset-{parameter}-test/"
    pattern = f"?s a <{FOAF.Document}>"
    if parameter == "using-named-graph-uri":
        pattern = f"GRAPH ?g {{ {pattern} }}"
    text = f"{data_reset(target)} ; INSERT {{ GRAPH <{target}> {{ ?s a {BIB} }} }} WHERE {{ {pattern} }}"
    check = (
        f"ASK {{ GRAPH <{target}> {{ <{data_graph(1)}> a {BIB} . <{data_graph(2)}> a {BIB} . }} "
        f"FILTER NOT EXISTS {{ GRAPH <{target}> {{ <{data_graph(3)}> a {BIB} . }} }} }}"
    )
    run_update(server, servers, text, check, {parameter: [data_graph(1), data_graph(2)]})


def test_update_dataset_full(server: LiveServer, servers: Servers) -> None:
    target = "http://example.org/protocol-update-dataset-full-test/"
    text = (
        f"{data_reset(target)} ; INSERT {{ GRAPH <{target}> {{ ?s <http://example.org/in> ?in }} }} "
        f"WHERE {{ {{ GRAPH ?g {{ ?s a <{FOAF.Document}> }} BIND(?g AS ?in) }} "
        f'UNION {{ ?s a <{FOAF.Document}> . BIND("default" AS ?in) }} }}'
    )
    check = (
        f'ASK {{ GRAPH <{target}> {{ <{data_graph(1)}> <http://example.org/in> "default" . '
        f"<{data_graph(2)}> <http://example.org/in> <{data_graph(2)}> . }} "
        f"FILTER NOT EXISTS {{ GRAPH <{target}> {{ <{data_graph(3)}> ?p ?o }} }} }}"
    )
    run_update(
        server,
        servers,
        text,
        check,
        {"using-graph-uri": data_graph(1), "using-named-graph-uri": data_graph(2)},
    )


def test_update_post_form_and_direct(server: LiveServer, servers: Servers) -> None:
    """update_post_form and update_post_direct (their CLEAR ALL is a CLEAR of a graph of the case)."""
    clear = "CLEAR SILENT GRAPH <http://example.org/protocol-update-post-test/>"
    run_update(server, servers, clear, content_type=FORM, body="update=" + quote(clear))
    run_update(server, servers, clear)


def test_update_base_uri(server: LiveServer, servers: Servers) -> None:
    graph = "http://example.org/protocol-base-test/"
    text = (
        f"CLEAR SILENT GRAPH <{graph}> ; "
        f"INSERT DATA {{ GRAPH <{graph}> {{ <http://example.org/s> <http://example.org/p> <test> }} }}"
    )
    check = (
        f"ASK {{ GRAPH <{graph}> {{ <http://example.org/s> <http://example.org/p> ?o "
        f'FILTER (isIRI(?o) && STR(?o) != "test") }} }}'
    )
    run_update(server, servers, text, check)


def test_clear_all_is_refused(server: LiveServer) -> None:
    for text in ("CLEAR ALL", "DROP ALL"):
        answer = sparql(server, content_type=UPDATE, body=text)
        assert answer.status_code == 403 and "cannot be written" in answer.text or "read-only" in answer.text
    assert ask(server, f"ASK {{ GRAPH <{data_graph(3)}> {{ ?s ?p ?o }} }}")


# --- SPARQL 1.1 Service Description --------------------------------------------------------------


def description(server: LiveServer) -> Graph:
    answer = httpx.get(server.sparql, headers={"Accept": "text/turtle"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/turtle")
    return Graph().parse(data=answer.text, format="turtle")


def test_sd_returns_rdf(server: LiveServer) -> None:
    for accept in ("application/rdf+xml", "text/turtle", "*/*"):
        answer = httpx.get(server.sparql, headers={"Accept": accept})
        assert answer.status_code == 200
        media_type = answer.headers["content-type"].split(";")[0]
        syntax = "xml" if media_type == "application/rdf+xml" else "turtle"
        assert len(Graph().parse(data=answer.text, format=syntax))


def test_sd_has_endpoint_triple(server: LiveServer) -> None:
    assert (None, SD.endpoint, URIRef(server.sparql)) in description(server)


def test_sd_conforms_to_schema(server: LiveServer, servers: Servers) -> None:
    """Every sd:Service has an sd:endpoint and a supported language of SPARQL; the vocabulary's
    ranges hold (features and formats are IRIs, the default dataset is an sd:Dataset whose graphs are
    sd:Graphs, named graphs have an IRI name)."""
    graph = description(server)
    services = set(graph.subjects(RDF.type, SD.Service))
    assert services
    for service in services:
        assert set(graph.objects(service, SD.endpoint)) and all(
            isinstance(e, URIRef) for e in graph.objects(service, SD.endpoint)
        )
        languages = set(graph.objects(service, SD.supportedLanguage))
        assert languages and languages <= SD_LANGUAGES
        assert (SD.SPARQL11Update in languages) == writable(server, servers)
        assert all(
            isinstance(term, URIRef)
            for predicate in (SD.feature, SD.resultFormat)
            for term in graph.objects(service, predicate)
        )
        for dataset in graph.objects(service, SD.defaultDataset):
            assert (dataset, RDF.type, SD.Dataset) in graph
            for default in graph.objects(dataset, SD.defaultGraph):
                assert (default, RDF.type, SD.Graph) in graph
            for named in graph.objects(dataset, SD.namedGraph):
                assert isinstance(graph.value(named, SD.name), URIRef)
    assert all(
        graph.value(subject, SD.supportedLanguage) is not None for subject in graph.subjects(SD.endpoint)
    )  # nothing else is typed as a SPARQL service


# --- SPARQL 1.1 Graph Store HTTP Protocol ---------------------------------------------------------


def store(
    server: LiveServer,
    method: str,
    graph: str,
    body: str | None = None,
    accept: str = "text/turtle",
    token: bool = True,
) -> httpx.Response:
    headers = {"Accept": accept, **(AUTH if token else {})}
    if body is not None:
        headers["Content-Type"] = "text/turtle; charset=utf-8"
    return httpx.request(
        method,
        f"{server.url}/store",
        params={"graph": graph},
        headers=headers,
        content=body.encode() if body is not None else None,
        timeout=120,
    )


def person(server: LiveServer, n: int) -> str:
    return f"{server.url}/store/person/{n}"


def card(server: LiveServer, name: str, n: int = 1) -> str:
    return (
        f"@prefix foaf: <{FOAF}> . @prefix v: <{VCARD}> . "
        f'<{person(server, n)}> a foaf:Person ; foaf:businessCard [ a v:VCard ; v:fn "{name}" ] .'
    )


def turtle(answer: httpx.Response) -> Graph:
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/turtle"), answer.text
    return Graph().parse(data=answer.text, format="turtle")


def names(graph: Graph) -> set[str]:
    return {str(name) for name in graph.objects(None, VCARD.fn)}


def test_graph_store_cases(server: LiveServer, servers: Servers) -> None:
    """PUT (initial state, graph already in store), GET of each, POST to an existing graph, DELETE of
    an existing and a non-existent graph, HEAD of an existing and a non-existing graph."""
    one, two = f"{person(server, 1)}.ttl", f"{person(server, 2)}.ttl"
    if not writable(server, servers):
        for method, body in (("PUT", card(server, "John")), ("POST", card(server, "Jane")), ("DELETE", None)):
            answer = store(server, method, one, body)
            assert answer.status_code == 403 and "read-only" in answer.text
        assert store(server, "GET", one).status_code == 404
        assert store(server, "HEAD", f"{person(server, 4)}.ttl").status_code == 404
        return
    store(server, "DELETE", one)  # a fresh start when the case runs again on the same server
    assert store(server, "PUT", one, card(server, "John Doe")).status_code == 201  # put__initial_state
    assert names(turtle(store(server, "GET", one))) == {"John Doe"}  # get_of_put__initial_state
    assert store(server, "PUT", one, card(server, "Jane Doe")).status_code == 204  # put__graph_already_in…
    assert names(turtle(store(server, "GET", one))) == {"Jane Doe"}  # get_of_put__graph_already_in_store
    posted = store(server, "POST", one, f'<{person(server, 1)}> <{FOAF.name}> "Jane Doe" .')
    assert posted.status_code in (200, 204)  # post__existing_graph
    after = turtle(store(server, "GET", one))  # get_of_post__existing_graph
    assert (URIRef(person(server, 1)), FOAF.name, Literal("Jane Doe")) in after
    assert names(after) == {"Jane Doe"}
    head = store(server, "HEAD", one)  # head_on_an_existing_graph
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/turtle")
    assert store(server, "HEAD", f"{person(server, 4)}.ttl").status_code == 404  # head_on_a_nonexisting…
    assert store(server, "PUT", two, card(server, "Bob", 2)).status_code == 201
    assert store(server, "DELETE", two).status_code in (200, 204)  # delete__existing_graph
    assert store(server, "GET", two).status_code == 404  # get_of_delete__existing_graph
    assert store(server, "DELETE", two).status_code == 404  # delete__nonexistent_graph
    default = httpx.put(
        f"{server.url}/store",
        params={"default": ""},
        headers={"Content-Type": "text/turtle", **AUTH},
        content=card(server, "Alice").encode(),
    )
    assert default.status_code == 403  # put__default_graph: the default graph is the union here
