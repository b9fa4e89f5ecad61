"""The servers of ``python -m benchmarks scalebench`` and the HTTP client that times them.

Three servers answer SPARQL over HTTP on the same release: ours (``mildip serve``, with its
response cache off and on), Oxigraph's
(``oxigraph serve-read-only`` on a store loaded from the release's ``dataset.nq``) and
rdflib-endpoint (:mod:`benchmarks.rdflib_peer`). Each runs alone while it is measured, as a child
process on a free loopback port. The load generator is ``wrk`` (Debian's C load generator, one
thread, :data:`CONNECTIONS` kept-alive connections): it costs far less CPU per request than any
Python client, so on two cores it leaves them to the server it measures. A first request by
``http.client`` counts each answer's rows (and tells a failure or a timeout).

A query past the time limit is abandoned on the client side; then :meth:`Server.recover`
makes sure the server is not still busy with it (ours stops it itself; Oxigraph's server is
restarted; rdflib-endpoint's serving process is replaced by a fresh fork of its loaded parent).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks.bench import _oxigraph_binary
from benchmarks.engines import Sample
from benchmarks.launch import (
    LOOPBACK,
    ONE_PROCESS_PER_CORE,
    ServerFailedError,
    free_port,
    serve_command,
    stop,
    wait_until_up,
)
from benchmarks.pageattack import wrk_binary
from benchmarks.rdflib_peer import PATH as RDFLIB_PATH
from benchmarks.rdflib_peer import restart as restart_rdflib
from mildip_ld.release.build import DATASET_FILE

RESULTS_JSON = "application/sparql-results+json"
PROBE = "ASK {}"
START_TIMEOUT_S = 900.0
"""Loading 10^6 triples into rdflib takes minutes; the others start in seconds."""
CONNECTIONS = 4
"""wrk's concurrent connections, for every figure (the issue's harness)."""
WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("mildip requests=%d seconds=%f failed=%d timeouts=%d p50=%f p99=%f\n",
    summary.requests, summary.duration / 1e6,
    errors.connect + errors.read + errors.write + errors.status, errors.timeout,
    latency:percentile(50) / 1e6, latency:percentile(99) / 1e6))
end
"""
"""Prints wrk's figures on one line: answers (all of them, errors included), failures, medians."""


class QueryFailedError(Exception):
    """The server answered with an error status."""


def count_rows(body: bytes) -> int:
    """Solutions of a SPARQL JSON results document (1 or 0 for ASK)."""
    answer = json.loads(body)
    return len(answer["results"]["bindings"]) if "results" in answer else int(answer.get("boolean", 0))


