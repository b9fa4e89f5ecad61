"""The log stays one line per failed request: abandoned bodies, hostile requests, and bugs.

A client that sends the head of a POST, a few bytes of its body and then closes the connection
used to write a 5.5 kB traceback to the server's log (Starlette's ``ClientDisconnect`` escaping
the body read). A real server is sent such abandoned requests on every route that reads a body,
then the whole hostile catalogue at once; its log file must hold no traceback, one access-log
line per abandoned request, and the server must still answer. The middleware that turns any
other escaping exception into one line is tested on an application that fails on purpose.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from benchmarks.hostile import catalogue, send
from mildip_ld.release.build import BuildReport
from mildip_ld.server.errorlog import OneLineErrorsMiddleware
from mildip_ld.server.protocol import parse_form
from mildip_ld.vocab.namespaces import ASSERTED, PROVENANCE
from tests.live_server import LiveServer, Recorder, build_dir_of, recorder, serve  # noqa: F401

TOKEN = "logs-test-token"
DECLARED_BYTES = 100_000
ROUNDS = 5
ABANDONED = [  # (path, content type) of every route that reads a request body
    ("/sparql", "application/sparql-query"),
    ("/sparql", "application/sparql-update"),
    ("/sparql", "application/x-www-form-urlencoded"),
    (f"/store?graph={ASSERTED}", "text/turtle"),
    (f"/store?graph={PROVENANCE}", "application/n-triples"),
]
TRACEBACK_MARKS = ("Traceback", "Exception in ASGI application", 'File "')


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs") / "server.log"


@pytest.fixture(scope="module")
def logged_server(built: BuildReport, server_log: Path) -> Iterator[LiveServer]:
    """Writes enabled (so that /store reads its bodies), a 2 s query limit, on a copy of the build."""
    copy = server_log.parent / "build"
    shutil.copytree(build_dir_of(built), copy, symlinks=True)
    yield from serve(
        copy,
        server_log,
        update_token=TOKEN,
        query_timeout_s="2",
        max_results="1000",
        max_body_bytes="1000000",
    )


def abandon(server: LiveServer, method: str, path: str, content_type: str) -> None:
    """Send a request's head declaring a large body, a few bytes of it, then close the connection."""
    url = httpx.URL(server.url)
    with socket.create_connection((url.host, url.port), timeout=5) as connection:
        connection.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {url.netloc.decode()}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {DECLARED_BYTES}\r\n"
            f"Authorization: Bearer {TOKEN}\r\n\r\nSELECT".encode()
        )
        time.sleep(0.05)  # the server starts reading the body before the connection closes


def new_lines(log: Path, offset: int, until: int, timeout: float = 15.0) -> list[str]:
    """The log's lines after byte ``offset``, once at least ``until`` of them are 499 lines."""
    deadline = time.monotonic() + timeout
    while True:
        with log.open("rb") as file:
            file.seek(offset)
            lines = file.read().decode("utf-8", "replace").splitlines()
        if sum('" 499' in line for line in lines) >= until or time.monotonic() > deadline:
            return lines


def assert_no_traceback(lines: list[str]) -> None:
    found = [line for line in lines if any(mark in line for mark in TRACEBACK_MARKS)]
    assert not found, "traceback in the server's log:\n" + "\n".join(found[:20])


@pytest.mark.server
def test_abandoned_bodies_write_one_line_each(logged_server: LiveServer, server_log: Path) -> None:
    offset = server_log.stat().st_size
    requests = [
        (method, path, content_type)
        for _ in range(ROUNDS)
        for path, content_type in ABANDONED
        for method in (("POST", "PUT") if path.startswith("/store") else ("POST",))
    ]
    for request in requests:
        abandon(logged_server, *request)
    lines = new_lines(server_log, offset, until=len(requests))
    assert_no_traceback(lines)
    gone = [line for line in lines if '" 499' in line]
    assert len(gone) == len(requests), "\n".join(lines[:40])
    assert len(lines) == len(requests), "more than one line per abandoned request:\n" + "\n".join(lines[:40])
    for method, path, _ in requests:  # each request has its own line
        assert sum(f'"{method} {path.split("?")[0]}' in line for line in gone) >= 1
    metrics = httpx.get(f"{logged_server.url}/metrics").text
    assert f'mildip_query_errors_total{{reason="client_disconnected"}} {len(requests)}.0' in metrics
    answer = httpx.get(
        logged_server.sparql,
        params={"query": "ASK {}"},
        headers={"Accept": "application/sparql-results+json"},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["boolean"] is True
    assert httpx.get(f"{logged_server.url}/health", timeout=10).json()["status"] == "ok"


@pytest.mark.server
def test_hostile_requests_write_no_traceback(
    logged_server: LiveServer, server_log: Path, recorder: Recorder
) -> None:
    """Every hostile request at once, then an abandoned one: the log holds no traceback."""
    host = httpx.URL(logged_server.url).netloc.decode()
    hostile = catalogue(recorder.url, host, max_results=1000)
    offset = server_log.stat().st_size
    with httpx.Client(limits=httpx.Limits(max_connections=32)) as client, ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda one: send(client, logged_server.url, one, token=TOKEN).status, hostile)
        )
    assert 500 not in statuses
    abandon(logged_server, "POST", "/sparql", "application/sparql-query")  # marks the end of the log
    lines = new_lines(server_log, offset, until=1)
    assert_no_traceback(lines)
    assert len(lines) <= len(hostile) * 2 + 1, "\n".join(lines[:40])  # an access line, a warning at most


async def _fails(scope: Scope, receive: Receive, send: Send) -> None:
    """An application that fails before answering, with a message that tries to forge a log line."""
    raise ValueError(f"forged\nERROR: a second line {scope['path']}")


async def _fails_mid_answer(scope: Scope, receive: Receive, send: Send) -> None:
    """An application that fails after sending the start of its answer."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"first chunk", "more_body": True})
    raise RuntimeError("the source vanished")


async def _fails_in_a_library(scope: Scope, receive: Receive, send: Send) -> None:
    """An application whose call into this package fails inside the standard library."""
    parse_form(5)  # type: ignore[arg-type]


def _call(app: ASGIApp, path: str) -> list[Message]:
    """Run ``app`` behind the middleware for one GET of ``path``; the messages it sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    asyncio.run(OneLineErrorsMiddleware(app)(scope, receive, send))
    return sent


def test_an_escaping_exception_is_one_line_and_a_500(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        start, body = _call(_fails, "/fails/a\nb")
    assert start["status"] == 500 and (b"x-content-type-options", b"nosniff") in start["headers"]
    assert b"forged" not in body["body"] and not body.get("more_body")
    [record] = caplog.records
    message = record.getMessage()
    assert record.exc_info is None and "\n" not in message
    assert message.startswith("GET /fails/a\\nb failed: ValueError: forged\\nERROR")
    assert "(raised at test_hostile_logs.py:" in message and "in _fails)" in message


def test_an_exception_after_the_answer_started_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        sent = _call(_fails_mid_answer, "/mid")
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    [record] = caplog.records
    assert record.exc_info is None and "RuntimeError: the source vanished" in record.getMessage()


def test_the_line_names_this_package_s_line_on_the_way(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        _call(_fails_in_a_library, "/library")
    [record] = caplog.records
    assert "(raised at parse.py:" in record.getMessage()
    assert ", from protocol.py:" in record.getMessage() and "in parse_form)" in record.getMessage()
