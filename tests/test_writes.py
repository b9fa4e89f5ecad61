"""Writes that cannot corrupt: the Graph Store Protocol, validated atomic writes, kill -9 mid-write.

Every server here is a real ``mildip serve`` on a copy of the session's build; the crash tests
kill real processes (the server with its writer, or ``mildip build``) with SIGKILL and check
that the build folder's ``current`` release is complete and consistent afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pyoxigraph as ox
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, PROV, RDF, RDFS

from benchmarks.launch import LOOPBACK, free_port
from mildip_ld.release.build import DATASET_FILE, MANIFEST_FILE, BuildReport, current_release
from mildip_ld.release.store import open_store
from mildip_ld.vocab.namespaces import ASSERTED, DERIVATIONS, GRAPH_BASE, INFERRED, MD, MDR, ONTOLOGY
from mildip_ld.vocab.settings import Settings
from tests.live_server import (  # noqa: F401
    LiveServer,
    Recorder,
    build_dir_of,
    live_server,
    recorder,
    serve,
    writable_data,
)

pytestmark = pytest.mark.server

TOKEN = "write-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_RESULTS = "application/sparql-results+json"
PASSAGE = "https://w3id.org/mildip/id/passage/military-diplomacy-in-russia/l19-s1"
PREFIXES = f"PREFIX md: <{MD}> PREFIX mdr: <{MDR}> PREFIX rdfs: <{RDFS}> "


def new_state(slug: str, label: str) -> str:
    """Turtle (with the prefixes md, mdr, rdfs) of a State that conforms to the shapes."""
    return (
        f'mdr:{slug} a md:State ; rdfs:label "{label}"@en ; md:wikidataStatus md:noCheckedItem ; '
        f"md:mentionedIn <{PASSAGE}> ."
    )


def insert_state(slug: str, label: str) -> str:
    return f"{PREFIXES} INSERT DATA {{ GRAPH <{ASSERTED}> {{ {new_state(slug, label)} }} }}"


def update(server: LiveServer, text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST a SPARQL Update with the token; the client waits past the server's own write limit
    (``MILDIP_WRITE_TIMEOUT_S``, 120 s), so a slow write is told by the server's answer."""
    return httpx.post(
        server.sparql,
        content=text.encode(),
        timeout=150,
        headers={"Content-Type": "application/sparql-update", **AUTH, **(headers or {})},
    )


