"""Hostile writes from a token holder: XML entity bombs, external entities, remote JSON-LD contexts,
deep nesting, and documents built to take longer or more memory to parse than their budget.

Each is refused with a 4xx naming the problem, changes nothing stored (the Graph Store GET and the
served release are the same before and after), fetches nothing (a loopback canary listener
records every connection made to it), and leaves the writer free: a valid write right after
succeeds. The servers are real ``mildip serve`` processes on copies of the session's build.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest

from mildip_ld.curation.write_parse import ParseRefusedError, parse_triples
from mildip_ld.release.build import BuildReport, current_release
from mildip_ld.vocab.namespaces import ASSERTED, MD, MDR, RDFS
from tests.live_server import LiveServer, serve
from tests.test_staging import _plant_leftovers
from tests.test_writes import (
    TOKEN,
    ask,
    copy_build,
    graph_store,
    insert_state,
    new_state,
    release_name,
    update,
)

pytestmark = [pytest.mark.server, pytest.mark.timing]  # refusals in well under a second

RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDF_XML = "application/rdf+xml"
JSON_LD = "application/ld+json"
PARSE_TIMEOUT_S = 2
"""The parse budget of the hostile server: short, so that documents past it are stopped quickly."""
SLOW_ATTRIBUTES = 60_000
"""Attributes on one RDF/XML element: Oxigraph's RDF/XML parser takes time growing with their
square (50,000 took 16 s here), far past :data:`PARSE_TIMEOUT_S`, with little memory."""


@dataclass
class Canary:
    """A loopback TCP listener that records every connection (before any byte is read)."""

    port: int
    connections: list[tuple[str, int]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    listener = socket.create_server(("127.0.0.1", 0))
    found = Canary(listener.getsockname()[1])

    def accept() -> None:
        while True:
            try:
                connection, peer = listener.accept()
            except OSError:  # closed at the end of the module
                return
            found.connections.append(peer)
            connection.close()

    threading.Thread(target=accept, daemon=True).start()
    yield found
    listener.close()


@pytest.fixture(scope="module")
def hostile_build(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A copy of the build with what a killed build or write leaves behind."""
    build_dir = copy_build(built, tmp_path_factory.mktemp("hostile-writes"))
    return build_dir, _plant_leftovers(build_dir)


@pytest.fixture(scope="module")
def server(hostile_build: tuple[Path, list[Path]]) -> Iterator[LiveServer]:
    build_dir, _ = hostile_build
    yield from serve(
        build_dir, build_dir.parent / "server.log", update_token=TOKEN, parse_timeout_s=str(PARSE_TIMEOUT_S)
    )


