"""Shared fixtures: the project's paths, its loaded data, and one build of it per test session;
and the markers ``server``, ``browser`` and ``bench`` put on the tests that need them."""

from __future__ import annotations

import inspect
import os
import subprocess
import types
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from rdflib import Dataset

from benchmarks.launch import running
from mildip_ld.pipeline.loader import ProjectData, load_project
from mildip_ld.release.build import BuildReport, build, load_release
from mildip_ld.vocab.config import DEFAULT_PATHS, Paths

ROOT = Path(__file__).resolve().parents[1]
# The reference material handed to the project exists only on its own machines; the tests compare
# with the copies committed under data/, and check those copies against it only where
# $PROJECT_REFERENCE_DIR names it (.ci/run sets it when the folder is there).
SHARED = Path(os.environ.get("PROJECT_REFERENCE_DIR") or ROOT / "data" / "no-reference")
NO_SHARED = "no PROJECT_REFERENCE_DIR (the committed copies under data/ were checked instead)"
WIKIDATA_REFERENCE = ROOT / "data" / "wikidata" / "reference.tsv"
FIXTURES = Path(__file__).parent / "fixtures"
TEST_PACKAGE = __name__.partition(".")[0]


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


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    """A function's code and the code nested in it (generator bodies, lambdas, inner functions)."""
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


def starts_processes(function: Callable[..., object], seen: set[Callable[..., object]] | None = None) -> bool:
    """Whether ``function`` (a test, a fixture or a helper of the tests) starts a child process such
    as ``mildip serve`` or Oxigraph's server: it refers to ``benchmarks.launch.running`` (which every
    live-server fixture goes through) or to ``subprocess.Popen``, itself or through a function of
    this test package. Read from the compiled code's names, resolved in the function's globals (a
    function reached through a module attribute or a container is not followed)."""
    seen = set() if seen is None else seen
    if function in seen or not inspect.isfunction(function):
        return False
    seen.add(function)
    names = {name for code in _code_objects(function.__code__) for name in code.co_names}
    for name in names:
        value = function.__globals__.get(name)
        if value is running or (value is subprocess and "Popen" in names):
            return True
        if inspect.isfunction(value) and value.__module__.partition(".")[0] == TEST_PACKAGE:
            if starts_processes(value, seen):
                return True
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``server`` every test that starts a server process, itself or through one of its fixtures
    (however indirectly: ``russia_page`` needs ``live_server``); ``browser`` the tests of
    test_browser.py; ``bench`` the tests of a benchmark module that start servers (the unit tests
    of the benchmark's report stay in the fast lane). ``make test-fast`` deselects all three."""
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        fixtures = [
            definition.func
            for definitions in item._fixtureinfo.name2fixturedefs.values()
            for definition in definitions
        ]
        server = item.get_closest_marker("server") is not None
        if not server and any(starts_processes(function) for function in [item.function, *fixtures]):
            item.add_marker(pytest.mark.server)
            server = True
        module = item.path.name
        if module == "test_browser.py" and item.get_closest_marker("browser") is None:
            item.add_marker(pytest.mark.browser)
        if "bench" in module and server and item.get_closest_marker("bench") is None:
            item.add_marker(pytest.mark.bench)
