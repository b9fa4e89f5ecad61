"""Real servers for tests: ``mildip serve`` as a child process on a free loopback port.

Import the fixtures into a test module (``from tests.live_server import live_server``). Each
server serves the session's build (conftest's ``built``), waits for ``/health`` before the
tests run, and is stopped like Ctrl-C stops it at the end of the session. ``recorder`` is a
loopback HTTP server that records every request made to it: a test points SERVICE, LOAD, an
external entity or a JSON-LD context at it to prove that nothing was fetched.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchmarks.launch import LOOPBACK, free_port, running, serve_command
from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.config import DEFAULT_PATHS


@dataclass(frozen=True)
class LiveServer:
    """A running server: its base URL, process id and the build folder it serves."""

    url: str
    pid: int
    build_dir: Path

    @property
    def sparql(self) -> str:
        return f"{self.url}/sparql"


def writable_data(build_dir: Path) -> Path:
    """A copy of the project's data folder beside ``build_dir`` (made once), for a server that
    writes: its change log (``data/changes/``) then never lands in the project's own data."""
    data = build_dir.parent / "data"
    if not data.exists():
        shutil.copytree(DEFAULT_PATHS.data, data, ignore=shutil.ignore_patterns("changes"))
    return data


def serve(build_dir: Path, log: Path, **settings: str) -> Iterator[LiveServer]:
    """Run ``mildip serve`` on ``build_dir`` with ``settings`` as MILDIP_* variables (others unset);
    a server with an update token writes its change log into :func:`writable_data`."""
    if "update_token" in settings:
        settings.setdefault("data_dir", str(writable_data(build_dir)))
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MILDIP_")}
    env |= {f"MILDIP_{key.upper()}": value for key, value in settings.items()}
    url = f"http://{LOOPBACK}:{port}"
    with running(serve_command(port, build_dir), f"{url}/health", env=env, timeout=120, log=log) as process:
        yield LiveServer(url, process.pid, build_dir)


def build_dir_of(built: BuildReport) -> Path:
    """The build folder holding ``built``'s release (its ``current`` link points to it)."""
    return built.release.parent.parent


@pytest.fixture(scope="session")
def live_server(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with the default settings (read-only, 10 s limit, SERVICE refused)."""
    yield from serve(build_dir_of(built), tmp_path_factory.mktemp("logs") / "live.log")


@pytest.fixture(scope="session")
def update_server(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with SPARQL Update enabled (token ``test-token``), on a copy of the build."""
    copy = tmp_path_factory.mktemp("writable") / "build"
    shutil.copytree(build_dir_of(built), copy, symlinks=True)
    yield from serve(copy, copy.parent / "update.log", update_token="test-token")


@dataclass
class Recorder:
    """A loopback HTTP server that records every request and answers an empty SPARQL result."""

    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            hits.append(f"{self.command} {self.path}")
            body = b'{"head":{"vars":[]},"results":{"bindings":[{}]}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/sparql-results+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer  # noqa: N815 (http.server's names)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Recorder(f"http://127.0.0.1:{server.server_port}/sparql", hits)
    server.shutdown()
