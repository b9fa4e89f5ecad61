"""``python -m benchmarks bench``: latency and throughput of this server next to Oxigraph's own, on one store.

Both servers run as child processes on free loopback ports and read the same release store
(Oxigraph's with ``serve-read-only --union-default-graph``, so both answer over the union of
the named graphs). Each query is sent ``repeats`` times to each server, one at a time, after a
warm-up request; then ``clients`` threads send ``requests`` requests of the whole query mix to
each server in turn. Figures only: nothing here asserts a time.

Then the load section (:mod:`benchmarks.loadtest`, at most about a minute): our server alone with
its default settings at 4, 16 and 64 concurrent clients, the example queries mixed with a share of
hostile requests, /health watched from another process; then, on a copy of the release with writes
enabled, distinct inserts beside a read load, counted back afterwards (lost writes).

Last the page attack (:mod:`benchmarks.pageattack`, 15 s; ``python -m benchmarks bench --only page-attack``
runs
it alone): the largest page and VoID with a new Host header each request, /health watched.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from benchmarks.hostile import catalogue
from benchmarks.launch import LOOPBACK, ONE_PROCESS_PER_CORE, free_port, running, serve_command
from benchmarks.loadtest import Call, percentile, run_levels, run_writes, write_table
from benchmarks.loadtest import table as load_table
from benchmarks.pageattack import run_page_attack, wrk_binary
from benchmarks.pageattack import table as attack_table
from mildip_ld.engine.query_safety import check
from mildip_ld.release.build import CURRENT_LINK, RELEASES_DIR
from mildip_ld.release.store import STORE_DIR
from mildip_ld.server.endpoint import resolve_release
from mildip_ld.vocab.settings import EMBEDDED_STORE, Settings

ACCEPT = "application/sparql-results+json, text/turtle;q=0.9"
BUILTIN_QUERIES = {
    "label-lookup": "SELECT ?label WHERE { <https://w3id.org/mildip/id/russia> "
    "<http://www.w3.org/2000/01/rdf-schema#label> ?label }",
    "count-by-class": "SELECT ?class (COUNT(?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class "
    "ORDER BY DESC(?n) LIMIT 20",
    "triples-per-graph": "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
    "describe-russia": "DESCRIBE <https://w3id.org/mildip/id/russia>",
}
"""Used when the queries folder has no .rq file: a lookup, two aggregates and a DESCRIBE."""


@dataclass(frozen=True)
class BenchOptions:
    """What to run and how often."""

    queries: Path
    repeats: int = 20
    clients: int = 4
    requests: int = 400
    load_levels: tuple[int, ...] = (4, 16, 64)
    load_seconds: float = 10.0
    """Duration of each load level."""
    hostile_share: float = 0.2
    writes: int = 6
    """Inserts of the write run, from two concurrent writers (each is validated, inferred and
    published as a new release: one to two seconds beside the read load)."""
    write_seconds: float = 60.0
    """Most the write run may take."""


@dataclass
class Target:
    """One server under test: its name and its SPARQL query URL."""

    name: str
    url: str
    latencies: dict[str, list[float]] = field(default_factory=dict)
    rows: dict[str, int | None] = field(default_factory=dict)
    throughput: float = 0.0


def load_queries(folder: Path) -> tuple[dict[str, str], list[str]]:
    """Every ``*.rq`` of ``folder`` by file stem (the built-in queries when there is none), and the
    names of those left out because they call a SERVICE (the benchmark sends nothing off this host)."""
    files = sorted(folder.glob("*.rq")) if folder.is_dir() else []
    found = {file.stem: file.read_text(encoding="utf-8") for file in files} or dict(BUILTIN_QUERIES)
    federated = [name for name, text in found.items() if check(text, "query").services]
    return {name: text for name, text in found.items() if name not in federated}, federated


def _rows(body: bytes, content_type: str) -> int | None:
    if "sparql-results+json" not in content_type:
        return None
    answer = json.loads(body)
    return len(answer["results"]["bindings"]) if "results" in answer else int(answer.get("boolean", 0))


def _oxigraph_binary() -> str:
    found = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))
    if not Path(found).exists():
        raise SystemExit(
            "the Oxigraph server is not installed: pip install -e '.[test]' (package 'oxigraph')"
        )
    return found


def measure(target: Target, queries: dict[str, str], repeats: int) -> None:
    """Time ``repeats`` sequential runs of each query (after one warm-up run)."""
    import httpx

    with httpx.Client(headers={"Accept": ACCEPT}, timeout=120) as client:
        for name, text in queries.items():
            warm = client.get(target.url, params={"query": text})
            target.rows[name] = (
                _rows(warm.content, warm.headers.get("content-type", "")) if warm.status_code == 200 else None
            )
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                client.get(target.url, params={"query": text}).raise_for_status()
                times.append(time.perf_counter() - started)
            target.latencies[name] = times


def hammer(target: Target, queries: dict[str, str], clients: int, requests: int) -> None:
    """Requests per second with ``clients`` threads sharing ``requests`` requests of the query mix."""
    import httpx

    texts = list(queries.values())
    counter = iter(range(requests))
    lock = threading.Lock()
    failures: list[str] = []

    def client_loop() -> None:
        with httpx.Client(headers={"Accept": ACCEPT}, timeout=120) as client:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                answer = client.get(target.url, params={"query": texts[index % len(texts)]})
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    target.throughput = requests / (time.perf_counter() - started)
    if failures:
        raise RuntimeError(f"{target.name}: {len(failures)} failed requests, e.g. {failures[0]}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def table(ours: Target, cached: Target, theirs: Target, options: BenchOptions) -> str:
    """The Markdown report: ``ours`` runs with its response cache off, ``cached`` with it on."""
    lines = [
        f"Latency over HTTP, {options.repeats} sequential runs per query after a warm-up (ms; ratio = "
        f"ours/oxigraph median; ours-cached answers the repeated runs from its response cache)",
        "",
        "| query | rows | ours median | ours p99 | ours-cached median | oxigraph median | oxigraph p99 "
        "| ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, times in ours.latencies.items():
        other = theirs.latencies[name]
        rows = ours.rows[name]
        shown = "" if rows is None else str(rows)
        if rows != theirs.rows[name]:
            shown += f" (oxigraph: {theirs.rows[name]})"
        ratio = statistics.median(times) / statistics.median(other)
        lines.append(
            f"| {name} | {shown} | {_ms(statistics.median(times))} | {_ms(percentile(times, 0.99))} "
            f"| {_ms(statistics.median(cached.latencies[name]))} "
            f"| {_ms(statistics.median(other))} | {_ms(percentile(other, 0.99))} | {ratio:.2f} |"
        )
    lines += [
        "",
        f"Throughput, {options.clients} concurrent clients, {options.requests} requests of the "
        "query mix per server",
        "",
        "| server | requests/s | ratio to oxigraph |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {target.name} | {target.throughput:.1f} | {target.throughput / theirs.throughput:.2f} |"
        for target in (ours, cached, theirs)
    ]
    return "\n".join(lines)


@contextmanager
def _servers(settings: Settings, release: Path, logs: Path) -> Iterator[tuple[Target, Target, Target]]:
    """Ours with its response cache off, ours with it on (the settings' budget, 64 MiB by
    default, and one server process per core), both without an access log as Oxigraph's server,
    on the release's store."""
    ours_port, cached_port, theirs_port = free_port(), free_port(), free_port()
    theirs_command = [
        _oxigraph_binary(),
        "serve-read-only",
        "--location",
        str(release / STORE_DIR),
        "--bind",
        f"{LOOPBACK}:{theirs_port}",
        "--union-default-graph",
    ]
    cache_mb = str(settings.response_cache_mb or Settings.model_fields["response_cache_mb"].default)
    theirs = Target("oxigraph", f"http://{LOOPBACK}:{theirs_port}/query")
    with ExitStack() as stack:
        ours = []
        for name, port, variant in (
            ("ours", ours_port, {"MILDIP_RESPONSE_CACHE_MB": "0"}),
            ("ours-cached", cached_port, {"MILDIP_RESPONSE_CACHE_MB": cache_mb, **ONE_PROCESS_PER_CORE}),
        ):
            command = serve_command(port, Path(settings.build_dir))
            if settings.store != EMBEDDED_STORE:
                command += ["--store", settings.store]
            stack.enter_context(
                running(
                    command,
                    f"http://{LOOPBACK}:{port}/health",
                    log=logs / f"{name}.log",
                    env=os.environ | variant | {"MILDIP_ACCESS_LOG": "false"},
                )
            )
            ours.append(Target(name, f"http://{LOOPBACK}:{port}/sparql"))
        stack.enter_context(
            running(theirs_command, f"{theirs.url}?query={quote('ASK {}')}", log=logs / "oxigraph.log")
        )
        yield ours[0], ours[1], theirs


