"""The SERVICE / FROM / LOAD scan, checked against what pyoxigraph really does.

Each query is scanned and also run by pyoxigraph on an empty store next to a loopback HTTP
recorder: whenever the scan lets a query through, pyoxigraph must not have called anything but
the allowed endpoint.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pyoxigraph as ox
import pytest

from mildip_ld.query_scan import refused_services, scan


@pytest.fixture(scope="module")
def base() -> Iterator[tuple[str, list[str]]]:
    """A recorder's base URL and the paths it was asked for."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            hits.append(self.path)
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = answer  # noqa: N815 (http.server's names)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", hits
    server.shutdown()


QUERIES = [
    "SELECT * WHERE { SERVICE <{B}evil> { ?s ?p ?o } }",
    "select * where { service silent <{B}evil> { ?s ?p ?o } }",
    "PREFIX e: <{B}> SELECT * WHERE { SERVICE e:evil { ?s ?p ?o } }",
    "BASE <{B}x/> SELECT * WHERE { SERVICE <../evil> { ?s ?p ?o } }",
    "SELECT * WHERE { SERVICE<{B}evil>{?s ?p ?o} }",
    r"SELECT * WHERE { SERVICE <{B}\u0065vil> { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p ?o FILTER(?o<?p) SERVICE <{B}evil> { ?a ?b ?c } }",
    "SELECT * WHERE { ?s ?p \"\"\"a \" SERVICE\"\"\" . SERVICE <{B}evil> { ?a ?b ?c } }",
    "SELECT * WHERE { BIND(<{B}e> AS ?e) SERVICE ?e { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p ?o } # SERVICE <{B}comment>",
    "SELECT * WHERE { ?s <{B}SERVICE> 'SERVICE <{B}string>' }",
    "SELECT * WHERE { ?s ?p ?o FILTER(?o = \"SERVICE <{B}string>\") }",
    "PREFIX e: <{B}> SELECT * WHERE { ?s e:a\\'b ?o . SERVICE <{B}evil> { ?a ?b ?c } }",
    "SELECT * FROM <{B}from> WHERE { ?s ?p ?o }",
    "SELECT * FROM NAMED <{B}named> WHERE { GRAPH ?g { ?s ?p ?o } }",
    "SELECT * WHERE { { SELECT * WHERE { SERVICE <{B}allowed> { ?s ?p ?o } } } }",
]


@pytest.mark.parametrize("template", QUERIES)
def test_scan_lets_nothing_through_that_pyoxigraph_would_call(base: tuple[str, list[str]], template: str
                                                              ) -> None:
    url, hits = base
    query = template.replace("{B}", url)
    refused = refused_services(scan(query), [url + "allowed"])
    hits.clear()
    try:
        list(ox.Store().query(query))
    except (OSError, SyntaxError, RuntimeError):
        pass
    called = {url.rstrip("/") + path for path in hits}
    if not refused:
        assert called <= {url + "allowed"}, f"the scan missed a SERVICE call to {called}"
    if "evil" in template or "SERVICE ?e" in template:
        assert refused, "a SERVICE call the scan should have refused"


def test_scan_reports_dataset_clauses_and_loads() -> None:
    assert scan("SELECT * FROM <http://g> { ?s ?p ?o }").has_dataset_clause
    assert not scan("SELECT * { ?s <http://from> ?o } # FROM <x>").has_dataset_clause
    assert scan("LOAD <http://x/y.ttl> INTO GRAPH <http://g>").loads == 1
    assert scan("INSERT DATA { <a:b> <a:c> 'LOAD' }").loads == 0
