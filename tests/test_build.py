"""The build pipeline: named graphs, counts, atomic releases, refusal on invalid data."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Dataset

from mildip_ld.release.build import (
    DATASET_FILE,
    MANIFEST_FILE,
    BuildReport,
    ValidationFailedError,
    build,
    current_release,
)
from mildip_ld.release.store import open_store
from mildip_ld.vocab.config import Paths
from mildip_ld.vocab.namespaces import DERIVATIONS, NAMED_GRAPHS

from .conftest import FIXTURES


def test_build_writes_every_named_graph(built: BuildReport, dataset: Dataset):
    contexts = {str(g.identifier): len(g) for g in dataset.graphs()}
    for name in ("asserted", "inferred", "ontology", "provenance", "shapes"):
        assert contexts[str(NAMED_GRAPHS[name])] == built.counts[name] > 0
    assert current_release(built.release.parent.parent) == built.release


def test_build_reports_timings(built: BuildReport):
    assert {"load", "validate", "infer", "write", "index", "total"} <= set(built.timings)
    recorded = json.loads((built.release / MANIFEST_FILE).read_text())["timings_seconds"]
    assert set(recorded) == set(built.timings)  # the manifest has every stage, written after the last
    assert all(seconds > 0 for seconds in recorded.values()), recorded
    stages = sum(seconds for stage, seconds in recorded.items() if stage != "total")
    assert recorded["total"] == pytest.approx(stages, abs=0.01)


def test_build_refuses_invalid_data_and_keeps_the_previous_release(paths: Paths, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(paths.data, data)
    build_dir = tmp_path / "build"
    first = build(replace(paths, data=data, build=build_dir))
    shutil.copy(FIXTURES / "missing-passage.ttl", data / "assertions" / "zz-broken.ttl")
    with pytest.raises(ValidationFailedError) as failure:
        build(replace(paths, data=data, build=build_dir))
    assert any("md:statedIn" in v.message for v in failure.value.result.violations)
    assert current_release(build_dir) == first.release
    assert [p.name for p in (build_dir / "releases").iterdir()] == [first.release.name]
    assert not list(build_dir.glob(".staging-*"))


def test_the_release_carries_its_derivations_record_in_the_file_and_the_store(built: BuildReport):
    record = ox.NamedNode(str(DERIVATIONS))
    quads = ox.parse(path=str(built.release / DATASET_FILE), format=ox.RdfFormat.N_QUADS)
    in_file = sum(1 for quad in quads if quad.graph_name == record)
    assert in_file == built.counts["derivations"] > built.counts["inferred"]
    store = open_store(built.release)
    assert len(list(store.quads_for_pattern(None, None, None, record))) == in_file
    assert "derive" in built.timings
    manifest = json.loads((built.release / MANIFEST_FILE).read_text())
    assert manifest["counts"]["derivations"] == in_file
