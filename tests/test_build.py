"""The build pipeline: named graphs, counts, atomic releases, refusal on invalid data."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from rdflib import Dataset

from mildip_ld.build import BuildReport, ValidationFailedError, build, current_release
from mildip_ld.config import Paths
from mildip_ld.namespaces import NAMED_GRAPHS

from .conftest import FIXTURES


def test_build_writes_every_named_graph(built: BuildReport, dataset: Dataset):
    contexts = {str(g.identifier): len(g) for g in dataset.graphs()}
    for name in ("asserted", "inferred", "ontology", "provenance", "shapes"):
        assert contexts[str(NAMED_GRAPHS[name])] == built.counts[name] > 0
    assert current_release(built.release.parent.parent) == built.release


def test_build_reports_timings(built: BuildReport):
    assert {"load", "validate", "infer", "write", "index", "total"} <= set(built.timings)


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
