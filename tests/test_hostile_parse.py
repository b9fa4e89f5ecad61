"""Attacks on the query check over HTTP: texts that desynchronised the old lexical scan.

A real server refuses the SSRF query (and its update twin) without its canary, a loopback TCP
listener, seeing a connection; volatile calls hidden the same way are not cached; the nesting
limit holds at 100/101 levels; ``ASK { a.a.a… }`` of 100 kB is refused at once; and allowed
SERVICE calls that fail for different reasons, like refused endpoints on different ports, get
byte-identical answers (no port-scan oracle).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.namespaces import ASSERTED
from tests.live_server import LiveServer, build_dir_of, serve

TOKEN = "parse-test-token"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
JSON_RESULTS = "application/sparql-results+json"
CACHE = "x-mildip-cache"
HIDE = "{ BIND(1 AS ?a) BIND(2 AS ?b) BIND(\">\" AS ?c) FILTER(?a<?b&&'>'=?c) }"
"""``?a<?b&&'>`` read as an IRI by the old scan: what followed, up to a ``'`` in a comment, was a string."""


@dataclass
class Listener:
    """A loopback TCP listener that records each connection and answers it with ``reply``."""

    reply: bytes | None
    connections: list[float] = field(default_factory=list)
    socket: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}/sparql"

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections.append(time.time())
            with connection:
                if self.reply is not None:
                    connection.settimeout(2)
                    try:
                        connection.recv(65536)
                        connection.sendall(self.reply)
                    except OSError:
                        pass


def _http(status: str, content_type: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n"
    ).encode() + body


FAILURES: dict[str, bytes | None] = {
    "closes at once": None,
    "answers garbage": b"garbage\r\n\r\n",
    "answers text/html": _http("200 OK", "text/html", b"<p>hello</p>"),
    "answers HTTP 500": _http("500 Internal Server Error", "text/plain", b"oops"),
    "answers broken JSON": _http("200 OK", JSON_RESULTS, b"{{{"),
}


@pytest.fixture(scope="module")
def listeners() -> Iterator[dict[str, Listener]]:
    """The canary (never to be called) and one allowed endpoint per way of failing."""
    found = {name: Listener(reply) for name, reply in {"canary": None, **FAILURES}.items()}
    for listener in found.values():
        threading.Thread(target=listener.serve, daemon=True).start()
    yield found
    for listener in found.values():
        listener.socket.close()


def _closed_port_url() -> str:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/sparql"


@pytest.fixture(scope="module")
def closed_url() -> str:
    """An allowed endpoint where nothing listens."""
    return _closed_port_url()


@pytest.fixture(scope="module")
def server(
    built: BuildReport,
    tmp_path_factory: pytest.TempPathFactory,
    listeners: dict[str, Listener],
    closed_url: str,
) -> Iterator[LiveServer]:
    """Writes enabled (on a copy of the build); SERVICE allowed to the failing endpoints only."""
    copy = tmp_path_factory.mktemp("parse") / "build"
    shutil.copytree(build_dir_of(built), copy, symlinks=True)
    allowed = [closed_url] + [listener.url for name, listener in listeners.items() if name != "canary"]
    yield from serve(
        copy, copy.parent / "server.log", update_token=TOKEN, service_allowlist=" ".join(allowed)
    )


def _post(server: LiveServer, text: str, field_name: str = "query", token: bool = False) -> httpx.Response:
    headers = {"Accept": JSON_RESULTS} | ({"Authorization": f"Bearer {TOKEN}"} if token else {})
    return httpx.post(server.sparql, data={field_name: text}, headers=headers, timeout=60)


def _get(server: LiveServer, query: str) -> httpx.Response:
    return httpx.get(server.sparql, params={"query": query}, headers={"Accept": JSON_RESULTS}, timeout=60)


def _attack(url: str) -> str:
    return f"SELECT * WHERE {{ {HIDE} SERVICE <{url}> {{ ?s ?p ?o }} }} #'"


@pytest.mark.server
def test_the_ssrf_query_is_refused_and_the_canary_sees_nothing(
    server: LiveServer, listeners: dict[str, Listener]
) -> None:
    canary = listeners["canary"]
    attack = _attack(canary.url)
    answers = [_get(server, attack), _get(server, attack), _post(server, attack)]
    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert all("not allowed" in answer.text for answer in answers)
    assert all(CACHE not in answer.headers for answer in answers)
    variants = [
        attack.replace("SERVICE", "service silent"),
        f"SELECT * WHERE {{ # ended by CR\r SERVICE <{canary.url}> {{ ?s ?p ?o }}\n}}",
        f'SELECT * WHERE {{ BIND("\\u0022 AS ?x) BIND(" AS ?y) SERVICE <{canary.url}> {{}} '
        f'BIND(" AS ?z) BIND(\\u0022" AS ?w) }}',
    ]
    assert [_post(server, variant).status_code for variant in variants] == [400, 400, 400]
    assert canary.connections == []


@pytest.mark.server
def test_the_same_trick_in_an_update_is_refused_and_writes_nothing(
    server: LiveServer, listeners: dict[str, Listener]
) -> None:
    canary = listeners["canary"]
    subject = f"urn:x:ssrf-{uuid.uuid4()}"
    update = (
        f"INSERT {{ GRAPH <{ASSERTED}> {{ <{subject}> <{LABEL}> ?o }} }} WHERE {{ {HIDE} "
        f"SERVICE <{canary.url}> {{ ?s ?p ?o }} }} #'"
    )
    refused = _post(server, update, "update", token=True)
    assert refused.status_code == 400 and "not allowed" in refused.text
    assert _post(server, f"ASK {{ <{subject}> ?p ?o }}").json()["boolean"] is False
    assert canary.connections == []


@pytest.mark.server
@pytest.mark.parametrize("call", ["NOW()", "RAND()", "STRUUID()"])
def test_volatile_calls_hidden_by_the_trick_are_not_cached(server: LiveServer, call: str) -> None:
    query = f"SELECT ?v WHERE {{ {HIDE} BIND({call} AS ?v) }} #' {uuid.uuid4()}"
    first, second = _get(server, query), _get(server, query)
    assert (first.status_code, second.status_code) == (200, 200), first.text
    assert CACHE not in first.headers and CACHE not in second.headers
    if call != "NOW()":  # two NOW() may fall in the same instant; the values of the others differ
        assert first.json()["results"]["bindings"] != second.json()["results"]["bindings"]


@pytest.mark.server
@pytest.mark.parametrize(
    "nest",
    [
        lambda depth: "SELECT * WHERE " + "{" * depth + " ?s ?p ?o " + "}" * depth + " LIMIT 1",
        lambda depth: "ASK { FILTER(" + "(" * (depth - 2) + "true" + ")" * (depth - 2) + ") }",
        lambda depth: "ASK { FILTER(" + "STR(" * (depth - 2) + "1" + ")" * (depth - 2) + " = '1') }",
    ],
    ids=["groups", "parentheses", "function-calls"],
)
def test_the_nesting_limit_holds_at_100(server: LiveServer, nest: Callable[[int], str]) -> None:
    assert _post(server, nest(100)).status_code == 200
    too_deep = _post(server, nest(101))
    assert too_deep.status_code == 400 and "101 levels deep; the limit is 100" in too_deep.text
    very_deep = _post(server, nest(10_000))
    assert very_deep.status_code == 400 and "nests" in very_deep.text


@pytest.mark.server
def test_the_quadratic_ask_is_refused(server: LiveServer) -> None:
    query = "ASK { " + "a." * 49_990 + "a }"
    assert len(query.encode()) <= 100_000
    started = time.perf_counter()
    answer = _post(server, query)
    print(
        f"ASK {{ a.a.… }} of {len(query)} bytes answered {answer.status_code} in "
        f"{time.perf_counter() - started:.3f} s"
    )
    assert answer.status_code == 400 and "could not be checked" in answer.text


@pytest.mark.server
def test_failed_federated_calls_look_the_same_whatever_the_cause(
    server: LiveServer, closed_url: str, listeners: dict[str, Listener]
) -> None:
    urls = [closed_url] + [listeners[name].url for name in FAILURES]
    answers = [
        _post(server, f"{form} {{ SERVICE <{url}> {{ ?s ?p ?o }} }}")
        for url in urls
        for form in ("SELECT * WHERE", "ASK")
    ]  # ASK is evaluated at once, SELECT lazily
    assert all(listeners[name].connections for name in FAILURES), "each endpoint was really called"
    assert {(answer.status_code, answer.content) for answer in answers} == {
        (answers[0].status_code, answers[0].content)
    }
    assert answers[0].status_code == 502 and b"the cause is not disclosed" in answers[0].content
    for url in urls:
        assert url.split("//")[1].split("/")[0].encode() not in answers[0].content


@pytest.mark.server
def test_refused_endpoints_look_the_same_whatever_they_name(
    server: LiveServer, listeners: dict[str, Listener]
) -> None:
    endpoints = [
        listeners["canary"].url,
        _closed_port_url(),
        "http://localhost:22/",
        "http://10.0.0.1/",
        "http://[::1]:8080/x",
    ]
    answers = [_post(server, f"SELECT * WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}") for url in endpoints]
    answers.append(_post(server, "SELECT * WHERE { BIND(<http://127.0.0.1:1/> AS ?e) SERVICE ?e { } }"))
    assert len({(answer.status_code, answer.content) for answer in answers}) == 1
    assert answers[0].status_code == 400 and b"not allowed" in answers[0].content
    assert listeners["canary"].connections == []