class Client:
    """One kept-alive connection to a SPARQL endpoint; ``timeout`` bounds each request."""

    def __init__(self, port: int, path: str, timeout: float) -> None:
        self.port, self.path, self.timeout = port, path, timeout
        self._connection: http.client.HTTPConnection | None = None

    def get(self, query: str) -> tuple[int, bytes]:
        """Send ``query`` by GET; (status, body). Raises ``TimeoutError`` past the timeout."""
        if self._connection is None:
            self._connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=self.timeout)
        try:
            self._connection.request(
                "GET", f"{self.path}?query={quote(query)}", headers={"Accept": RESULTS_JSON}
            )
            answer = self._connection.getresponse()
            return answer.status, answer.read()
        except BaseException:
            self.close()
            raise

    def rows(self, query: str) -> int:
        """Rows of the answer; :class:`QueryFailedError` for an error status."""
        status, body = self.get(query)
        if status != 200:
            raise QueryFailedError(f"HTTP {status}: {body[:200].decode('utf-8', 'replace').strip()}")
        return count_rows(body)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class Server:
    """A SPARQL server child process: how to start it and where it answers."""

    name: str
    command: list[str]
    port: int
    path: str
    log: Path
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0
    """From launch to the first answer (loading included)."""
    notes: list[str] = field(default_factory=list)

    @property
    def probe_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}{self.path}?query={quote(PROBE)}"

    def start(self) -> None:
        """Launch and wait until the endpoint answers ``ASK {}``."""
        output = open(self.log, "ab")  # noqa: SIM115 - kept open while the process runs
        started = time.perf_counter()
        self.process = subprocess.Popen(self.command, env=self.env, stdout=output, stderr=subprocess.STDOUT)
        output.close()
        try:
            wait_until_up(self.probe_url, self.process, START_TIMEOUT_S)
        except ServerFailedError:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def recover(self) -> None:
        """After an abandoned query: make sure the server is not busy with it any more."""
        self.stop()
        self.start()

    def settle(self, limit: float) -> None:
        """After a load run: the requests wrk left in flight at its end may keep a server that
        answers one at a time busy for long; one that does not answer ``ASK {}`` within ``limit``
        seconds is recovered."""
        client = Client(self.port, self.path, limit)
        try:
            client.get(PROBE)
        except (TimeoutError, ConnectionError):
            self.recover()
        finally:
            client.close()

    def _processes(self) -> list[Any]:
        """The server's process and its children (query workers, a forked server) as psutil objects."""
        import psutil

        if self.process is None:
            return []
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def rss_bytes(self) -> int:
        """Resident memory of the server and its child processes."""
        import psutil

        try:
            return sum(p.memory_info().rss for p in self._processes())
        except psutil.Error:
            return 0

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server and its live child processes have used so far."""
        import psutil

        total = 0.0
        for process in self._processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total


class OurServer(Server):
    """``mildip serve``: it stops a query past its own limit, so there is nothing to recover."""

    def recover(self) -> None:
        wait_until_up(self.probe_url, self.process, 60)


class RdflibServer(Server):
    """rdflib-endpoint behind :mod:`benchmarks.rdflib_peer`: recovering forks a fresh server."""

    def recover(self) -> None:
        assert self.process is not None
        restart_rdflib(self.process.pid)
        wait_until_up(self.probe_url, self.process, 60)


def ours(build_dir: Path, logs: Path, limit: float, cached: bool = False) -> Server:
    """Our server on ``build_dir``'s current release, with the benchmark's time limit, no cap on
    the answer's size (the peers have none) and no access log (the peers write none). Its response
    cache is off (every request is evaluated, as the peers do) unless ``cached``: then it keeps
    its default, runs one server process per core, and is named ``ours-cached``."""
    port = free_port()
    name = "ours-cached" if cached else "ours"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MILDIP_")}
    env |= {
        "MILDIP_QUERY_TIMEOUT_S": str(limit),
        "MILDIP_MAX_RESULTS": str(10**8),
        "MILDIP_ACCESS_LOG": "false",
    }  # as the peers: they log no line per request
    env |= ONE_PROCESS_PER_CORE if cached else {"MILDIP_RESPONSE_CACHE_MB": "0"}
    return OurServer(name, serve_command(port, build_dir), port, "/sparql", logs / f"{name}.log", env)


def oxigraph(release: Path, work: Path, logs: Path) -> tuple[Server, float]:
    """Oxigraph's server on a store loaded (``oxigraph load``) from the release's N-Quads; also
    the seconds that load took."""
    location = work / "oxigraph-peer"
    binary = _oxigraph_binary()
    started = time.perf_counter()
    with open(logs / "oxigraph-load.log", "ab") as output:
        subprocess.run(
            [binary, "load", "--location", str(location), "--file", str(release / DATASET_FILE)],
            check=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    loaded = time.perf_counter() - started
    port = free_port()
    command = [
        binary,
        "serve-read-only",
        "--location",
        str(location),
        "--bind",
        f"{LOOPBACK}:{port}",
        "--union-default-graph",
    ]
    return Server("oxigraph", command, port, "/query", logs / "oxigraph.log"), loaded


def rdflib_endpoint(release: Path, logs: Path) -> Server:
    """rdflib-endpoint on the release's N-Quads (default graph = union of the named graphs)."""
    import sys

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "benchmarks.rdflib_peer",
        str(release / DATASET_FILE),
        "--port",
        str(port),
    ]
    return RdflibServer("rdflib-endpoint", command, port, RDFLIB_PATH, logs / "rdflib-endpoint.log")


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured: requests answered (successes), failures, latency median and p99
    (of every answer, in seconds), and the server's CPU seconds meanwhile."""

    requests: int
    failed: int
    timeouts: int
    seconds: float
    p50: float
    p99: float
    server_cpu_seconds: float

    @property
    def answered(self) -> int:
        return self.requests - self.failed - self.timeouts