def run_bench(settings: Settings, options: BenchOptions, progress: Callable[[str], None] = print) -> str:
    """Run the benchmark and return its Markdown report."""
    release = resolve_release(settings)
    queries, federated = load_queries(options.queries)
    progress(
        f"benchmarking {len(queries)} queries on {release.name}"
        + (f"; left out (SERVICE): {', '.join(federated)}" if federated else "")
    )
    with (
        tempfile.TemporaryDirectory(prefix="mildip-bench-") as logs,
        _servers(settings, release, Path(logs)) as targets,
    ):
        for target in targets:
            progress(f"latency: {target.name} ({target.url})")
            measure(target, queries, options.repeats)
        for target in targets:
            progress(f"throughput: {target.name}, {options.clients} clients")
            hammer(target, queries, options.clients, options.requests)
    return (
        table(*targets, options)
        + "\n\n"
        + load_section(release, queries, options, progress)
        + "\n\n"
        + page_attack_section(release, progress)
    )


def page_attack_section(release: Path, progress: Callable[[str], None] = print) -> str:
    """The page attack's report, or why it did not run (it needs ``wrk``)."""
    if wrk_binary() is None:
        return "Page attack: not run, it needs wrk (apt-get install wrk)."
    return attack_table(run_page_attack(release, progress=progress))


