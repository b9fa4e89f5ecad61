"""Real SPARQL clients other than Python's against a live server: Apache Jena and Comunica.

Jena is Debian's ``libapache-jena-java`` (``arq.rsparql``/``arq.rupdate``, and
``tests/clients/jena/AuthorizedUpdate.java`` run by Java's single-file source launcher for an
update with the token). Its HTTP is Java's HttpClient, which sends ``Connection: Upgrade,
HTTP2-Settings`` and ``Upgrade: h2c`` with every cleartext POST (uvicorn #2722, handled in
:mod:`mildip_ld.server.http_limits`). Debian relocates Jena's shaded Xerces from
``org.apache.jena.ext.xerces`` to ``xerces`` but leaves its message bundles under the old name, so
that the first XSD datatype fails with "internal error"; :func:`jena_classpath` copies the bundles
to the relocated name in a folder put first on the class path. Debian's ``/usr/share/java/*`` also
holds both ``log4j-over-slf4j`` and ``slf4j-log4j12``, which refuse to load together: those two are
left out.

Comunica is ``@comunica/query-sparql`` from npm, pinned in ``tests/clients/comunica`` (run
``npm ci`` there). The tests skip, saying why, only when java or Jena, or node or that folder's
install, are missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.namespaces import ASSERTED, MDR
from tests.live_server import LiveServer, build_dir_of, live_server, serve  # noqa: F401

pytestmark = pytest.mark.server

JAVA_LIBS = Path("/usr/share/java")
JENA_CORE = JAVA_LIBS / "jena-core.jar"
CLIENTS = Path(__file__).parent / "clients"
COMUNICA = CLIENTS / "comunica"
TOKEN = "client-test-token"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
RUSSIA_LABEL = f"SELECT ?label WHERE {{ <{MDR.russia}> <{LABEL}> ?label }}"
XERCES_BUNDLES = "org/apache/jena/ext/xerces/"
CONFLICTING_JARS = ("log4j-over-slf4j.jar", "slf4j-log4j12.jar")


@pytest.fixture(scope="module")
def jena_classpath(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Debian's Jena class path, with the Xerces message bundles where the relocated classes look."""
    if shutil.which("java") is None:
        pytest.skip("java is not installed (apt-get install default-jre-headless libapache-jena-java)")
    if not JENA_CORE.exists():
        pytest.skip(
            f"Apache Jena is not installed ({JENA_CORE} is missing): apt-get install libapache-jena-java"
        )
    bundles = tmp_path_factory.mktemp("jena-xerces-bundles")
    with zipfile.ZipFile(JENA_CORE) as jar:
        for name in jar.namelist():
            if name.startswith(XERCES_BUNDLES) and name.endswith(".properties"):
                target = bundles / "xerces" / name.removeprefix(XERCES_BUNDLES)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(jar.read(name))
    # the unversioned names are Debian's links to one version of each library
    jars = [
        str(jar)
        for jar in sorted(JAVA_LIBS.glob("*.jar"))
        if jar.name not in CONFLICTING_JARS and not jar.stem[-1].isdigit()
    ]
    return ":".join([str(bundles), *jars])


def java(classpath: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["java", "-cp", classpath, *args], capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def client_write_server(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("client-writes")
    copy = folder / "build"
    shutil.copytree(build_dir_of(built), copy, symlinks=True)
    yield from serve(copy, folder / "server.log", update_token=TOKEN)


def query_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "request.rq"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("method", [[], ["--post"]], ids=["GET", "POST"])
def test_jena_rsparql_select(
    live_server: LiveServer, jena_classpath: str, tmp_path: Path, method: list[str]
) -> None:
    done = java(
        jena_classpath,
        "arq.rsparql",
        "--service",
        live_server.sparql,
        *method,
        "--results",
        "JSON",
        "--query",
        query_file(tmp_path, RUSSIA_LABEL),
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert [row["label"]["value"] for row in answer["results"]["bindings"]] == ["Russia"]


def test_jena_rupdate_body_arrives_and_is_refused_without_token(
    live_server: LiveServer, jena_classpath: str, tmp_path: Path
) -> None:
    """Without the token the read-only server refuses the update, after reading its body: the
    refusal says read-only, never "the update is empty" (the body dropped with the h2c upgrade)."""
    done = java(
        jena_classpath,
        "arq.rupdate",
        "--service",
        live_server.sparql,
        "--update",
        query_file(tmp_path, f"INSERT DATA {{ GRAPH <{ASSERTED}> {{ <urn:x:a> <urn:x:b> 1 }} }}"),
    )
    assert done.returncode != 0
    assert "403" in done.stderr and "empty" not in done.stderr


def test_jena_update_with_token_is_applied(
    client_write_server: LiveServer, jena_classpath: str, tmp_path: Path
) -> None:
    comment = f'<{MDR.russia}> <http://www.w3.org/2000/01/rdf-schema#comment> "written by Jena"@en'
    update = query_file(tmp_path, f"INSERT DATA {{ GRAPH <{ASSERTED}> {{ {comment} }} }}")
    done = java(
        jena_classpath,
        str(CLIENTS / "jena" / "AuthorizedUpdate.java"),
        client_write_server.sparql,
        TOKEN,
        update,
    )
    assert done.returncode == 0 and "applied" in done.stdout, done.stderr
    ask = httpx.get(
        client_write_server.sparql,
        params={"query": f"ASK {{ {comment} }}"},
        headers={"Accept": "application/sparql-results+json"},
    )
    assert ask.json()["boolean"] is True


def comunica() -> list[str]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (apt-get install nodejs npm)")
    binary = COMUNICA / "node_modules" / ".bin" / "comunica-sparql"
    if not binary.exists():
        pytest.skip(f"Comunica is not installed: run `npm ci` in {COMUNICA}")
    return [str(binary)]


def test_comunica_select(live_server: LiveServer) -> None:
    done = subprocess.run(
        [*comunica(), f"sparql@{live_server.sparql}", RUSSIA_LABEL, "-t", "application/sparql-results+json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert [row["label"]["value"] for row in json.loads(done.stdout)["results"]["bindings"]] == ["Russia"]


def test_comunica_ask_and_construct(live_server: LiveServer) -> None:
    ask = subprocess.run(
        [
            *comunica(),
            f"sparql@{live_server.sparql}",
            f'ASK {{ <{MDR.russia}> <{LABEL}> "Russia"@en }}',
            "-t",
            "simple",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ask.returncode == 0 and ask.stdout.strip() == "true", ask.stderr
    construct = subprocess.run(
        [
            *comunica(),
            f"sparql@{live_server.sparql}",
            f"CONSTRUCT WHERE {{ <{MDR.russia}> <{LABEL}> ?l }}",
            "-t",
            "application/n-triples",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert construct.returncode == 0, construct.stderr
    assert f'<{MDR.russia}> <{LABEL}> "Russia"@en' in construct.stdout
