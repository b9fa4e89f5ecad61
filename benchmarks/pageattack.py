"""The page attack of ``python -m benchmarks bench`` (``python -m benchmarks bench --only page-attack`` runs
it alone).

Our server, with its default settings, serves the release while ``wrk`` (a C load generator,
Debian package ``wrk``) keeps 16 connections busy for 15 s asking for the largest page (the Russia
resource page) and for VoID in turn, each request with a new ``Host`` header; a separate process
polls ``/health`` every 20 ms all along (:class:`~benchmarks.healthprobe.HealthProbe`). Before the
render gate (:mod:`mildip_ld.server.render_gate`) this made most health checks fail. It reports the
health latencies and failed checks, the pages' requests per second and non-2xx answers, and how
many renders the server ran (from ``/metrics``). A second run turns the render cache off
(``MILDIP_PAGE_CACHE_MB=0``), so that every request renders: the render threads then compete with
the event loop for the GIL, and the gate's bounds (503 past them) are what keeps ``/health`` up.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.healthprobe import HealthProbe
from benchmarks.launch import LOOPBACK, free_port, running, serve_command
from benchmarks.loadtest import percentile

PATHS = ("/doc/russia.html", "/.well-known/void")
CLIENTS = 16
SECONDS = 15
HEALTH_LIMIT_S = 0.1
"""The issue's bound on /health while attacked: p99 under 100 ms, no failed check."""
WRK_SCRIPT = r"""
local paths = {PATHS}
local counter = 0
request = function()
  counter = counter + 1
  local host = string.format("attacker-%d-%d.example", math.random(1, 1000000000), counter)
  return wrk.format("GET", paths[counter % #paths + 1], {["Host"] = host})
end
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("mildip requests=%d seconds=%f transport=%d non2xx=%d p50=%f p99=%f\n",
    summary.requests, summary.duration / 1e6, errors.connect + errors.read + errors.write + errors.timeout,
    errors.status, latency:percentile(50) / 1e6, latency:percentile(99) / 1e6))
end
""".replace("PATHS", ", ".join(f'"{path}"' for path in PATHS))
"""Each request names a new Host (a random number and a counter per wrk thread)."""


SCENARIOS = (
    ("default settings", {}),
    ("no render cache (MILDIP_PAGE_CACHE_MB=0): every request renders", {"MILDIP_PAGE_CACHE_MB": "0"}),
)
"""The runs: a name and the settings (MILDIP_* variables) of the server."""


@dataclass
class AttackResult:
    """What the page attack measured."""

    scenario: str = ""
    requests: int = 0
    seconds: float = 0.0
    transport_errors: int = 0
    non_2xx: int = 0
    page_p50: float = 0.0
    page_p99: float = 0.0
    health: list[float] = field(default_factory=list)
    failed_checks: int = 0
    slow_checks: int = 0
    renders: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_binary() -> str | None:
    """The ``wrk`` load generator, if installed."""
    return shutil.which("wrk")


def _parse_wrk(output: str, result: AttackResult) -> None:
    line = next(line for line in output.splitlines() if line.startswith("mildip "))
    values = dict(item.split("=") for item in line.split()[1:])
    result.requests, result.seconds = int(values["requests"]), float(values["seconds"])
    result.transport_errors, result.non_2xx = int(values["transport"]), int(values["non2xx"])
    result.page_p50, result.page_p99 = float(values["p50"]), float(values["p99"])


def _renders(base: str) -> dict[str, float]:
    """The server's ``mildip_render_total`` by ``what/outcome``."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return {
        f"{sample.labels['what']}/{sample.labels['outcome']}": sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "mildip_render_total"
    }


def run_page_attack(release: Path, progress: Callable[[str], None] = print) -> list[AttackResult]:
    """Each of :data:`SCENARIOS` in turn."""
    return [attack(release, name, settings, progress=progress) for name, settings in SCENARIOS]


def attack(
    release: Path,
    scenario: str,
    settings: dict[str, str],
    clients: int = CLIENTS,
    seconds: int = SECONDS,
    progress: Callable[[str], None] = print,
) -> AttackResult:
    """Serve ``release`` with the default settings and ``settings`` and attack its pages with ``wrk``."""
    wrk = wrk_binary()
    if wrk is None:
        raise SystemExit("the page attack needs wrk, a C load generator: apt-get install wrk")
    env = {key: value for key, value in os.environ.items() if not key.startswith("MILDIP_")} | settings
    result = AttackResult(scenario)
    with tempfile.TemporaryDirectory(prefix="mildip-attack-") as scratch:
        folder = Path(scratch)
        script = folder / "attack.lua"
        script.write_text(WRK_SCRIPT)
        port = free_port()
        base = f"http://{LOOPBACK}:{port}"
        command = serve_command(port, release.parent.parent) + ["--store", str(release)]
        with running(command, f"{base}/health", env=env, log=folder / "attack.log"):
            progress(
                f"page attack, {scenario}: {clients} connections for {seconds} s on {', '.join(PATHS)}, "
                f"a new Host header each request (wrk)"
            )
            with HealthProbe(base) as probe:
                attack = subprocess.run(
                    [
                        wrk,
                        "-t",
                        "2",
                        "-c",
                        str(clients),
                        "-d",
                        f"{seconds}s",
                        "--timeout",
                        "10s",
                        "-s",
                        str(script),
                        base + PATHS[0],
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
            result.renders = _renders(base)
    _parse_wrk(attack.stdout, result)
    result.health = probe.latencies
    result.failed_checks = sum(count for status, count in probe.statuses.items() if status != 200)
    result.slow_checks = len(probe.slow(HEALTH_LIMIT_S))
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def table(results: list[AttackResult]) -> str:
    """The Markdown report of the page attack."""
    lines = [
        f"Page attack: {CLIENTS} connections (wrk) for {SECONDS} s on the Russia page and VoID, a new "
        "Host header each request; /health polled every 20 ms from another process "
        f"(bound: p99 under {HEALTH_LIMIT_S * 1000:.0f} ms, no failed check)",
        "",
        "| server | page req/s | page p50 ms | page p99 ms | non-2xx | transport errors | health checks "
        "| health p50 ms | health p99 ms | health max ms | failed checks "
        "| slow checks the machine does not explain |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        health = result.health or [0.0]
        lines.append(
            f"| {result.scenario} | {result.throughput:.1f} | {_ms(result.page_p50)} | "
            f"{_ms(result.page_p99)} | {result.non_2xx} | {result.transport_errors} | "
            f"{len(result.health)} | {_ms(statistics.median(health))} | "
            f"{_ms(percentile(health, 0.99))} | {_ms(max(health))} | {result.failed_checks} | "
            f"{result.slow_checks} |"
        )
    lines.append("")
    for result in results:
        rendered = ", ".join(f"{key} {value:g}" for key, value in sorted(result.renders.items())) or "-"
        lines.append(f"Renders, {result.scenario} (mildip_render_total, what/outcome): {rendered}")
    return "\n".join(lines)
