"""The network wall (:mod:`mildip_ld.engine.sandbox`): query workers and the writer, started exactly as
the pool starts them, cannot reach a loopback canary unless the SERVICE allow-list names its port.

Each canary is a listening socket of this test process; it is read without blocking once the
worker's attempt has returned, so a connection made would be waiting in its queue.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.launch import LOOPBACK, free_port, running, serve_command
from mildip_ld.curation.writer import WriterConfig
from mildip_ld.engine.pool import WorkerConfig, WorkerPool, _Worker, worker_command
from mildip_ld.engine.sandbox import LayerRefusedError, landlock_abi
from mildip_ld.engine.worker import frame, read_frame
from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.config import Paths
from mildip_ld.vocab.settings import Settings
from tests.live_server import LiveServer, Recorder, build_dir_of, live_server, recorder  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
PROBE = "tests.sandbox_probe"
REFUSE = str(Path(__file__).parent / "refuse_sandbox.py")
NOBODY = 65534
JSON_RESULTS = "application/sparql-results+json"
PIPE = asyncio.subprocess.PIPE


def _landlock_network() -> bool:
    try:
        return landlock_abi() >= 4
    except LayerRefusedError:
        return False


pytestmark = pytest.mark.skipif(not _landlock_network(), reason="this kernel has no Landlock network rules")


@contextmanager
def tcp_canary() -> Iterator[socket.socket]:
    with socket.socket() as canary:
        canary.bind((LOOPBACK, 0))
        canary.listen()
        canary.setblocking(False)
        yield canary


@contextmanager
def udp_canary() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as canary:
        canary.bind((LOOPBACK, 0))
        canary.setblocking(False)
        yield canary


def port(canary: socket.socket) -> int:
    return int(canary.getsockname()[1])


def reached(canary: socket.socket) -> int:
    """Connections (TCP) or datagrams (UDP) that arrived at ``canary``."""
    count = 0
    while True:
        try:
            if canary.type == socket.SOCK_STREAM:
                canary.accept()[0].close()
            else:
                canary.recv(64)
        except BlockingIOError:
            return count
        count += 1


def endpoint(canary: socket.socket) -> str:
    return f"http://{LOOPBACK}:{port(canary)}/sparql"


def probe_pool(tmp_path: Path, allowlist: list[str], scenario: Callable[[WorkerPool], Any]) -> None:
    """Run ``scenario`` on a real pool of one probe worker (tests/sandbox_probe.py)."""

    async def run() -> None:
        pool = WorkerPool(WorkerConfig(str(tmp_path), service_allowlist=allowlist), 1, module=PROBE)
        await pool.start()
        try:
            await scenario(pool)
        finally:
            await pool.close()

    asyncio.run(run())


async def attempt(pool: WorkerPool, op: str, canary_port: int) -> dict[str, Any]:
    reply = await pool.run({"op": op, "port": canary_port}, 30)
    return json.loads(reply.body)


def test_a_worker_reaches_no_network_without_an_allow_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the probe module is found from the project's folder
    with tcp_canary() as tcp, udp_canary() as udp:

        async def scenario(pool: WorkerPool) -> None:
            assert pool.confinement is not None and pool.confinement.name == "landlock+netns"
            assert await attempt(pool, "tcp", port(tcp)) == {"ok": False, "errno": "EACCES"}
            assert (await attempt(pool, "udp", port(udp)))["ok"] is False  # the namespace has no network
            assert await attempt(pool, "bind", 0) == {"ok": False, "errno": "EACCES"}

        probe_pool(tmp_path, [], scenario)
        assert reached(tcp) == 0 and reached(udp) == 0


def test_an_allow_list_opens_its_ports_and_no_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with tcp_canary() as allowed, tcp_canary() as other:

        async def scenario(pool: WorkerPool) -> None:
            assert pool.confinement is not None and pool.confinement.name == "landlock"
            assert pool.confinement.ports == [port(allowed)]
            assert await attempt(pool, "tcp", port(allowed)) == {"ok": True, "errno": None}
            assert await attempt(pool, "tcp", port(other)) == {"ok": False, "errno": "EACCES"}
            assert await attempt(pool, "bind", port(allowed)) == {"ok": False, "errno": "EACCES"}

        probe_pool(tmp_path, [endpoint(allowed)], scenario)
        assert reached(allowed) == 1 and reached(other) == 0


def _service_job(url: str) -> dict[str, Any]:
    return {
        "op": "query",
        "text": f"SELECT * WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        "results": JSON_RESULTS,
    }


async def _start_bypassing_the_parse(confined_to: Any, told: Any, module: str) -> _Worker:
    """``module`` started by the pool's own command for ``confined_to``, but told ``told`` (whose
    allow-list lets the SERVICE check pass): the first wall is down, only the kernel's stands."""
    process = await asyncio.create_subprocess_exec(
        *worker_command(confined_to, module), stdin=PIPE, stdout=PIPE
    )
    worker = _Worker(process)
    await worker.start(told)
    return worker


def test_the_kernel_stops_a_service_call_the_parse_let_through(
    built: BuildReport, recorder: Recorder
) -> None:
    release = str(built.release)
    told = WorkerConfig(release, service_allowlist=[recorder.url])

    async def scenario() -> None:
        for confined_to, hits in ((WorkerConfig(release), 0), (told, 1)):
            worker = await _start_bypassing_the_parse(confined_to, told, "mildip_ld.engine.worker")
            try:
                reply = await worker.call(_service_job(recorder.url))
            finally:
                await worker.kill()
            assert len(recorder.hits) == hits, reply.body
            # the kernel's EACCES reaches the client as the one fixed answer of a failed federated call
            assert reply.status == (200 if hits else 502), reply.body
            recorder.hits.clear()

    asyncio.run(scenario())


