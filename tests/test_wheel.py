"""The package works installed from its wheel, away from any checkout: the wheel carries the project
folders (ontology, shapes, data, queries) inside the package, and ``mildip build`` then ``mildip
serve`` run from an empty folder serve the article's graph.

The wheel is built from a copy of the checkout (so the checkout gets no ``build/`` or egg-info),
installed with ``--no-deps`` into a new virtual environment whose dependencies come from this
one's site-packages (one ``.pth`` line), and run with no ``PYTHONPATH`` and no ``MILDIP_*``
variable, so nothing of the checkout can be imported by accident.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import httpx
import pytest
from rdflib import RDF, Graph, URIRef

from benchmarks.launch import LOOPBACK, free_port, running
from mildip_ld.vocab.namespaces import MD, MDR

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = (
    "src",
    "ontology",
    "shapes",
    "data",
    "queries",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "LICENSE-DATA",
)
LEFT_BEHIND = shutil.ignore_patterns("changes", "__pycache__", "*.egg-info")


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A virtual environment with the wheel installed, and the environment to run it in."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in SHIPPED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=LEFT_BEHIND)
        else:
            shutil.copy2(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILDIP_") and k != "PYTHONPATH"}
    # no build isolation: the pinned setuptools of the test extra builds it, offline
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    _run([*command, "-w", str(work / "dist"), str(source)], work, env)
    (wheel,) = (work / "dist").glob("mildip_ld-*.whl")
    environment = work / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], work, env)
    (Path(site.strip()) / "zz-test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], work, env)
    return environment, env


@pytest.mark.server
def test_the_installed_wheel_builds_and_serves_the_article_from_an_empty_folder(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    environment, env = installed
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run(
        [str(environment / "bin" / "python"), "-c", "import mildip_ld; print(mildip_ld.__file__)"], empty, env
    )
    assert where.strip().startswith(str(environment)), where  # the wheel's copy, not the checkout's
    mildip = str(environment / "bin" / "mildip")
    said = _run([mildip, "build"], empty, env)
    assert f"into {empty / 'build'}" in said  # the shipped project builds into ./build
    assert (empty / "build" / "current").is_symlink()
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    command = [mildip, "serve", "--host", LOOPBACK, "--port", str(port)]
    with running(command, f"{url}/health", env=env, log=tmp_path / "serve.log"):
        answer = httpx.get(
            f"{url}/id/russia", headers={"Accept": "text/turtle"}, follow_redirects=True, timeout=30
        )
        examples = httpx.get(f"{url}/queries/?format=json", timeout=30)
    assert answer.status_code == 200, answer.text
    russia = Graph().parse(data=answer.text, format="turtle")
    assert (URIRef(MDR.russia), RDF.type, URIRef(MD.State)) in russia
    assert len(list(russia.triples((URIRef(MDR.russia), None, None)))) > 20
    assert examples.status_code == 200 and len(examples.json()) >= 10  # queries/ shipped too


@pytest.mark.server
def test_python_dash_m_runs_the_installed_command_line(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    environment, env = installed
    said = _run([str(environment / "bin" / "python"), "-m", "mildip_ld", "--version"], tmp_path, env)
    assert said.startswith("mildip-ld ")
