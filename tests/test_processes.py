"""``mildip serve --processes 2``: two server processes on one port, each with its own query
workers and response cache, answer as one server: a write answered by either is seen by both at
the next request, and ``/metrics`` sums what both counted."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.settings import SETTINGS_VARIABLE, Settings
from tests.live_server import LiveServer, serve
from tests.test_hostile_http import Connection, head
from tests.test_writes import TOKEN, copy_build, insert_state, update

PROCESSES = 2
ASK_STATE = "ASK { <https://w3id.org/mildip/id/lemuria> a ?type }"
MAX_HEAD_BYTES = 24_576
"""Not the default, to see the setting reach every process."""
MAX_TRIES = 400
"""Fresh connections sent until both processes have answered; each takes whichever accepts first."""


@pytest.fixture(scope="module")
def two_processes(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("processes")
    yield from serve(
        copy_build(built, folder),
        folder / "server.log",
        processes=str(PROCESSES),
        update_token=TOKEN,
        max_head_bytes=str(MAX_HEAD_BYTES),
    )


def _metric(server: LiveServer, name: str, **labels: str) -> float:
    """A sample of ``/metrics`` (0 when absent)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def _misses(server: LiveServer) -> float:
    return _metric(server, "mildip_response_cache_lookups_total", outcome="miss")


def _ask_until_every_process_answered(server: LiveServer) -> set[bool]:
    """Send ``ASK_STATE`` on fresh connections until each process has missed it once in its own
    cache (so each has answered it); the answers seen."""
    start, answers = _misses(server), set()
    for _ in range(MAX_TRIES):
        reply = httpx.get(
            server.sparql,
            params={"query": ASK_STATE},
            headers={"Accept": "application/sparql-results+json"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        answers.add(reply.json()["boolean"])
        if _misses(server) - start >= PROCESSES:
            return answers
    pytest.fail(f"{MAX_TRIES} requests did not reach all {PROCESSES} processes")


def test_each_process_has_its_own_query_workers(two_processes: LiveServer) -> None:
    tree = psutil.Process(two_processes.pid).children(recursive=True)
    workers = [p for p in tree if "mildip_ld.engine.worker" in " ".join(p.cmdline())]
    assert len({worker.ppid() for worker in workers}) == PROCESSES
    assert _metric(two_processes, "mildip_workers") == 2 * PROCESSES  # summed over the processes


def test_a_write_answered_by_one_process_is_seen_by_all(two_processes: LiveServer) -> None:
    assert _ask_until_every_process_answered(two_processes) == {False}  # both caches hold "false"

    answer = update(two_processes, insert_state("lemuria", "Lemuria"))
    assert answer.status_code == 204, answer.text

    assert _ask_until_every_process_answered(two_processes) == {True}  # no stale cached "false"


def test_metrics_count_the_requests_of_every_process(two_processes: LiveServer) -> None:
    labels = {"route": "/health", "method": "GET", "status": "200"}
    before = _metric(two_processes, "mildip_http_requests_total", **labels)
    for _ in range(30):
        assert httpx.get(f"{two_processes.url}/health", timeout=10).status_code == 200
    assert _metric(two_processes, "mildip_http_requests_total", **labels) - before == 30


def test_settings_pass_to_every_process_through_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The server processes of --processes N get the settings whole, as JSON in one variable, and
    take it out of their environment (the query workers they start do not inherit the token)."""
    given = Settings(
        port=8123,
        processes=3,
        access_log=False,
        update_token="secret",
        service_allowlist=["https://query.wikidata.org/sparql"],
        query_timeout_s=2.5,
        data_dir=tmp_path / "data",
        build_dir=tmp_path / "build",
    )
    for key in [key for key in os.environ if key.startswith("MILDIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv(SETTINGS_VARIABLE, given.as_json())
    monkeypatch.setenv("MILDIP_PORT", "9999")  # the handed settings win over any variable left over
    inherited = Settings.inherited()
    assert inherited == given and inherited.update_token.get_secret_value() == "secret"
    assert SETTINGS_VARIABLE not in os.environ
    assert Settings.inherited().port == 9999  # nothing handed over: from the MILDIP_* variables


def _process_of(server: LiveServer, connection: Connection) -> int | None:
    """The pid of the server process holding ``connection``."""
    port = connection.socket.getsockname()[1]
    for process in psutil.Process(server.pid).children(recursive=True):
        if any(held.raddr and held.raddr.port == port for held in process.net_connections(kind="tcp")):
            return process.pid
    return None


def test_head_limits_hold_in_every_process(two_processes: LiveServer) -> None:
    """A connection held by each of the processes: each refuses a head over the limit set."""
    by_process: dict[int, Connection] = {}
    with contextlib.ExitStack() as stack:
        for _ in range(MAX_TRIES):
            connection = Connection(two_processes)
            connection.send(head(connection))
            assert connection.answer()[0] == 200  # accepted: held by one process now
            owner = _process_of(two_processes, connection)
            if owner is not None and owner not in by_process:
                by_process[owner] = stack.enter_context(connection)
            else:
                connection.__exit__()
            if len(by_process) == PROCESSES:
                break
        assert len(by_process) == PROCESSES, f"{MAX_TRIES} connections did not reach every process"
        for connection in by_process.values():
            connection.send(head(connection, fields=b"X-Big: %s\r\n" % (b"b" * MAX_HEAD_BYTES)))
            status, _, body = connection.answer()
            assert status == 431 and str(MAX_HEAD_BYTES) in body.decode()
