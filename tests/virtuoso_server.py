"""A real Virtuoso 7 (Debian's ``virtuoso-opensource``) on free loopback ports, its database in a
test folder (:mod:`benchmarks.virtuoso`), for the hand-over tests (tests/test_virtuoso.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.virtuoso import Virtuoso, VirtuosoMissingError, binaries, virtuoso
from mildip_ld.vocab.namespaces import GRAPH_BASE


def virtuoso_server(folder: Path) -> Iterator[Virtuoso]:
    """Run a new Virtuoso until the generator is closed; skip the test when it is not installed."""
    try:
        binaries()
    except VirtuosoMissingError as missing:
        pytest.skip(str(missing))
    with virtuoso(folder) as server:
        yield server


def graph_counts(server: Virtuoso) -> dict[str, int]:
    """Triples per named graph of the project (under its graph base), as Virtuoso counts them."""
    text = (
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } "
        f'FILTER(STRSTARTS(STR(?g), "{GRAPH_BASE}")) }} GROUP BY ?g'
    )
    answer = httpx.post(
        server.sparql,
        data={"query": text},
        headers={"Accept": "application/sparql-results+json"},
        timeout=60,
    )
    answer.raise_for_status()
    return {row["g"]["value"]: int(row["n"]["value"]) for row in answer.json()["results"]["bindings"]}