def ask(server: LiveServer, query: str) -> bool:
    answer = httpx.get(
        server.sparql, params={"query": PREFIXES + query}, headers={"Accept": JSON_RESULTS}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["boolean"]


def release_name(server: LiveServer) -> str:
    return httpx.get(f"{server.url}/health").json()["release"]


def graph_store(
    server: LiveServer,
    method: str,
    graph: str | None,
    body: bytes | None = None,
    content_type: str = "text/turtle",
    token: bool = True,
    accept: str = "application/n-triples",
) -> httpx.Response:
    params = {"graph": graph} if graph else {"default": ""}
    headers = {"Accept": accept, **(AUTH if token else {})}
    if body:
        headers["Content-Type"] = content_type
    return httpx.request(
        method, f"{server.url}/store", params=params, content=body, headers=headers, timeout=60
    )


def copy_build(built: BuildReport, folder: Path) -> Path:
    copy = folder / "build"
    shutil.copytree(build_dir_of(built), copy, symlinks=True)
    return copy


def assert_consistent(build_dir: Path) -> Path:
    """``current`` is a complete release: store, N-Quads and manifest agree graph by graph."""
    release = current_release(build_dir)
    assert release is not None and release.parent == build_dir / "releases"
    counts = json.loads((release / MANIFEST_FILE).read_text())["counts"]
    store = open_store(release)
    in_store = {
        name: len(list(store.quads_for_pattern(None, None, None, ox.NamedNode(GRAPH_BASE + name))))
        for name in counts
    }
    assert in_store == counts
    lines = [line for line in (release / DATASET_FILE).read_text().splitlines() if line.strip()]
    assert len(lines) == sum(counts.values())
    return release


@pytest.fixture(scope="module")
def write_server(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("writes")
    yield from serve(copy_build(built, folder), folder / "server.log", update_token=TOKEN)


# --- Graph Store Protocol: reads ------------------------------------------------------------------


@pytest.fixture(scope="module")
def roomy_server(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A read-only server whose result limit exceeds the whole dataset (the derivations record too)."""
    yield from serve(
        build_dir_of(built),
        tmp_path_factory.mktemp("roomy") / "server.log",
        max_results=str(10 * sum(built.counts.values())),
    )


def test_graph_store_get_and_head_for_everyone(
    live_server: LiveServer, roomy_server: LiveServer, built: BuildReport
) -> None:
    limit = Settings.model_fields["max_results"].default  # what live_server runs with
    assert built.counts["derivations"] > limit  # the record is larger than a default answer may be
    for name, count in built.counts.items():
        answer = graph_store(live_server, "GET", GRAPH_BASE + name, token=False)
        if count > limit:
            assert answer.status_code == 422 and "/dumps/" in answer.text, answer.text
            answer = graph_store(roomy_server, "GET", GRAPH_BASE + name, token=False)
        assert answer.status_code == 200, answer.text
        assert len(Graph().parse(data=answer.text, format="nt")) == count
    head = graph_store(live_server, "HEAD", str(ASSERTED), token=False)
    assert (
        head.status_code == 200
        and head.content == b""
        and head.headers["content-type"].startswith("application/n-triples")
    )
    assert graph_store(live_server, "GET", None, token=False, accept="text/turtle").status_code == 422
    default = graph_store(roomy_server, "GET", None, token=False, accept="text/turtle")
    assert default.status_code == 200 and (
        MDR.russia,
        RDFS.label,
        Literal("Russia", lang="en"),
    ) in Graph().parse(data=default.text, format="turtle")


def test_graph_store_read_refusals(live_server: LiveServer) -> None:
    assert graph_store(live_server, "GET", "urn:x:no-such-graph", token=False).status_code == 404
    assert graph_store(live_server, "GET", "not an iri", token=False).status_code == 400
    both = httpx.get(f"{live_server.url}/store", params={"graph": str(ASSERTED), "default": ""})
    assert both.status_code == 400 and "exactly one graph" in both.text
    assert httpx.get(f"{live_server.url}/store").status_code == 400
    assert graph_store(live_server, "GET", str(ASSERTED), token=False, accept="image/png").status_code == 406


def test_graph_store_keeps_the_exact_datatypes(live_server: LiveServer) -> None:
    """What GET gives can be PUT back: xsd:positiveInteger stays (the store would say xsd:integer)."""
    answer = graph_store(live_server, "GET", GRAPH_BASE + "provenance", token=False)
    assert "XMLSchema#positiveInteger>" in answer.text and "XMLSchema#nonNegativeInteger>" in answer.text


def test_graph_store_writes_need_the_token(live_server: LiveServer, write_server: LiveServer) -> None:
    body = b"<urn:x:a> <urn:x:b> <urn:x:c> ."
    for method in ("PUT", "POST", "DELETE"):
        read_only = graph_store(
            live_server, method, str(ASSERTED), body if method != "DELETE" else None, token=False
        )
        assert read_only.status_code == 403 and "read-only" in read_only.text
        refused = graph_store(
            write_server, method, str(ASSERTED), body if method != "DELETE" else None, token=False
        )
        assert refused.status_code == 403 and "token" in refused.text and TOKEN not in refused.text


def test_service_description_lists_the_graph_store(write_server: LiveServer) -> None:
    answer = httpx.get(write_server.sparql, headers={"Accept": "text/turtle"})
    graph = Graph().parse(data=answer.text, format="turtle")
    endpoint = URIRef("http://www.w3.org/ns/dcat#endpointURL")  # not sd:endpoint: it is no SPARQL service
    store = graph.value(predicate=endpoint, object=URIRef(f"{write_server.url}/store"))
    assert store is not None, answer.text
    assert graph.value(store, DCTERMS.conformsTo) == URIRef("http://www.w3.org/TR/sparql11-http-rdf-update/")
    assert "PUT, POST and DELETE of the asserted and provenance graphs" in answer.text


# --- validated, atomic writes ---------------------------------------------------------------------


def test_a_valid_update_is_applied_and_inference_follows(write_server: LiveServer) -> None:
    before = release_name(write_server)
    answer = update(write_server, insert_state("atlantis", "Atlantis"))
    assert answer.status_code == 204, answer.text
    assert answer.headers["x-mildip-release"] != before
    assert release_name(write_server) == answer.headers["x-mildip-release"]
    assert ask(write_server, f"ASK {{ GRAPH <{ASSERTED}> {{ mdr:atlantis a md:State }} }}")
    assert ask(write_server, f"ASK {{ GRAPH <{INFERRED}> {{ mdr:atlantis a md:Actor }} }}")  # State ⊑ Actor
    derived = (
        f"ASK {{ GRAPH <{DERIVATIONS}> {{ ?st <{RDF.subject}> mdr:atlantis ; "
        f"<{RDF.predicate}> <{RDF.type}> ; <{RDF.object}> md:Actor ; md:modality md:stated ; "
        f'<{PROV.wasGeneratedBy}> [ md:rule "cax-sco" ] }} }}'
    )
    assert ask(write_server, derived)  # the write recorded its derivations too
    page = httpx.get(f"{write_server.url}/doc/atlantis.html")
    assert page.status_code == 200 and "Atlantis" in page.text  # the pages moved to the new release too
    delete = f"{PREFIXES} DELETE WHERE {{ GRAPH <{ASSERTED}> {{ mdr:atlantis ?p ?o }} }}"
    removed = update(write_server, delete)
    assert removed.status_code == 204, removed.text
    assert not ask(write_server, "ASK { GRAPH ?g { mdr:atlantis ?p ?o } }")  # inferred triples gone too


def test_the_derivations_record_is_computed_and_cannot_be_written(write_server: LiveServer) -> None:
    before = release_name(write_server)
    forged = f"{PREFIXES} INSERT DATA {{ GRAPH <{DERIVATIONS}> {{ mdr:russia md:modality md:stated }} }}"
    answer = update(write_server, forged)
    assert answer.status_code == 403 and f"<{DERIVATIONS}>" in answer.text, answer.text
    put = graph_store(write_server, "PUT", str(DERIVATIONS), new_state("atlantis", "Atlantis").encode())
    assert put.status_code == 403, put.text
    assert release_name(write_server) == before


def _snapshot(server: LiveServer) -> tuple[str, str, str]:
    asserted = graph_store(server, "GET", str(ASSERTED), token=False).text
    inferred = graph_store(server, "GET", str(INFERRED), token=False).text
    return release_name(server), asserted, inferred


def test_a_write_that_breaks_a_shape_is_refused_and_changes_nothing(write_server: LiveServer) -> None:
    before = _snapshot(write_server)
    utopia = f"{PREFIXES} INSERT DATA {{ GRAPH <{ASSERTED}> {{ mdr:utopia a md:State }} }}"
    answer = update(write_server, utopia)
    assert answer.status_code == 422
    assert "nothing was changed" in answer.text and "shapes#LabelShape" in answer.text
    assert f"focus: {MDR.utopia}" in answer.text and f"path: {RDFS.label}" in answer.text
    assert "Exactly one English rdfs:label" in answer.text
    detailed = update(write_server, utopia, headers={"Accept": "application/json"})
    violations = detailed.json()["violations"]
    assert {v["focus"] for v in violations} == {str(MDR.utopia)}
    assert {"focus", "path", "value", "rule", "message"} <= set(violations[0])
    put = graph_store(write_server, "PUT", str(ASSERTED), f"<{MDR.utopia}> a <{MD.State}> .".encode())
    assert put.status_code == 422 and "LabelShape" in put.text
    assert _snapshot(write_server) == before


def test_writes_to_computed_or_build_graphs_are_refused(write_server: LiveServer) -> None:
    before = _snapshot(write_server)
    for text in (
        f"DROP GRAPH <{INFERRED}>",
        f"CLEAR GRAPH <{ONTOLOGY}>",
        "INSERT DATA { <urn:x:a> <urn:x:b> 1 }",
        f"COPY <{ASSERTED}> TO <{GRAPH_BASE}new-graph>",
    ):
        answer = update(write_server, text)
        assert answer.status_code == 403 and "cannot be written" in answer.text, text
    for graph in (str(INFERRED), f"{GRAPH_BASE}derivations", None):
        answer = graph_store(write_server, "PUT", graph, b"<urn:x:a> <urn:x:b> <urn:x:c> .")
        assert answer.status_code == 403 and "cannot be written" in answer.text
    assert _snapshot(write_server) == before


def test_graph_store_round_trip_and_post(write_server: LiveServer) -> None:
    """GET a graph, PUT it back unchanged (nothing to publish), POST a new State, DELETE it again."""
    before = release_name(write_server)
    provenance = graph_store(write_server, "GET", GRAPH_BASE + "provenance", token=False)
    same = graph_store(
        write_server, "PUT", GRAPH_BASE + "provenance", provenance.content, "application/n-triples"
    )
    assert same.status_code == 204 and release_name(write_server) == before
    prefixes = f"@prefix md: <{MD}> . @prefix mdr: <{MDR}> . @prefix rdfs: <{RDFS}> ."
    turtle = f"{prefixes} {new_state('lemuria', 'Lemuria')}"
    posted = graph_store(write_server, "POST", str(ASSERTED), turtle.encode())
    assert posted.status_code == 204, posted.text
    assert ask(write_server, f"ASK {{ GRAPH <{INFERRED}> {{ mdr:lemuria a md:Actor }} }}")
    asserted = graph_store(write_server, "GET", str(ASSERTED), token=False).text
    kept = "\n".join(line for line in asserted.splitlines() if "/lemuria>" not in line)
    put = graph_store(write_server, "PUT", str(ASSERTED), kept.encode(), "application/n-triples")
    assert put.status_code == 204
    assert not ask(write_server, "ASK { GRAPH ?g { mdr:lemuria ?p ?o } }")


def test_bad_documents_are_refused(write_server: LiveServer) -> None:
    assert graph_store(write_server, "PUT", str(ASSERTED), b"<a> <b> ").status_code == 400
    assert graph_store(write_server, "PUT", str(ASSERTED), b"x", "text/x-unknown").status_code == 415
    quads = graph_store(
        write_server,
        "POST",
        str(ASSERTED),
        b"<urn:x:a> <urn:x:b> <urn:x:c> <urn:x:g> .",
        "application/n-quads",
    )
    assert quads.status_code == 400 and "named graphs" in quads.text
    escape = graph_store(
        write_server,
        "POST",
        GRAPH_BASE + "provenance",
        f'<{MDR}source/x> <{MD}localFile> "../../../../etc/hostname" .'.encode(),
        "application/n-triples",
    )
    assert escape.status_code == 422 and "inside the server's data folder" in escape.text
    assert "localhost" not in escape.text


def test_parsers_fetch_nothing(write_server: LiveServer, recorder: Recorder) -> None:
    """An RDF/XML external entity, a JSON-LD remote context and USING name the recorder: no request."""
    entity = (
        f'<?xml version="1.0"?><!DOCTYPE rdf:RDF [<!ENTITY e SYSTEM "{recorder.url}/entity">]>'
        f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:r="{RDFS}">'
        f'<rdf:Description rdf:about="urn:x:s"><r:label>&e;</r:label></rdf:Description></rdf:RDF>'
    )
    posted = graph_store(write_server, "POST", str(ASSERTED), entity.encode(), "application/rdf+xml")
    assert posted.status_code == 400
    context = json.dumps({"@context": f"{recorder.url}/context.jsonld", "@id": "urn:x:s", "label": "x"})
    answer = graph_store(write_server, "POST", str(ASSERTED), context.encode(), "application/ld+json")
    assert answer.status_code == 400 and "context" in answer.text
    using = update(
        write_server,
        f"INSERT {{ GRAPH <{ASSERTED}> {{ ?s <urn:x:p> 1 }} }} USING <{recorder.url}/g> WHERE {{ ?s ?p ?o }}",
    )
    assert using.status_code == 204  # USING names a graph of the store (empty here), never a document
    assert recorder.hits == []


# --- crashes --------------------------------------------------------------------------------------


def _server_process(build_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MILDIP_")}
    env["MILDIP_UPDATE_TOKEN"] = TOKEN
    env["MILDIP_DATA_DIR"] = str(writable_data(build_dir))
    command = [
        sys.executable,
        "-m",
        "mildip_ld",
        "--build-dir",
        str(build_dir),
        "serve",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
    ]
    with open(log, "ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")


def _wait_for(condition, timeout: float, step: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


@pytest.mark.parametrize("moment", ["while publishing", "while validating"])
def test_kill_9_in_the_middle_of_a_write(built: BuildReport, tmp_path: Path, moment: str) -> None:
    build_dir = copy_build(built, tmp_path)
    before = current_release(build_dir)
    process, url = _server_process(build_dir, tmp_path / "server.log")
    children = psutil.Process(process.pid).children()
    server = LiveServer(url, process.pid, build_dir)
    sender = threading.Thread(target=lambda: _ignore_errors(update, server, insert_state("avalon", "Avalon")))
    sender.start()
    if moment == "while publishing":
        assert _wait_for(lambda: any(build_dir.glob(".staging-*")), 30), "the write never reached its staging"
    else:
        time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    sender.join()
    assert _wait_for(
        lambda: not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children),
        10,
    ), "workers or writer outlived the server"
    release = assert_consistent(build_dir)
    committed = release != before
    process, url = _server_process(build_dir, tmp_path / "server.log")
    try:
        server = LiveServer(url, process.pid, build_dir)
        assert not list(build_dir.glob(".staging-*"))  # the killed write's staging, removed at start
        assert release_name(server) == release.name
        present = ask(server, f"ASK {{ GRAPH <{ASSERTED}> {{ mdr:avalon a md:State }} }}")
        assert present == committed
        assert ask(server, f"ASK {{ GRAPH <{INFERRED}> {{ mdr:avalon a md:Actor }} }}") == committed
        assert update(server, insert_state("avalon", "Avalon")).status_code == 204
        assert ask(server, f"ASK {{ GRAPH <{INFERRED}> {{ mdr:avalon a md:Actor }} }}")
        assert_consistent(build_dir)
    finally:
        process.kill()
        process.wait()


def _ignore_errors(function, *args) -> None:
    try:
        function(*args)
    except httpx.HTTPError:
        pass


def test_kill_9_in_the_middle_of_a_build(built: BuildReport, tmp_path: Path) -> None:
    build_dir = copy_build(built, tmp_path)
    before = assert_consistent(build_dir)
    command = [sys.executable, "-m", "mildip_ld", "--build-dir", str(build_dir), "build"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staged = _wait_for(lambda: any(build_dir.glob(".staging-*")), 120)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert staged, "the build never started writing its release"
    assert assert_consistent(build_dir) == before  # the staging folder is never served
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert assert_consistent(build_dir) != before
    assert not list(build_dir.glob(".staging-*"))  # the killed build's staging, removed by the next


# --- the update dataset is the query dataset (issue 15, item 3) -----------------------------------


def test_an_update_reads_and_deletes_through_the_union_default_graph(write_server: LiveServer) -> None:
    assert update(write_server, insert_state("lemuria", "Lemuria")).status_code == 204
    assert ask(write_server, "ASK { mdr:lemuria a md:State }")  # the query's default graph: the union
    relabel = (
        f"{PREFIXES} DELETE {{ GRAPH <{ASSERTED}> {{ ?s rdfs:label ?l }} }} "
        f'INSERT {{ GRAPH <{ASSERTED}> {{ ?s rdfs:label "Lemuria II"@en }} }} '
        f'WHERE {{ ?s a md:State ; rdfs:label "Lemuria"@en ; rdfs:label ?l }}'
    )
    assert update(write_server, relabel).status_code == 204, "the WHERE reads the union"
    assert ask(write_server, 'ASK { mdr:lemuria rdfs:label "Lemuria II"@en }')
    removed = update(write_server, f"{PREFIXES} DELETE WHERE {{ mdr:lemuria ?p ?o }}")
    assert removed.status_code == 204, removed.text
    assert not ask(write_server, "ASK { GRAPH ?g { mdr:lemuria ?p ?o } }")  # gone from every graph


def test_deleting_a_computed_triple_through_the_default_graph_is_refused(write_server: LiveServer) -> None:
    before = _snapshot(write_server)
    assert ask(write_server, f"ASK {{ GRAPH <{INFERRED}> {{ mdr:russia a md:Actor }} }}")
    answer = update(write_server, f"{PREFIXES} DELETE DATA {{ mdr:russia a md:Actor }}")
    assert answer.status_code == 403 and f"<{INFERRED}>" in answer.text
    assert _snapshot(write_server) == before


def test_using_graph_uri_and_relative_iris(write_server: LiveServer) -> None:
    assert update(write_server, insert_state("mu", "Mu")).status_code == 204
    copy = (
        f'{PREFIXES} INSERT {{ GRAPH <{ASSERTED}> {{ ?s rdfs:comment "copied"@en }} }} '
        f'WHERE {{ ?s a md:State ; rdfs:label "Mu"@en }}'
    )
    from_inferred = httpx.post(
        write_server.sparql,
        params={"using-graph-uri": str(INFERRED)},
        content=copy.encode(),
        timeout=60,
        headers={"Content-Type": "application/sparql-update", **AUTH},
    )
    assert from_inferred.status_code == 204 and not ask(write_server, "ASK { mdr:mu rdfs:comment ?c }")
    from_asserted = httpx.post(
        write_server.sparql,
        params={"using-graph-uri": str(ASSERTED)},
        content=copy.encode(),
        timeout=60,
        headers={"Content-Type": "application/sparql-update", **AUTH},
    )
    assert from_asserted.status_code == 204 and ask(write_server, "ASK { mdr:mu rdfs:comment ?c }")
    conflict = httpx.post(
        write_server.sparql,
        params={"using-named-graph-uri": str(ASSERTED)},
        content=f"WITH <{ASSERTED}> DELETE {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}".encode(),
        headers={"Content-Type": "application/sparql-update", **AUTH},
        timeout=60,
    )
    assert conflict.status_code == 400 and "using-graph-uri" in conflict.text
    relative = httpx.get(
        write_server.sparql, params={"query": "SELECT (<x> AS ?iri) {}"}, headers={"Accept": JSON_RESULTS}
    )
    assert relative.status_code == 200
    assert relative.json()["results"]["bindings"][0]["iri"]["value"] == f"{write_server.url}/x"
    relative_update = update(write_server, f"DELETE DATA {{ GRAPH <{ASSERTED}> {{ <mu> <p> 1 }} }}")
    assert relative_update.status_code == 204, relative_update.text
    assert update(write_server, f"{PREFIXES} DELETE WHERE {{ mdr:mu ?p ?o }}").status_code == 204


def test_a_token_holder_writes_graphs_of_its_own_validated_and_inferred(write_server: LiveServer) -> None:
    own = "http://example.org/my-graph"
    state = f"{PREFIXES} {new_state('hyperborea', 'Hyperborea')}"
    created = graph_store(write_server, "PUT", own, state.encode())
    assert created.status_code == 201, created.text
    assert ask(write_server, f"ASK {{ GRAPH <{own}> {{ mdr:hyperborea a md:State }} }}")
    assert ask(write_server, f"ASK {{ GRAPH <{INFERRED}> {{ mdr:hyperborea a md:Actor }} }}")  # inferred over
    unlabelled = graph_store(write_server, "POST", own, f"<{MDR.thule}> a <{MD.State}> .".encode())
    assert unlabelled.status_code == 422 and "LabelShape" in unlabelled.text  # validated by the shapes
    again = graph_store(write_server, "POST", own, f'<{MDR.hyperborea}> <{RDFS.comment}> "x"@en .'.encode())
    assert again.status_code == 204
    assert graph_store(write_server, "DELETE", own).status_code == 204
    assert not ask(write_server, "ASK { GRAPH ?g { mdr:hyperborea ?p ?o } }")
    gone = graph_store(write_server, "DELETE", own)
    assert gone.status_code == 404 and "no graph" in gone.text  # the Graph Store Protocol's answer
    insert = f"{PREFIXES} INSERT DATA {{ GRAPH <{own}> {{ {new_state('mu2', 'Mu II')} }} }}"
    assert update(write_server, insert).status_code == 204
    assert ask(write_server, f"ASK {{ GRAPH <{own}> {{ mdr:mu2 a md:State }} }}")
    assert update(write_server, f"DROP GRAPH <{own}>").status_code == 204
