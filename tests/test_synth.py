"""`python -m benchmarks synth`: deterministic synthetic data that follows the ontology and passes the
shapes."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from benchmarks.synth import synthesize
from mildip_ld.pipeline.loader import load_project
from mildip_ld.pipeline.validate import validate_project
from mildip_ld.vocab.config import Paths


def digest(folder: Path) -> str:
    hasher = hashlib.sha256()
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            hasher.update(file.relative_to(folder).as_posix().encode() + file.read_bytes())
    return hasher.hexdigest()


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path):
    synthesize(tmp_path / "a", 3000, seed=7)
    synthesize(tmp_path / "b", 3000, seed=7)
    synthesize(tmp_path / "c", 3000, seed=8)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_synthetic_data_passes_the_shapes_and_has_the_requested_size(paths: Paths, tmp_path: Path):
    out = tmp_path / "data"
    synthesize(out, 10_000, seed=1, template=paths.data)
    synthetic = replace(paths, data=out)
    project = load_project(synthetic)
    article = load_project(paths)
    added = (
        len(project.asserted.graph)
        + len(project.provenance.graph)
        - len(article.asserted.graph)
        - len(article.provenance.graph)
    )
    assert 7_000 <= added <= 13_000
    result = validate_project(project, synthetic.data, synthetic.shapes)
    assert result.conforms, "\n".join(v.render() for v in result.violations[:5])
