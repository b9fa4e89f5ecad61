"""rdflib-endpoint as a benchmark peer that a client-side time limit can stop.

``python -m benchmarks.rdflib_peer DATASET.nq --port P`` loads the N-Quads into an rdflib
``Dataset`` (default graph = union of the named graphs, like our server and ``oxigraph
--union-default-graph``), wraps it in rdflib-endpoint's unmodified ``SparqlEndpoint`` at
``/sparql``, and serves it from a forked child on a socket the parent bound. rdflib cannot
interrupt a query, and rdflib-endpoint evaluates on its event loop, so one query past the
benchmark's limit would block every later request until it ends (minutes at 10^6 triples).
The benchmark then kills the child (:func:`restart`); the parent, which keeps the loaded dataset,
forks a fresh child at once, so a query past the limit costs the limit, not a reload.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import sys
import time

LOOPBACK = "127.0.0.1"
PATH = "/sparql"


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _serve_child(app: object, listener: socket.socket) -> None:
    import uvicorn

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[listener])


def main(argv: list[str] | None = None) -> int:
    """Load, bind, then fork a serving child again whenever the last one dies."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rdflib_peer")
    parser.add_argument("dataset", help="N-Quads file to serve")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    from rdflib import Dataset
    from rdflib_endpoint import SparqlEndpoint

    started = time.perf_counter()
    dataset = Dataset(default_union=True)
    dataset.parse(args.dataset, format="nquads")
    app = SparqlEndpoint(graph=dataset, path=PATH, cors_enabled=False)
    print(f"loaded {len(dataset)} quads in {time.perf_counter() - started:.1f} s", flush=True)

    # IPPROTO_TCP named, so that asyncio sets TCP_NODELAY on the accepted connections (with proto 0
    # it does not, and every answer waits for a delayed ACK: 40 ms)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOOPBACK, args.port))
    listener.listen(256)
    gc.freeze()  # the children share the loaded graph: keep the collector off its pages
    child = 0
    try:
        while True:
            child = os.fork()
            if child == 0:
                try:
                    _serve_child(app, listener)
                finally:
                    os._exit(0)
            print(f"serving from process {child}", flush=True)
            os.waitpid(child, 0)
            child = 0
    except KeyboardInterrupt:
        if child:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
    return 0


def restart(parent_pid: int) -> None:
    """Kill the serving child of the peer ``parent_pid`` (its parent forks a new one)."""
    import psutil

    for child in psutil.Process(parent_pid).children():
        child.kill()
        child.wait(10)


if __name__ == "__main__":
    sys.exit(main())
