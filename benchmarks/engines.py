"""rdflib's in-memory SPARQL engine against Oxigraph's, in one process, on the same queries.

``python -m benchmarks.engines DATASET.nq QUERIES.json --limit S --repeats R --budget B`` loads the
N-Quads into an rdflib ``Dataset`` (default graph = union of the named graphs) and into an
in-memory ``pyoxigraph.Store``, evaluates each query (every row materialized) with both, and
prints JSON: load seconds per engine and, per query and engine, the samples (see
:func:`sample`). rdflib cannot be interrupted, so each of its queries runs in a forked child that
is killed at the time limit; Oxigraph's run in the process itself. It is a separate program so
that the forks happen in a process without threads and the memory goes back when it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Sample = dict[str, Any]
"""``{"status": "ok"|"timeout"|"error", "times": [s, ...], "rows": n, "error": text}``."""


def sample(
    run_once: Callable[[], int],
    repeats: int,
    budget: float,
    report: Callable[[float, int], None] = lambda _t, _n: None,
) -> Sample:
    """One warm-up run, then up to ``repeats`` timed runs while their total stays within ``budget``
    seconds. When the warm-up alone took longer than ``budget``, it is the only sample (marked
    ``cold``). ``run_once`` returns the number of rows; ``report`` sees each run as it ends."""
    started = time.perf_counter()
    rows = run_once()
    warm = time.perf_counter() - started
    report(warm, rows)
    if warm > budget:
        return {"status": "ok", "times": [warm], "rows": rows, "cold": True}
    times: list[float] = []
    while len(times) < repeats and sum(times) < budget:
        started = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - started)
        report(times[-1], rows)
    return {"status": "ok", "times": times, "rows": rows}


def forked_sample(run_once: Callable[[], int], repeats: int, budget: float, limit: float) -> Sample:
    """:func:`sample` in a forked child, which is killed when one run passes ``limit`` seconds
    (the runs done before are kept)."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(reader)
        out = os.fdopen(writer, "w")
        try:

            def report(seconds: float, rows: int) -> None:
                out.write(json.dumps({"time": seconds, "rows": rows}) + "\n")
                out.flush()

            sample(run_once, repeats, budget, report)
            out.write(json.dumps({"done": True}) + "\n")
        except Exception as failure:  # noqa: BLE001 - reported to the parent
            out.write(json.dumps({"error": f"{type(failure).__name__}: {failure}"[:300]}) + "\n")
        out.flush()
        os._exit(0)
    os.close(writer)
    runs: list[dict[str, Any]] = []
    outcome: Sample | None = None
    buffer = b""
    deadline = time.monotonic() + limit
    while outcome is None:
        ready, _, _ = select.select([reader], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(child, signal.SIGKILL)
            outcome = {"status": "timeout"}
            break
        chunk = os.read(reader, 65536)
        if not chunk:
            outcome = {"status": "error", "error": "the evaluating process died"}
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            message = json.loads(line)
            if "time" in message:
                runs.append(message)
                deadline = time.monotonic() + limit
            elif "error" in message:
                outcome = {"status": "error", "error": message["error"]}
            else:
                outcome = {"status": "ok"}
    os.close(reader)
    os.waitpid(child, 0)
    if not runs:
        return outcome
    times = [run["time"] for run in runs]
    cold = len(times) == 1 and times[0] > budget
    return {
        "status": "ok",
        "times": times if cold else times[1:] or times,
        "rows": runs[0]["rows"],
        **({"cold": True} if cold else {}),
        **({"note": f"stopped: {outcome['status']}"} if outcome["status"] != "ok" else {}),
    }


def compare(
    dataset: Path,
    queries: dict[str, str],
    repeats: int,
    budget: float,
    limit: float,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Load ``dataset`` into both engines and sample every query on each."""
    import gc

    import pyoxigraph as ox
    from rdflib import Dataset

    started = time.perf_counter()
    graph = Dataset(default_union=True)
    graph.parse(str(dataset), format="nquads")
    loads = {"rdflib": time.perf_counter() - started}
    started = time.perf_counter()
    store = ox.Store()
    store.bulk_load(path=str(dataset), format=ox.RdfFormat.N_QUADS)
    loads["oxigraph"] = time.perf_counter() - started
    gc.freeze()
    results: dict[str, dict[str, Sample]] = {}
    for name, text in queries.items():
        progress(f"in-process {name}")

        def in_rdflib(text: str = text) -> int:
            return sum(1 for _ in graph.query(text))

        def in_oxigraph(text: str = text) -> int:
            return sum(1 for _ in store.query(text, use_default_graph_as_union=True))

        try:
            oxigraph = sample(in_oxigraph, repeats, budget)
        except (SyntaxError, OSError, RuntimeError, ValueError) as failure:
            oxigraph = {"status": "error", "error": str(failure)[:300]}
        results[name] = {"rdflib": forked_sample(in_rdflib, repeats, budget, limit), "oxigraph": oxigraph}
    return {"quads": len(store), "load_seconds": loads, "queries": results}


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engines")
    parser.add_argument("dataset")
    parser.add_argument("queries", help="JSON file: {name: query text}")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--limit", type=float, default=30.0)
    args = parser.parse_args(argv)
    queries = json.loads(Path(args.queries).read_text(encoding="utf-8"))
    result = compare(
        Path(args.dataset),
        queries,
        args.repeats,
        args.budget,
        args.limit,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