def run_wrk(server: Server, text: str, seconds: float, limit: float) -> WrkRun:
    """``wrk`` sending ``text`` by GET (asking for SPARQL JSON) on :data:`CONNECTIONS` connections for
    ``seconds``, each request abandoned past ``limit`` (both rounded up to whole seconds, as wrk
    takes them); and the server's CPU time meanwhile."""
    binary = wrk_binary()
    if binary is None:
        raise SystemExit("the benchmarks need wrk, the C load generator: apt-get install wrk")
    url = f"http://{LOOPBACK}:{server.port}{server.path}?query={quote(text)}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        command = [
            binary,
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{math.ceil(seconds)}s",
            f"--timeout={math.ceil(limit)}s",
        ]
        command += ["-H", f"Accept: {RESULTS_JSON}", "-s", script.name, url]
        cpu_before = server.cpu_seconds()
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        cpu = server.cpu_seconds() - cpu_before
    line = next(line for line in done.stdout.splitlines() if line.startswith("mildip "))
    values = dict(item.split("=") for item in line.split()[1:])
    return WrkRun(
        int(values["requests"]),
        int(values["failed"]),
        int(values["timeouts"]),
        float(values["seconds"]),
        float(values["p50"]),
        float(values["p99"]),
        cpu,
    )


def measure(server: Server, text: str, seconds: float, limit: float) -> Sample:
    """One query: a first request counts its rows (and tells a failure, or a run past ``limit``
    seconds: the server is then recovered), a second one times it warm; then wrk sends it for
    ``seconds``, or for :data:`CONNECTIONS` times the warm run if that is longer (so that every
    connection is answered more than once), at most ``limit``. The sample holds wrk's median and
    p99 latency; only when wrk got no answer back, the warm run alone (``cold``)."""
    client = Client(server.port, server.path, limit)
    try:
        rows = client.rows(text)
        started = time.perf_counter()
        client.rows(text)
        warm = time.perf_counter() - started
    except TimeoutError:
        client.close()
        server.recover()
        return {"status": "timeout"}
    except QueryFailedError as failure:
        if "time limit" in str(failure):  # ours: stopped at its own limit
            return {"status": "timeout"}
        return {"status": "error", "error": str(failure)}
    finally:
        client.close()
    run = run_wrk(server, text, min(max(seconds, CONNECTIONS * warm), limit), limit)
    if run.timeouts:
        server.recover()
    else:
        server.settle(limit)
    if run.failed:
        return {"status": "error", "error": f"wrk: {run.failed} failed of {run.requests}"}
    if not run.answered:
        return {"status": "ok", "median": warm, "p99": warm, "rows": rows, "cold": True}
    return {"status": "ok", "median": run.p50, "p99": run.p99, "rows": rows, "requests": run.answered}


def throughput(server: Server, text: str, seconds: float, limit: float) -> dict[str, float]:
    """Requests per second of ``text`` from wrk (:data:`CONNECTIONS` connections, ``seconds``, after
    one warm-up request), and the server's CPU time per request (its own process and its
    children). On a small machine wrk shares the cores with the server, so the CPU per request is
    the server's own cost; requests/s measure the pair."""
    Client(server.port, server.path, limit).get(text)
    run = run_wrk(server, text, seconds, limit)
    return {
        "requests_per_second": run.answered / run.seconds,
        "requests": run.answered,
        "errors": run.failed + run.timeouts,
        "seconds": run.seconds,
        "median_s": run.p50,
        "p99_s": run.p99,
        "server_cpu_seconds": run.server_cpu_seconds,
        "cpu_us_per_request": run.server_cpu_seconds / run.answered * 1e6 if run.answered else 0.0,
    }
