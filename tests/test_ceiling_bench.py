"""`python -m benchmarks ceiling` in one short round (a smoke test: no figure is asserted)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from benchmarks.ceiling import CEILING, markdown, parse_floor, run_ceiling
from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.config import DEFAULT_PATHS


@pytest.mark.server
def test_one_round_measures_every_server_and_the_ceiling_answers_oxigraphs_bytes(
    built: BuildReport, tmp_path: Path
):
    build_dir = built.release.parent.parent
    report = run_ceiling(build_dir, tmp_path, rounds=1, seconds=1, limit=10)
    servers = report["servers"]
    assert {"oxigraph", CEILING, "ours", "ours-cached"} <= set(servers)
    for name, found in servers.items():
        assert found["errors"] == 0, name
        assert found["requests_per_second"] > 0 and found["cpu_us_per_request"] > 0, name
        assert found["rows"] == servers["oxigraph"]["rows"] == 1, name  # every figure: the same answer
    recorded = (tmp_path / "lookup.json").read_bytes()  # what the ceiling was given: Oxigraph's answer
    oxigraphs = servers["oxigraph"]["answer_sha256"]
    assert hashlib.sha256(recorded).hexdigest() == oxigraphs == servers[CEILING]["answer_sha256"]
    assert report["answer_bytes"] == len(recorded)
    table = markdown(report)
    for name in servers:
        assert f"| {name} |" in table
    assert "issue 19's target: 0.5x" in table


def test_the_parse_floor_counts_what_rdflib_parsed(tmp_path: Path):
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "a.ttl").write_text("<urn:a> <urn:p> 1, 2 .\n")
    (tmp_path / "b.ttl").write_text("<urn:b> <urn:p> <urn:c> .\n")
    floor = parse_floor(tmp_path)
    assert floor["triples"] == 3 and floor["seconds"] > 0 and floor["peak_mib"] > 10
    assert parse_floor(DEFAULT_PATHS.data)["triples"] > 1000
