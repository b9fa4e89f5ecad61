"""A real Oxigraph server (``oxigraph serve``, read-write) on a free loopback port, for the tests
of ``mildip publish`` (its Graph Store at ``/store``) and of ``--store sparql:URL`` (``/query``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from benchmarks.bench import _oxigraph_binary
from benchmarks.launch import LOOPBACK, free_port, running


@dataclass(frozen=True)
class OxigraphServer:
    """A running Oxigraph server: its base URL."""

    url: str

    @property
    def store(self) -> str:
        """The SPARQL 1.1 Graph Store endpoint."""
        return f"{self.url}/store"

    @property
    def query(self) -> str:
        """The SPARQL query endpoint."""
        return f"{self.url}/query"

    def graph_counts(self) -> dict[str, int]:
        """Triples per named graph, as the server counts them."""
        text = "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
        answer = httpx.get(
            self.query,
            params={"query": text},
            headers={"Accept": "application/sparql-results+json"},
            timeout=60,
        )
        answer.raise_for_status()
        return {row["g"]["value"]: int(row["n"]["value"]) for row in answer.json()["results"]["bindings"]}


def oxigraph_server(location: Path, log: Path, timeout_s: int | None = None) -> Iterator[OxigraphServer]:
    """Run ``oxigraph serve`` on a store at ``location`` until the generator is closed; with
    ``timeout_s``, the server stops its own queries past that many seconds."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    command = [_oxigraph_binary(), "serve", "--location", str(location), "--bind", f"{LOOPBACK}:{port}"]
    if timeout_s is not None:
        command += ["--timeout-s", str(timeout_s)]
    with running(command, f"{url}/query?query={quote('ASK {}')}", timeout=60, log=log):
        yield OxigraphServer(url)
