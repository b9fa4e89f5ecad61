"""Attacks found by an independent attack on the released server, each a problem it had.

- Trailer fields (after the last chunk of a chunked body) were counted with the head's fields
  but a refusal left the request's application waiting for the rest of its body: 99 trailer
  fields got no answer at all. A trailer field was not bounded at all: httptools keeps it in
  memory until it ends, growing it by copying, so one client streaming a 48 MiB trailer held
  ``/health`` for 4 s. Chunk extensions were unbounded too.
- Starlette's slash redirect (``/id`` → ``/id/``) built its ``Location`` from the request's
  ``Host``: any client could make the server redirect to any host.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.healthprobe import HealthProbe
from benchmarks.loadtest import percentile
from mildip_ld.release.build import BuildReport
from tests.live_server import LiveServer, build_dir_of, serve, update_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.server

MAX_URL_BYTES = 2048
MAX_HEAD_BYTES = 8192
MAX_HEADERS = 20
HEALTH_LIMIT_S = 0.100
GRACE_S = 10.0
"""How long a test waits for an answer the server should give at once (the machine is shared)."""
ASK_HEAD = (
    b"POST /sparql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/sparql-query\r\n"
    b"Accept: application/sparql-results+json\r\nTransfer-Encoding: chunked\r\n\r\n"
)
"""A chunked POST of a query (5 header fields); its chunks follow."""
ASK_CHUNK = b"5\r\nASK{}\r\n"
LAST_CHUNK = b"0\r\n"


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-redteam") / "server.log"


@pytest.fixture(scope="module")
def server(built: BuildReport, server_log: Path) -> Iterator[LiveServer]:
    yield from serve(
        build_dir_of(built),
        server_log,
        max_url_bytes=str(MAX_URL_BYTES),
        max_head_bytes=str(MAX_HEAD_BYTES),
        max_headers=str(MAX_HEADERS),
    )


def _connect(server: LiveServer) -> socket.socket:
    url = httpx.URL(server.url)
    return socket.create_connection((url.host, url.port), timeout=GRACE_S)


def _read_all(connection: socket.socket) -> bytes:
    """Everything the server sends until it ends the stream (or resets, or the grace time ends)."""
    received = b""
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        try:
            data = connection.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not data:
            break
        received += data
    return received


def _status(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def test_a_few_trailer_fields_are_still_served(server: LiveServer) -> None:
    with _connect(server) as connection:
        connection.sendall(
            ASK_HEAD.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
            + ASK_CHUNK
            + LAST_CHUNK
            + b"X-Checksum: 1\r\nX-Other: 2\r\n\r\n"
        )
        answer = _read_all(connection)
    assert _status(answer) == 200 and answer.endswith(b'"boolean":true}')


def test_trailer_fields_past_the_field_limit_are_answered_431(server: LiveServer, server_log: Path) -> None:
    """The head's fields and the trailer's together are held to MAX_HEADERS; the refusal is
    answered at once (it was never answered), and is the request's one log line."""
    with _connect(server) as connection:
        connection.sendall(ASK_HEAD + ASK_CHUNK + LAST_CHUNK + b"X-T: 1\r\n" * MAX_HEADERS + b"\r\n")
        answer = _read_all(connection)
    assert _status(answer) == 431, answer[:200]
    assert b"header fields" in answer
    time.sleep(0.5)  # the application's side of the refused request ends after the answer
    log = server_log.read_text()
    assert "431: the request has more than" in log
    assert '"POST /sparql HTTP/1.1" 499' not in log


@pytest.mark.parametrize("framing", [b"X-T: ", b"5;ext="], ids=["trailer", "chunk-extension"])
@pytest.mark.timing
def test_a_streamed_trailer_or_chunk_extension_is_refused_and_health_keeps_answering(
    server: LiveServer, framing: bytes
) -> None:
    """One client streams 8 MiB of one trailer field (or of one chunk's extension) after a
    valid chunk: it is answered 431 once past MAX_HEAD_BYTES, the rest unread, and /health
    stays under 100 ms (p99) meanwhile."""
    answers: list[bytes] = []

    def attack() -> None:
        with _connect(server) as connection:
            try:
                connection.sendall(
                    ASK_HEAD + ASK_CHUNK + (LAST_CHUNK if framing.startswith(b"X") else b"") + framing
                )
                for _ in range(128):
                    connection.sendall(b"a" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
            answers.append(_read_all(connection))

    with HealthProbe(server.url) as probe:
        time.sleep(0.3)
        attacker = threading.Thread(target=attack, daemon=True)
        attacker.start()
        attacker.join(GRACE_S * 3)
        time.sleep(0.3)
        latencies = probe.stop()
    assert answers and _status(answers[0]) == 431, answers[:1]
    assert b"chunk framing or trailer fields" in answers[0]
    unexplained = probe.slow(HEALTH_LIMIT_S)
    print(
        f"\n/health beside a streamed {framing!r}: {len(latencies)} probes, median "
        f"{statistics.median(latencies) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )
    assert set(probe.statuses) == {200}
    assert len(unexplained) <= len(latencies) // 100, f"/health over 100 ms: {unexplained}"


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/id", "/id/"),
        ("/doc", "/doc/"),
        ("/dumps", "/dumps/"),
        ("/queries", "/queries/"),
        ("/sparql/", "/sparql"),
        ("/health/", "/health"),
        ("/void/?a=b", "/void?a=b"),
        ("/ontology/", "/ontology"),
    ],
)
def test_slash_redirects_name_a_path_never_the_host(server: LiveServer, path: str, location: str) -> None:
    for host in ("evil.example", "evil.example:1", "%00"):
        answer = httpx.get(server.url + path, headers={"Host": host}, follow_redirects=False)
        assert answer.status_code == 307
        assert answer.headers["location"] == location


