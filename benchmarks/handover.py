"""``python -m benchmarks handover``: a release handed over to Virtuoso 7 beside the embedded store.

On the current release of a build folder (``--build-dir``; e.g. one of ``python -m benchmarks
synth --triples 1000000`` built with ``mildip --data``), it starts a Virtuoso of its own
(:mod:`benchmarks.virtuoso`), times ``mildip publish`` into it (every named graph PUT through
the digest-authenticated Graph Store), then our server twice, one at a time: on the embedded
store and with ``--store sparql:`` Virtuoso (both with the response cache off, so every request
is evaluated), and times every ``queries/*.rq`` (the federated one aside) on each: median and
rows. Prints a Markdown table and writes it with the JSON. Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from benchmarks.bench import load_queries
from benchmarks.peers import measure, ours
from benchmarks.virtuoso import virtuoso
from mildip_ld.release.build import current_release
from mildip_ld.release.publish import publish
from mildip_ld.vocab.settings import StoreCredentials

Progress = Callable[[str], None]
PUT_TIMEOUT_S = 3600.0
"""Per graph: Virtuoso's Graph Store takes each PUT in one transaction, about 4,000 triples/s on a
loaded 2-core machine (the derivations record of 10^5, 2.6 M triples, passed 600 s)."""


def run_handover(
    build_dir: Path,
    queries_dir: Path,
    folder: Path,
    repeats: int = 5,
    budget: float = 20.0,
    limit: float = 60.0,
    memory_mb: int = 2048,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Publish ``build_dir``'s current release to a new Virtuoso in ``folder`` and time the example
    queries on our server over the embedded store and over Virtuoso."""
    release = current_release(build_dir)
    if release is None:
        raise RuntimeError(f"nothing built in {build_dir}; run mildip build first")
    queries, _ = load_queries(queries_dir)
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"release": release.name, "virtuoso_memory_mb": memory_mb, "queries": {}}
    with virtuoso(folder / "virtuoso", memory_mb) as store:
        progress(f"publishing {release.name} to {store.graph_store}")
        started = time.perf_counter()
        pushed = publish(
            release,
            store.graph_store,
            timeout=PUT_TIMEOUT_S,
            credentials=StoreCredentials(store.user, SecretStr(store.password)),
        )
        report["publish_seconds"] = time.perf_counter() - started
        report["triples"] = sum(done.triples for done in pushed)
        report["publish_bytes"] = sum(done.size for done in pushed)
        report["virtuoso_disk_bytes"] = sum(
            path.stat().st_size for path in (folder / "virtuoso").glob("virtuoso*.db")
        )
        progress(f"published {report['triples']} triples in {report['publish_seconds']:.1f} s")
        embedded = ours(build_dir, logs, limit)
        over_virtuoso = replace(
            ours(build_dir, logs, limit),
            name="virtuoso",
            log=logs / "virtuoso-api.log",
            env={**(embedded.env or {}), "MILDIP_STORE": f"sparql:{store.sparql}"},
        )
        servers = {"embedded": embedded, "virtuoso": over_virtuoso}
        for name, server in servers.items():
            progress(f"  {name}: starting")
            server.start()
            try:
                report[f"{name}_startup_seconds"] = server.startup_seconds
                for query, text in queries.items():
                    sample = measure(server, text, repeats, budget, limit)
                    report["queries"].setdefault(query, {})[name] = sample
            finally:
                server.stop()
    return report


def _cell(sample: dict[str, Any]) -> str:
    if sample.get("status") != "ok":
        return sample.get("status", "?")
    return f"{statistics.median(sample['times']) * 1000:.0f} ms ({sample['rows']} rows)"


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table: each query's median on each store, and the ratio."""
    lines = [
        f"{report['triples']:,} triples published to Virtuoso in {report['publish_seconds']:.1f} s "
        f"({report['publish_bytes'] / 2**20:.0f} MiB of N-Triples; Virtuoso's database "
        f"{report['virtuoso_disk_bytes'] / 2**20:.0f} MiB)",
        "",
        "| query | embedded | Virtuoso | Virtuoso / embedded |",
        "|---|---|---|---|",
    ]
    for name, samples in report["queries"].items():
        embedded, remote = samples.get("embedded", {}), samples.get("virtuoso", {})
        ratio = ""
        if embedded.get("status") == remote.get("status") == "ok":
            ratio = f"{statistics.median(remote['times']) / statistics.median(embedded['times']):.2f}"
        lines.append(f"| {name} | {_cell(embedded)} | {_cell(remote)} | {ratio} |")
    return "\n".join(lines)


def write_report(report: dict[str, Any], json_file: Path, markdown_file: Path) -> None:
    """Write the JSON and the Markdown table."""
    json_file.write_text(json.dumps(report, indent=2))
    markdown_file.write_text(markdown(report) + "\n")