@pytest.fixture(scope="module")
def memory_server(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose parse has time enough to meet its (smaller) memory budget first."""
    build_dir = copy_build(built, tmp_path_factory.mktemp("hostile-memory"))
    yield from serve(
        build_dir,
        build_dir.parent / "server.log",
        update_token=TOKEN,
        parse_timeout_s="120",
        parse_memory_mb="1024",
    )


def stored(server: LiveServer) -> tuple[str, set[str]]:
    """The served release and the asserted graph as the Graph Store gives it."""
    answer = graph_store(server, "GET", str(ASSERTED), token=False)
    assert answer.status_code == 200, answer.text
    return release_name(server), set(answer.text.splitlines())


def refused(server: LiveServer, body: bytes, content_type: str) -> tuple[httpx.Response, float]:
    """POST ``body`` to the asserted graph and check that nothing stored changed; the answer and
    the seconds it took."""
    before = stored(server)
    started = time.perf_counter()
    answer = graph_store(server, "POST", str(ASSERTED), body, content_type)
    elapsed = time.perf_counter() - started
    assert stored(server) == before
    return answer, elapsed


def refused_at_once(server: LiveServer, body: bytes, content_type: str, status: int, words: str) -> None:
    """Refused with ``status`` and a message saying ``words``, in well under a second."""
    answer, elapsed = refused(server, body, content_type)
    assert answer.status_code == status and words in answer.text, answer.text
    assert elapsed < 1.0, f"refused after {elapsed:.2f} s"


def writer_is_free(server: LiveServer, slug: str) -> None:
    """A valid Graph Store write, right after a refusal, is applied."""
    body = f"@prefix md: <{MD}> . @prefix mdr: <{MDR}> . @prefix rdfs: <{RDFS}> . {new_state(slug, slug)}"
    answer = graph_store(server, "POST", str(ASSERTED), body.encode())
    assert answer.status_code == 204, answer.text
    assert ask(server, f"ASK {{ GRAPH <{ASSERTED}> {{ mdr:{slug} a md:State }} }}")


def rdf_xml(inner: str, doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{doctype}<rdf:RDF xmlns:rdf="{RDF_NS}" xmlns:r="{RDFS}">'
        f'<rdf:Description rdf:about="urn:x:s">{inner}</rdf:Description></rdf:RDF>'
    ).encode()


def test_serve_removed_the_staging_leftovers(
    server: LiveServer, hostile_build: tuple[Path, list[Path]]
) -> None:
    build_dir, leftovers = hostile_build
    assert not any(path.exists() or path.is_symlink() for path in leftovers)
    assert current_release(build_dir).name == release_name(server)


def test_billion_laughs_is_refused_at_once(server: LiveServer) -> None:
    entities = '<!ENTITY l0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    bomb = rdf_xml("<r:label>&l9;</r:label>", f"<!DOCTYPE rdf:RDF [{entities}]>")
    assert len(bomb) <= 1024  # 30 GB once expanded
    refused_at_once(server, bomb, RDF_XML, 400, "RDF/XML with a DTD or entity declarations is not accepted")
    writer_is_free(server, "laughland")


def test_quadratic_blowup_is_refused_at_once(server: LiveServer) -> None:
    bomb = rdf_xml(
        f"<r:label>{'&a;' * 10_000}</r:label>", f'<!DOCTYPE rdf:RDF [<!ENTITY a "{"x" * 20_000}">]>'
    )
    assert len(bomb) <= 51_200  # 200 MB once expanded
    refused_at_once(server, bomb, RDF_XML, 400, "RDF/XML with a DTD or entity declarations is not accepted")
    writer_is_free(server, "quadratia")


def test_external_entities_fetch_nothing(server: LiveServer, canary: Canary) -> None:
    documents = (
        rdf_xml("<r:label>&e;</r:label>", f'<!DOCTYPE rdf:RDF [<!ENTITY e SYSTEM "{canary.url}">]>'),
        rdf_xml("<r:label>x</r:label>", f'<!DOCTYPE rdf:RDF SYSTEM "{canary.url}/dtd">'),
        rdf_xml("", f'<!DOCTYPE rdf:RDF [<!ENTITY % p SYSTEM "{canary.url}/p"> %p;]>'),
    )
    for document in documents:
        refused_at_once(server, document, RDF_XML, 400, "DTD or entity declarations")
    assert canary.connections == []
    writer_is_free(server, "entitania")


def test_remote_jsonld_contexts_fetch_nothing(server: LiveServer, canary: Canary) -> None:
    remote = f"{canary.url}/context.jsonld"
    for context in (
        remote,
        [remote],
        {"@import": remote},
        {"label": {"@id": str(RDFS.label), "@context": remote}},
    ):
        document = {"@context": context, "@id": "urn:x:s", "label": {"@id": "urn:x:o"}}
        refused_at_once(server, json.dumps(document).encode(), JSON_LD, 400, "remote @context")
    nested = {"@id": "urn:x:s", str(RDFS.seeAlso): {"@context": remote, "@id": "urn:x:o"}}
    refused_at_once(server, json.dumps(nested).encode(), JSON_LD, 400, "remote @context")
    assert canary.connections == []
    writer_is_free(server, "contextia")


def test_oxigraph_itself_loads_no_remote_context(canary: Canary) -> None:
    """Behind the check: the parser of the writes never fetches a context even when asked to."""
    document = json.dumps({"@context": f"{canary.url}/context.jsonld", "@id": "urn:x:s", "label": "x"})
    with pytest.raises(SyntaxError, match="remote context"):
        list(ox.parse(document.encode(), format=ox.RdfFormat.JSON_LD))
    with pytest.raises(ParseRefusedError, match="remote @context"):
        parse_triples(document.encode(), JSON_LD, "urn:x:g")
    assert canary.connections == []


def test_deep_nesting_is_refused_at_once(server: LiveServer) -> None:
    deep_node = "".join(f'{{"@id": "urn:x:n{i}", "urn:x:p": ' for i in range(5000)) + "1" + "}" * 5000
    for body in ("[" * 100_000 + "]" * 100_000, deep_node):  # the second crashes Oxigraph's JSON-LD parser
        refused_at_once(server, body.encode(), JSON_LD, 400, "nested deeper than the limit of 100 levels")
    deep_xml = (
        f'<rdf:RDF xmlns:rdf="{RDF_NS}" xmlns:e="urn:e:">'
        + "<rdf:Description><e:p>" * 10_000
        + "x"
        + "</e:p></rdf:Description>" * 10_000
        + "</rdf:RDF>"
    )
    refused_at_once(server, deep_xml.encode(), RDF_XML, 400, "deeper than the limit of 100 levels")
    writer_is_free(server, "profundia")


def test_a_document_past_its_parse_budget_is_stopped(server: LiveServer) -> None:
    attributes = " ".join(f'e:a{i}="x"' for i in range(SLOW_ATTRIBUTES))
    slow = f'<rdf:RDF xmlns:rdf="{RDF_NS}" xmlns:e="urn:e:"><rdf:Description {attributes}/></rdf:RDF>'
    answer, _ = refused(server, slow.encode(), RDF_XML)
    assert answer.status_code == 422, answer.text
    assert f"longer than its {PARSE_TIMEOUT_S} s budget (MILDIP_PARSE_TIMEOUT_S)" in answer.text
    writer_is_free(server, "lentia")


def test_an_update_past_its_parse_budget_is_stopped(server: LiveServer) -> None:
    """rdflib's translation of INSERT DATA takes time growing with the square of its triples."""
    triples = " ".join(f"<urn:x:s{i}> <urn:x:p> {i} ." for i in range(2000))
    before = stored(server)
    answer = update(server, f"INSERT DATA {{ GRAPH <{ASSERTED}> {{ {triples} }} }}")
    assert answer.status_code == 422 and "MILDIP_PARSE_TIMEOUT_S" in answer.text, answer.text
    assert stored(server) == before
    valid = update(server, insert_state("tardia", "Tardia"))
    assert valid.status_code == 204, valid.text


def test_a_document_past_its_parse_memory_is_stopped(memory_server: LiveServer) -> None:
    """A 1 MB Turtle document whose prefix expands to a 6 GB graph."""
    bomb = "@prefix p: <urn:x:" + "a" * 1_000_000 + "> .\n" + "p:s p:p p:o .\n" * 2000
    answer, _ = refused(memory_server, bomb.encode(), "text/turtle")
    assert answer.status_code == 413, answer.text
    assert "more than its 1024 MiB memory budget (MILDIP_PARSE_MEMORY_MB)" in answer.text
    writer_is_free(memory_server, "avaria")