@pytest.mark.parametrize("path", ["//evil.example/", "//evil.example", "/id/no-such-thing/", "/nothing/"])
def test_paths_that_name_no_route_are_not_redirected(server: LiveServer, path: str) -> None:
    answer = httpx.get(server.url + path, follow_redirects=False)
    assert answer.status_code == 404
    assert "location" not in answer.headers


# --- queries: a function the engine does not implement -----------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "ASK { FILTER(<http://example.org/unknown>(1)) }",
        "PREFIX f: <http://example.org/> SELECT * WHERE { ?s ?p ?o FILTER(f:g(?o)) }",
        "SELECT (<http://www.w3.org/2005/xpath-functions#concat>('a', 'b') AS ?x) {}",
    ],
)
def test_a_function_the_engine_does_not_implement_is_400_not_500(server: LiveServer, query: str) -> None:
    answer = httpx.post(server.sparql, data={"query": query}, timeout=30)
    assert answer.status_code == 400, answer.text
    assert "does not implement" in answer.text


def test_the_xsd_casts_the_engine_implements_still_work(server: LiveServer) -> None:
    query = "PREFIX xsd: <http://www.w3.org/2001/XMLSchema#> SELECT (xsd:integer('3') AS ?x) {}"
    answer = httpx.post(
        server.sparql,
        data={"query": query},
        headers={"Accept": "application/sparql-results+json"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.json()["results"]["bindings"][0]["x"]["value"] == "3"


# --- writes: documents the parse step let through, or failed on ---------------------------------

ASSERTED = "https://w3id.org/mildip/graph/asserted"


def test_json_ld_with_a_remote_context_given_twice_is_refused_before_oxigraph() -> None:
    """Python's json keeps the last of a duplicated key, Oxigraph the first: both are checked."""
    from mildip_ld.curation.write_parse import ParseRefusedError, check_json

    for document in (
        b'{"@context": "http://127.0.0.1:1/c", "@context": {}, "@id": "http://example.org/x"}',
        b'{"@context": {}, "@context": {"@import": "http://127.0.0.1:1/c"}}',
        b'{"@graph": [{"@context": ["http://127.0.0.1:1/c"], "@context": null}]}',
    ):
        with pytest.raises(ParseRefusedError, match="remote @context") as refused:
            check_json(document, 100)
        assert refused.value.status == 400
    check_json(b'{"@context": {"p": "http://example.org/p"}, "@context": {}, "p": 1}', 100)


def test_xml_in_an_encoding_expat_cannot_read_is_400() -> None:
    """UTF-7 hides markup from a reader that does not decode it; expat refuses it with a
    ValueError, which killed the parser process (answered as if it had run out of memory)."""
    from mildip_ld.curation.write_parse import ParseRefusedError, check_xml

    document = (
        b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE r +AFs-+ADw-!ENTITY a +ACI-x+ACI-+AD4-'
        b'+AF0-+AD4-<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
    )
    with pytest.raises(ParseRefusedError, match="malformed RDF/XML") as refused:
        check_xml(document, 100)
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("document", "media_type"),
    [
        (
            b"<< <http://example.org/a> <http://example.org/b> <http://example.org/c> >> "
            b"<http://example.org/d> 1 .",
            "text/turtle",
        ),
        (
            b"<http://example.org/d> <http://example.org/e> "
            b"<<( <http://example.org/a> <http://example.org/b> <http://example.org/c> )>> .",
            "application/n-triples",
        ),
    ],
)
def test_a_quoted_triple_is_refused_by_the_parse_not_by_the_writer_dying(
    update_server: LiveServer, document: bytes, media_type: str
) -> None:
    """Oxigraph reads RDF-star; the writer's rdflib does not, and died on it (503)."""
    headers = {"Authorization": "Bearer test-token", "Content-Type": media_type}
    answer = httpx.post(
        f"{update_server.url}/store",
        params={"graph": ASSERTED},
        content=document,
        headers=headers,
        timeout=60,
    )
    assert answer.status_code == 400, answer.text
    assert "quoted triple" in answer.text
    health = httpx.get(f"{update_server.url}/health", timeout=10)
    assert health.status_code == 200 and health.json()["writes"] is True
