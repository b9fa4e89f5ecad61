"""The load test, short: 4, 16 and 64 clients for a second and a half each, the example queries
mixed with hostile requests; then writes beside readers. Zero 5xx, zero lost writes.

``make bench`` runs the long version (:func:`benchmarks.bench.load_section`) and prints the figures.
"""

from __future__ import annotations

import pytest

from benchmarks.bench import load_queries
from benchmarks.hostile import catalogue
from benchmarks.loadtest import Call, run_levels, run_writes, table, write_table
from mildip_ld.vocab.config import Paths
from tests.live_server import LiveServer, live_server, update_server  # noqa: F401

pytestmark = pytest.mark.server


def the_mix(paths: Paths) -> tuple[list[Call], list[Call]]:
    """The example queries (the federated one left out) and the cheap hostile requests."""
    queries, _ = load_queries(paths.queries)
    return [Call.query(name, text) for name, text in queries.items()], [
        Call.from_hostile(entry) for entry in catalogue() if entry.cheap
    ]


@pytest.mark.timing
def test_load_levels_have_no_server_errors(live_server: LiveServer, paths: Paths) -> None:
    calls, hostile = the_mix(paths)
    results = run_levels(live_server.url, calls, hostile, (4, 16, 64), seconds=1.5)
    print("\n" + table(results, 0.2))
    for level in results:
        assert level.requests > 20 and level.hostile > 0
        assert level.server_errors == 0 and not level.errors, level.statuses
        assert not level.unexpected, level.unexpected
        assert level.health and max(level.health) < 1.0


@pytest.mark.timing  # writes beside a read load, each bounded in time: run on a quiet machine
def test_no_write_is_lost(update_server: LiveServer, paths: Paths) -> None:
    calls, _ = the_mix(paths)
    result = run_writes(update_server.url, "test-token", calls, writes=4, writers=2, readers=4, seconds=60)
    print("\n" + write_table(result))
    assert result.sent == result.committed == 4, result.statuses
    assert result.lost == 0
    assert result.reads is not None and result.reads.server_errors == 0 and not result.reads.errors
