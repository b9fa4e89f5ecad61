"""A remote store that misbehaves (``serve --store sparql:URL``): one that drips an endless answer,
a few bytes at a time and never slowly enough for a read to time out, must not hold the request
slot past the query's time limit; one that streams an answer far past the row limit is left one
row past it (the real store's side of both is in tests/test_remote_store.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mildip_ld.engine.remote import RemoteAnswerLateError, RemoteAnswerTooLargeError, SparqlStore

HEAD = b'{"head":{"vars":["s"]},"results":{"bindings":['
ROW = b'{"s":{"type":"uri","value":"http://example.org/%d"}},'
VIRTUOSO_ROW = b'{"s":{"type":"bnode","value":"nodeID://b%d"}},'
"""A blank node as Virtuoso labels it: pyoxigraph refuses the label, so such an answer is read whole
(then relabelled): the deadline must hold for that read too."""


class _Dripping(BaseHTTPRequestHandler):
    """Answers any query with SPARQL JSON results that never end: one row every ``pause`` s."""

    pause = 0.05
    row = ROW
    rows_sent: list[int] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/sparql-results+json")
        self.end_headers()
        sent = 0
        try:
            self.wfile.write(HEAD)
            while sent < 10**6:
                self.wfile.write(self.row % sent)
                self.wfile.flush()
                sent += 1
                time.sleep(self.pause)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.rows_sent.append(sent)

    def log_message(self, *_: object) -> None:
        pass


def _rows_sent_before_the_client_left() -> int:
    """Rows the server wrote before its write failed (it notices the closed connection then)."""
    deadline = time.monotonic() + 10
    while not _Dripping.rows_sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _Dripping.rows_sent, "the server still writes: the client never closed the connection"
    return _Dripping.rows_sent[0]


@pytest.fixture
def dripping() -> Iterator[str]:
    _Dripping.rows_sent, _Dripping.row, _Dripping.pause = [], ROW, 0.05
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Dripping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/query"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timing  # the bound is the query's time limit
@pytest.mark.parametrize("row", [ROW, VIRTUOSO_ROW], ids=["streamed", "read whole (Virtuoso's blank nodes)"])
def test_an_answer_dripping_past_the_time_limit_is_dropped(dripping: str, row: bytes) -> None:
    _Dripping.row = row
    store = SparqlStore(dripping, timeout=1.5, graphs=["http://example.org/g"], max_rows=10**6)
    started = time.monotonic()
    with pytest.raises(RemoteAnswerLateError, match="still sending its answer 1.5 s after"):
        store.query("SELECT * WHERE { ?s ?p ?o }")
    assert time.monotonic() - started < 15  # without the deadline: 10^6 rows, 14 hours
    assert _rows_sent_before_the_client_left() > 10  # rows kept coming: no read timed out


def test_an_answer_streaming_past_the_row_limit_is_left_one_row_past_it(dripping: str) -> None:
    _Dripping.pause = 0.0
    store = SparqlStore(dripping, timeout=60, graphs=["http://example.org/g"], max_rows=20)
    with pytest.raises(RemoteAnswerTooLargeError, match="more than 20 solutions"):
        store.query("SELECT * WHERE { ?s ?p ?o }")
    assert _rows_sent_before_the_client_left() < 10**6
