"""Start an HTTP server as a child process on a free loopback port, wait for it, stop it.

Used by ``python -m benchmarks bench`` (our server and Oxigraph's) and by the tests' live-server fixtures.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

LOOPBACK = "127.0.0.1"
ONE_PROCESS_PER_CORE = {"MILDIP_PROCESSES": str(os.cpu_count() or 1)}
"""How the benchmarks run our server with its response cache on: one server process per core,
as Oxigraph's server uses every core (a hit costs only the Python HTTP stack, which one
process runs on one core)."""


class ServerFailedError(RuntimeError):
    """The server exited or did not answer in time."""


XDIST_PORTS = 2000
"""Ports per pytest-xdist worker: worker ``gwN`` takes its free ports from its own range."""
XDIST_FIRST_PORT = 20000


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now. Under pytest-xdist,
    each worker looks in a range of its own: a port one worker probed and let go is never handed
    to a server of another worker before the first one's server binds it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")
    if not worker.isdigit():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((LOOPBACK, 0))
            return int(probe.getsockname()[1])
    first = XDIST_FIRST_PORT + int(worker) * XDIST_PORTS
    for port in random.sample(range(first, first + XDIST_PORTS), XDIST_PORTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise ServerFailedError(f"no free port in {first}..{first + XDIST_PORTS - 1}")


def serve_command(port: int, build_dir: Path | None = None) -> list[str]:
    """The command that runs ``mildip serve`` with this interpreter on ``port``."""
    command = [sys.executable, "-m", "mildip_ld"]
    if build_dir is not None:
        command += ["--build-dir", str(build_dir)]
    return command + ["serve", "--host", LOOPBACK, "--port", str(port)]


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll ``url`` until it answers 200; raise :class:`ServerFailedError` if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailedError(f"server exited with status {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise ServerFailedError(f"no answer from {url} within {timeout:g} s")


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a server like Ctrl-C does (SIGINT), then kill it if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running(
    command: Sequence[str],
    ready_url: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    log: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (with environment ``env``, default: this one) until the block ends, once
    ``ready_url`` answers; its output goes to ``log``."""
    with open(log or os.devnull, "ab") as output:
        process = subprocess.Popen(
            list(command), env=dict(env) if env is not None else None, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            try:
                wait_until_up(ready_url, process, timeout)
            except ServerFailedError as failure:
                raise ServerFailedError(f"{failure}\n{_tail(log)}") from None
            yield process
        finally:
            stop(process)