def test_the_writer_is_confined_too(
    built: BuildReport, paths: Paths, recorder: Recorder, tmp_path: Path
) -> None:
    """The writer starts in the sandbox its allow-list calls for; an update's SERVICE is refused
    whatever the allow-list says (updates run on rdflib's engine), and nothing is called."""
    build = tmp_path / "build"
    shutil.copytree(build_dir_of(built), build, symlinks=True)
    folders = {"build_dir": build, "data_dir": paths.data, "shapes_dir": paths.shapes}
    told = WriterConfig.of(Settings(**folders, service_allowlist=[recorder.url]))
    update = (
        f"INSERT {{ GRAPH <urn:x:g> {{ ?s ?p ?o }} }} WHERE {{ SERVICE <{recorder.url}> {{ ?s ?p ?o }} }}"
    )

    async def scenario() -> None:
        for confined_to, name in (
            (WriterConfig.of(Settings(**folders)), "landlock+netns"),
            (told, "landlock"),
        ):
            worker = await _start_bypassing_the_parse(confined_to, told, "mildip_ld.curation.writer")
            try:
                assert worker.confinement.name == name
                reply = await worker.call({"op": "update", "text": update})
            finally:
                await worker.kill()
            assert reply.status == 400 and b"SERVICE is not allowed in an update" in reply.body, reply.body
            assert not recorder.hits

    asyncio.run(scenario())


def _talk(command: list[str], jobs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start ``command`` (the sandbox launcher running the probe) and run ``jobs`` over its frames:
    the confinement it reported and the answers."""
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdin is not None and process.stdout is not None
    try:
        confinement = json.loads(read_frame(process.stdout) or b"null")
        process.stdin.write(frame(json.dumps({"parent": os.getpid(), **asdict(WorkerConfig(""))}).encode()))
        process.stdin.flush()
        assert json.loads(read_frame(process.stdout) or b"{}").get("ready"), "the probe did not start"
        answers = []
        for job in jobs:
            process.stdin.write(frame(json.dumps(job).encode()))
            process.stdin.flush()
            read_frame(process.stdout)
            answers.append(json.loads(read_frame(process.stdout) or b"null"))
    finally:
        process.kill()
        process.wait()
    return confinement, answers


@pytest.mark.parametrize(
    ("refused", "applied", "error"),
    [
        ("unshare", ["landlock"], "EACCES"),  # Landlock alone stops TCP
        ("landlock", ["netns"], "ENETUNREACH"),  # the namespace alone stops TCP
    ],
)
def test_each_layer_holds_alone(refused: str, applied: list[str], error: str) -> None:
    launcher = worker_command(WorkerConfig("unused"), PROBE)
    with tcp_canary() as tcp:
        confinement, answers = _talk(
            [sys.executable, REFUSE, refused, "--", *launcher], [{"op": "tcp", "port": port(tcp)}]
        )
        assert confinement["applied"] == applied and list(confinement["refused"]) == [
            "netns" if refused == "unshare" else "landlock"
        ]
        assert answers == [{"ok": False, "errno": error}]
        assert reached(tcp) == 0


AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
"""util-linux's setpriv: it executes the command before it loses its capabilities, so the
interpreter may live in root's home; the process then runs as nobody, without any capability."""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_an_unprivileged_worker_is_confined_too() -> None:
    readable = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", f"import {PROBE}"], cwd=ROOT, capture_output=True
    )
    if readable.returncode:
        pytest.skip(f"nobody cannot read the project: {readable.stderr.decode()[-200:]}")
    launcher = worker_command(WorkerConfig("unused"), PROBE)
    with tcp_canary() as tcp:
        confinement, answers = _talk([*AS_NOBODY, *launcher], [{"op": "tcp", "port": port(tcp)}])
        # Landlock needs no privilege; the namespace comes inside a user namespace where the
        # kernel allows those (it does on Debian), else it is reported refused
        assert "landlock" in confinement["applied"]
        assert set(confinement["applied"]) | set(confinement["refused"]) == {"landlock", "netns"}
        assert answers == [{"ok": False, "errno": "EACCES"}]
        assert reached(tcp) == 0


@pytest.mark.server
def test_health_names_the_sandbox(live_server: LiveServer) -> None:  # noqa: F811 (fixture)
    assert httpx.get(f"{live_server.url}/health", timeout=10).json()["network_sandbox"] == "landlock+netns"


@pytest.mark.server
def test_a_refused_sandbox_is_one_loud_warning_and_health_says_none(
    built: BuildReport, tmp_path: Path
) -> None:
    port_number, log = free_port(), tmp_path / "serve.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MILDIP_")}
    serve = serve_command(port_number, build_dir_of(built))
    command = [sys.executable, REFUSE, "landlock,unshare", "--", *serve]
    url = f"http://{LOOPBACK}:{port_number}"
    with running(command, f"{url}/health", env=env, timeout=120, log=log):
        health = httpx.get(f"{url}/health", timeout=10).json()
        answer = httpx.get(
            f"{url}/sparql",
            params={"query": "ASK { ?s ?p ?o }"},
            headers={"Accept": JSON_RESULTS},
            timeout=30,
        )
    assert health["network_sandbox"] == "none" and health["status"] == "ok"
    assert answer.status_code == 200 and answer.json()["boolean"] is True  # the workers still run
    warnings = [line for line in log.read_text().splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, warnings
    [warning] = warnings
    assert "NO NETWORK SANDBOX for the query workers" in warning
    assert "landlock_create_ruleset: ENOSYS" in warning and "unshare(" in warning and "EPERM" in warning
