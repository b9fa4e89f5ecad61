"""Shared fixtures: the project's paths, its loaded data, and one build of it per test session."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rdflib import Dataset

from mildip_ld.build import BuildReport, build, load_release
from mildip_ld.config import DEFAULT_PATHS, Paths
from mildip_ld.loader import ProjectData, load_project

ROOT = Path(__file__).resolve().parents[1]
# The reference material handed to the project; only its workplace has it beside the clone, so tests
# compare with the copies committed under data/ and use this folder only in optional extra checks.
SHARED = ROOT.parent / "shared"
NO_SHARED = f"no {SHARED} beside this clone (the committed copies under data/ were checked instead)"
WIKIDATA_REFERENCE = ROOT / "data" / "wikidata" / "reference.tsv"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def paths() -> Paths:
    return DEFAULT_PATHS


@pytest.fixture(scope="session")
def project(paths: Paths) -> ProjectData:
    return load_project(paths)


@pytest.fixture(scope="session")
def built(paths: Paths, tmp_path_factory: pytest.TempPathFactory) -> BuildReport:
    """One real build of the shipped data, into a temporary build folder."""
    return build(replace(paths, build=tmp_path_factory.mktemp("build")))


@pytest.fixture(scope="session")
def dataset(built: BuildReport) -> Dataset:
    return load_release(built.release)
