"""``python -m benchmarks ceiling``: how far the Python stack can go, beside Oxigraph's server.

Issue 19 asks evaluated lookups at 0.5x Oxigraph's server and cached ones at 2x. This measures,
with the scale benchmark's client (wrk, one thread, 4 connections, :func:`benchmarks.peers.throughput`)
and in one run, rounds interleaved, medians:

- Oxigraph's server (``oxigraph serve-read-only``) evaluating the lookup;
- the ceiling: uvicorn (uvloop, httptools) serving Oxigraph's answer to it from an ASGI
  application that does nothing else (:mod:`benchmarks.constant_app`), in one process and in one
  per core. No endpoint on uvicorn answers faster, whatever it caches;
- ours, evaluating every request (response cache off, one process) and with its defaults and one
  process per core (``ours-cached``).

With ``--data DIR`` it also measures the floor of a build: parsing DIR's Turtle into one rdflib
graph, in a child process (seconds, peak resident memory), the first step of ``mildip build``.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.launch import LOOPBACK, ONE_PROCESS_PER_CORE, free_port
from benchmarks.peers import RESULTS_JSON, Client, Server, count_rows, ours, oxigraph, throughput
from benchmarks.scalebench import LOOKUP_TEXT

CEILING = "uvicorn-constant"


def constant_server(body: Path, logs: Path, processes: int) -> Server:
    """uvicorn serving :mod:`benchmarks.constant_app` with the answer in ``body``."""
    port = free_port()
    name = CEILING if processes == 1 else f"{CEILING}-{processes}"
    command = [sys.executable, "-m", "uvicorn", "benchmarks.constant_app:app", "--host", LOOPBACK]
    command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    command += ["--log-level", "warning", "--workers", str(processes)]
    env = {**os.environ, "MILDIP_CEILING_BODY": str(body), "MILDIP_CEILING_TYPE": RESULTS_JSON}
    return Server(name, command, port, "/sparql", logs / f"{name}.log", env)


def run_ceiling(
    build_dir: Path,
    work: Path,
    rounds: int = 3,
    seconds: float = 5.0,
    limit: float = 10.0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Requests/s and server CPU per request of the lookup on every server, ``rounds`` times."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    release = (build_dir / "current").resolve()
    peer, _ = oxigraph(release, work, logs)
    runs: dict[str, list[dict[str, float]]] = {}
    answers: dict[str, bytes] = {}
    servers = [peer]
    cores = int(ONE_PROCESS_PER_CORE["MILDIP_PROCESSES"])
    try:
        peer.start()
        answers[peer.name] = _answer(peer, limit)
        body = work / "lookup.json"
        body.write_bytes(answers[peer.name])
        servers += [constant_server(body, logs, 1)]
        servers += [constant_server(body, logs, cores)] if cores > 1 else []
        servers += [ours(build_dir, logs, limit), ours(build_dir, logs, limit, cached=True)]
        for server in servers[1:]:
            server.start()
            answers[server.name] = _answer(server, limit)
        for number in range(1, rounds + 1):
            for server in servers:
                progress(f"round {number}/{rounds}: {server.name}")
                runs.setdefault(server.name, []).append(throughput(server, LOOKUP_TEXT, seconds, limit))
    finally:
        for server in servers:
            server.stop()
    return {
        "rounds": rounds,
        "seconds": seconds,
        "cores": cores,
        "answer_bytes": len(answers[peer.name]),
        "servers": {
            name: {
                "rows": count_rows(answers[name]),
                "answer_sha256": hashlib.sha256(answers[name]).hexdigest(),
                "requests_per_second": statistics.median(r["requests_per_second"] for r in found),
                "cpu_us_per_request": statistics.median(r["cpu_us_per_request"] for r in found),
                "errors": sum(r["errors"] for r in found),
                "runs": [round(r["requests_per_second"]) for r in found],
            }
            for name, found in runs.items()
        },
    }


def _answer(server: Server, limit: float) -> bytes:
    """``server``'s answer to the lookup (the report says each one's rows, so that the figures are
    of the same answer); SystemExit for an error status."""
    status, answer = Client(server.port, server.path, limit).get(LOOKUP_TEXT)
    if status != 200:
        raise SystemExit(f"{server.name} answered the lookup with HTTP {status}")
    return answer


def write_report(report: dict[str, Any], json_file: Path, markdown_file: Path) -> None:
    """Write the report as JSON and as Markdown."""
    for file in (json_file, markdown_file):
        file.parent.mkdir(parents=True, exist_ok=True)
    json_file.write_text(json.dumps(report, indent=2) + "\n")
    markdown_file.write_text(markdown(report) + "\n")


def parse_floor(data_dir: Path) -> dict[str, float]:
    """Parse every Turtle file under ``data_dir`` into one rdflib graph in a child process:
    its triples, seconds and peak resident memory (MiB)."""
    code = f"from benchmarks.ceiling import _parse_here; _parse_here({str(data_dir)!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def _parse_here(data_dir: str) -> None:
    from rdflib import Graph

    started, graph = time.perf_counter(), Graph()
    for file in sorted(Path(data_dir).rglob("*.ttl")):
        graph.parse(file)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"triples": len(graph), "seconds": seconds, "peak_mib": peak_mib}))


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: a row per server, its ratio to Oxigraph's server, the verdicts."""
    servers = report["servers"]
    base = servers["oxigraph"]["requests_per_second"]
    lines = [
        f"## Lookup ceiling ({report['rounds']} rounds of {report['seconds']:g} s, wrk 4 connections, "
        f"{report['cores']} cores, answer {report['answer_bytes']} bytes)",
        "",
        "| server | req/s (median) | x Oxigraph's server | server CPU µs per request | runs |",
        "|---|---:|---:|---:|---|",
    ]
    for name, found in servers.items():
        rate = found["requests_per_second"]
        runs = ", ".join(f"{r:,}" for r in found["runs"])
        lines.append(
            f"| {name} | {rate:,.0f} | {rate / base:.2f} | {found['cpu_us_per_request']:,.0f} | {runs} |"
        )
    ceilings = [name for name in servers if name.startswith(CEILING)]
    best = max(servers[name]["requests_per_second"] for name in ceilings)
    lines += [
        "",
        f"- Evaluated lookups (`ours`): {servers['ours']['requests_per_second'] / base:.2f}x Oxigraph's "
        f"server (issue 19's target: 0.5x).",
        f"- Cached lookups (`ours-cached`): {servers['ours-cached']['requests_per_second'] / base:.2f}x "
        f"(target: 2x). The ceiling, uvicorn answering a constant: {best / base:.2f}x.",
    ]
    if "parse_floor" in report:
        floor = report["parse_floor"]
        lines += [
            f"- Build floor: rdflib parses {floor['triples']:,} triples in {floor['seconds']:.1f} s, "
            f"peak {floor['peak_mib']:,.0f} MiB (before validation, inference and the record)."
        ]
    return "\n".join(lines)