def _writable_copy(release: Path, folder: Path) -> Path:
    """A build folder in ``folder`` holding a copy of ``release`` as its current release."""
    build_dir = folder / "build"
    shutil.copytree(release, build_dir / RELEASES_DIR / release.name, ignore=shutil.ignore_patterns("dumps"))
    (build_dir / CURRENT_LINK).symlink_to(Path(RELEASES_DIR) / release.name)
    return build_dir


def load_section(
    release: Path, queries: dict[str, str], options: BenchOptions, progress: Callable[[str], None] = print
) -> str:
    """The load levels on our server (default settings), then the write run on a writable copy."""
    calls = [Call.query(name, text) for name, text in queries.items()]
    hostile = [Call.from_hostile(entry) for entry in catalogue() if entry.cheap]
    env = {key: value for key, value in os.environ.items() if not key.startswith("MILDIP_")}
    with tempfile.TemporaryDirectory(prefix="mildip-load-") as scratch:
        folder = Path(scratch)
        port = free_port()
        base = f"http://{LOOPBACK}:{port}"
        command = serve_command(port, release.parent.parent) + ["--store", str(release)]
        with running(command, f"{base}/health", env=env, log=folder / "load.log"):
            levels_text = ", ".join(map(str, options.load_levels))
            progress(f"load: {levels_text} clients, {options.load_seconds:g} s each")
            levels = run_levels(
                base, calls, hostile, options.load_levels, options.load_seconds, options.hostile_share
            )
        token = secrets.token_urlsafe(24)
        port = free_port()
        base = f"http://{LOOPBACK}:{port}"
        with running(
            serve_command(port, _writable_copy(release, folder)),
            f"{base}/health",
            env=env | {"MILDIP_UPDATE_TOKEN": token},
            log=folder / "writes.log",
        ):
            progress(f"writes: {options.writes} inserts beside 4 reading clients")
            writes = run_writes(base, token, calls, options.writes, seconds=options.write_seconds)
    return load_table(levels, options.hostile_share) + "\n\n" + write_table(writes)
