"""Watch ``/health`` from a separate process while something else runs, with a control beside it.

The probe process sends ``GET /health`` every ``interval`` seconds over one kept-alive connection
and, right after each, the same request to a control server: a minimal HTTP server in a process
of its own that does nothing else. A slow health answer beside a fast control answer is the
server's fault; when both are slow at the same moment the whole machine stalled (another job on
a shared machine, the probe itself not scheduled), which :meth:`HealthProbe.slow` can tell apart.
"""

from __future__ import annotations

import math
import multiprocessing
import subprocess
import sys
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import httpx

CONTROL_SERVER = r"""
import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):  # one write: two small ones would wait for a delayed ACK (Nagle)
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    def log_message(self, *_):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
"""


def _timed_get(client: httpx.Client, url: str) -> tuple[float, int]:
    sent = time.perf_counter()
    try:
        status = client.get(url).status_code
    except httpx.HTTPError:
        return math.inf, 0
    return time.perf_counter() - sent, status


def _probe_loop(url: str, control: str, interval: float, stop: Any, results: Connection) -> None:
    """The probe process: until ``stop`` is set, GET ``url`` then ``control``; then send the
    send times, the latencies of both (inf: no answer) and the statuses of ``url``."""
    times: list[float] = []
    latencies: list[float] = []
    controls: list[float] = []
    statuses: Counter[int] = Counter()
    with httpx.Client(timeout=10) as client, httpx.Client(timeout=10) as control_client:
        while not stop.is_set():
            times.append(time.time())
            latency, status = _timed_get(client, url)
            latencies.append(latency)
            statuses[status] += 1
            controls.append(_timed_get(control_client, control)[0])
            stop.wait(interval)
    results.send((times, latencies, controls, statuses))
    results.close()


class HealthProbe:
    """Polls ``base``/health (and a control server) from separate processes while the block runs."""

    def __init__(self, base: str, interval: float = 0.02) -> None:
        self.base, self.interval = base, interval
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._receive, self._send = context.Pipe(duplex=False)
        self._process: Any = None
        self._control: subprocess.Popen[str] | None = None
        self.times: list[float] = []
        """When each probe was sent (``time.time()``)."""
        self.latencies: list[float] = []
        """Seconds each /health took (inf: no answer)."""
        self.controls: list[float] = []
        """Seconds the control request right after each took."""
        self.statuses: Counter[int] = Counter()
        """Statuses of /health (0: no answer)."""

    def __enter__(self) -> HealthProbe:
        self._control = subprocess.Popen(
            [sys.executable, "-c", CONTROL_SERVER], stdout=subprocess.PIPE, text=True
        )
        assert self._control.stdout is not None
        control = f"http://127.0.0.1:{self._control.stdout.readline().strip()}/"
        context = multiprocessing.get_context("spawn")
        self._process = context.Process(
            target=_probe_loop,
            daemon=True,
            args=(f"{self.base}/health", control, self.interval, self._stop, self._send),
        )
        self._process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> list[float]:
        """Stop probing (once) and return the /health latencies, in seconds."""
        if not self._stop.is_set():
            self._stop.set()
            if self._receive.poll(30):
                self.times, self.latencies, self.controls, self.statuses = self._receive.recv()
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
            if self._control is not None:
                self._control.kill()
                self._control.wait()
        return self.latencies

    def slow(self, limit: float) -> list[tuple[float, float, float]]:
        """The probes over ``limit`` seconds that the machine does not explain: (sent at, /health
        latency, control latency) where the control request right after took less than half as long."""
        probes = zip(self.times, self.latencies, self.controls, strict=True)
        return [
            (sent, latency, control)
            for sent, latency, control in probes
            if latency >= limit and not control >= latency / 2
        ]
