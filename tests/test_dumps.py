"""Dumps: every file parses back to exactly the served data, gzip equals plain, checksums are right,
and the server serves them with validators (ETag, Last-Modified, 304) and the right media types."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
import requests
from rdflib import Dataset, Graph
from rdflib.compare import isomorphic

from mildip_ld.cli.main import main
from mildip_ld.release.build import BuildReport, load_release
from mildip_ld.release.dumps import CHECKSUMS_FILE, DATASET, ensure_dumps, plan
from mildip_ld.release.void import DumpFile
from mildip_ld.vocab.formats import BY_NAME, GRAPH_FORMATS, QUAD_FORMATS
from mildip_ld.vocab.namespaces import NAMED_GRAPHS
from mildip_ld.vocab.settings import PUBLIC_URL
from tests.live_server import LiveServer, build_dir_of, live_server  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def dataset(built: BuildReport) -> Dataset:
    """The whole release, its derivations record included (the dumps carry every named graph)."""
    return load_release(built.release, record=True)


@pytest.fixture(scope="module")
def files(built: BuildReport) -> list[DumpFile]:
    return ensure_dumps(built.release)


@pytest.fixture(scope="module")
def folder(built: BuildReport, files: list[DumpFile]) -> Path:
    return built.release / "dumps"


def same_graph(got: Graph, expected: Graph) -> bool:
    """Equal triples; blank nodes compared up to renaming (isomorphism) only when there are any."""
    if len(got) != len(expected):
        return False
    if not any(term.__class__.__name__ == "BNode" for triple in expected for term in triple):
        return set(got) == set(expected)
    return isomorphic(got, expected)


def test_every_format_of_every_graph_is_written(files: list[DumpFile]):
    names = {f.file for f in files}
    for fmt in QUAD_FORMATS:
        assert {f"{DATASET}.{fmt.extension}", f"{DATASET}.{fmt.extension}.gz"} <= names
    for graph in NAMED_GRAPHS:
        for fmt in GRAPH_FORMATS:
            assert {f"{graph}.{fmt.extension}", f"{graph}.{fmt.extension}.gz"} <= names
    assert "void.ttl" in names
    assert len(plan()) == len(QUAD_FORMATS) + len(NAMED_GRAPHS) * len(GRAPH_FORMATS)


def test_sizes_and_checksums_are_those_of_the_files(files: list[DumpFile], folder: Path):
    for entry in files:
        data = (folder / entry.file).read_bytes()
        assert entry.size == len(data), entry.file
        assert entry.sha256 == hashlib.sha256(data).hexdigest(), entry.file
    listed = dict(reversed(line.split("  ")) for line in (folder / CHECKSUMS_FILE).read_text().splitlines())
    assert listed == {f.file: f.sha256 for f in files}


def test_gzip_files_hold_exactly_the_plain_files(files: list[DumpFile], folder: Path):
    packed = [f for f in files if f.compressed]
    assert packed
    for entry in packed:
        plain = folder / entry.file.removesuffix(".gz")
        assert gzip.decompress((folder / entry.file).read_bytes()) == plain.read_bytes(), entry.file


@pytest.mark.parametrize("fmt", [fmt.name for fmt in QUAD_FORMATS])
def test_dataset_dumps_round_trip_graph_by_graph(
    fmt: str, folder: Path, dataset: Dataset, files: list[DumpFile]
):
    parsed = Dataset()
    parsed.parse(folder / f"{DATASET}.{BY_NAME[fmt].extension}", format=BY_NAME[fmt].rdflib)
    for name, iri in NAMED_GRAPHS.items():
        assert same_graph(parsed.graph(iri), dataset.graph(iri)), f"{name} differs in {fmt}"
    entry = next(f for f in files if f.file == f"{DATASET}.{BY_NAME[fmt].extension}")
    assert entry.triples == sum(len(dataset.graph(iri)) for iri in NAMED_GRAPHS.values())


@pytest.mark.parametrize("graph", list(NAMED_GRAPHS))
@pytest.mark.parametrize("fmt", [fmt.name for fmt in GRAPH_FORMATS])
def test_graph_dumps_round_trip(graph: str, fmt: str, folder: Path, dataset: Dataset, files: list[DumpFile]):
    extension = BY_NAME[fmt].extension
    parsed = Graph().parse(folder / f"{graph}.{extension}", format=BY_NAME[fmt].rdflib)
    expected = dataset.graph(NAMED_GRAPHS[graph])
    assert len(expected) > 0
    assert same_graph(parsed, expected), f"{graph}.{extension} differs from the graph"
    assert next(f for f in files if f.file == f"{graph}.{extension}").triples == len(expected)


def test_second_call_reuses_the_folder(built: BuildReport, files: list[DumpFile], folder: Path):
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert ensure_dumps(built.release) == files
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert not [p for p in built.release.iterdir() if p.name.startswith(".dumps-")]


def test_cli_writes_the_same_bytes(built: BuildReport, files: list[DumpFile], tmp_path: Path, capsys):
    code = main(
        [
            "--build-dir",
            str(build_dir_of(built)),
            "dump",
            "--format",
            "turtle,nquads",
            "--graph",
            "asserted",
            "--graph",
            "dataset",
            "-o",
            str(tmp_path),
        ]
    )
    assert code == 0
    expected = {f.file: f.sha256 for f in files}
    written = sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".json" and p.name != CHECKSUMS_FILE)
    assert written == ["asserted.ttl", "asserted.ttl.gz", "dataset.nq", "dataset.nq.gz", "void.ttl"]
    for name in written[:-1]:
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == expected[name]
    assert str(tmp_path / "asserted.ttl") in capsys.readouterr().out


def test_cli_rejects_an_unknown_format(built: BuildReport, capsys):
    assert main(["--build-dir", str(build_dir_of(built)), "dump", "--format", "n3000"]) == 2
    assert "unknown format" in capsys.readouterr().err


# --- over HTTP, against a real server ---------------------------------------------------------------


@pytest.mark.server
def test_index_as_json_lists_urls_sizes_and_checksums(live_server: LiveServer, files: list[DumpFile]):
    answer = requests.get(f"{live_server.url}/dumps/", headers={"Accept": "application/json"}, timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    listed = {entry["file"]: entry for entry in answer.json()["files"]}
    assert {name: entry["sha256"] for name, entry in listed.items()} == {f.file: f.sha256 for f in files}
    assert listed["asserted.ttl"]["url"] == f"{PUBLIC_URL}dumps/asserted.ttl"  # the public_url setting's


@pytest.mark.server
def test_index_as_html_is_a_table(live_server: LiveServer, files: list[DumpFile]):
    answer = requests.get(f"{live_server.url}/dumps/", headers={"Accept": "text/html"}, timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    for header in ("<th>file</th>", "<th>format</th>", "<th>graph</th>", "<th>size</th>", "<th>sha256</th>"):
        assert header in answer.text
    entry = next(f for f in files if f.file == "dataset.nq.gz")
    assert 'href="/dumps/dataset.nq.gz"' in answer.text and entry.sha256 in answer.text
    assert "nosniff" in answer.headers["x-content-type-options"]


@pytest.mark.server
@pytest.mark.parametrize(
    "name, media_type",
    [
        ("asserted.ttl", "text/turtle"),
        ("dataset.nq", "application/n-quads"),
        ("dataset.trig", "application/trig"),
        ("ontology.jsonld", "application/ld+json"),
        ("shapes.rdf", "application/rdf+xml"),
        ("provenance.nt", "application/n-triples"),
        ("inferred.ttl.gz", "application/gzip"),
    ],
)
def test_files_are_served_with_their_media_type_and_bytes(
    live_server: LiveServer, files: list[DumpFile], name: str, media_type: str
):
    answer = requests.get(f"{live_server.url}/dumps/{name}", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == media_type
    assert "content-encoding" not in answer.headers  # .gz is the file itself, not a transfer coding
    entry = next(f for f in files if f.file == name)
    assert hashlib.sha256(answer.content).hexdigest() == entry.sha256
    assert answer.headers["etag"] == f'"{entry.sha256}"'
    assert answer.headers["last-modified"].endswith("GMT")


@pytest.mark.server
def test_conditional_requests_get_304(live_server: LiveServer):
    url = f"{live_server.url}/dumps/asserted.ttl"
    first = requests.get(url, timeout=30)
    again = requests.get(url, headers={"If-None-Match": first.headers["etag"]}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert requests.get(url, headers={"If-None-Match": '"something-else"'}, timeout=30).status_code == 200
    since = requests.get(url, headers={"If-Modified-Since": first.headers["last-modified"]}, timeout=30)
    assert since.status_code == 304
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.headers["etag"] == first.headers["etag"]


@pytest.mark.server
@pytest.mark.parametrize(
    "path",
    [
        "/dumps/..%2Fmanifest.json",
        "/dumps/%2e%2e/dataset.nq",
        "/dumps/nothing.ttl",
        "/dumps/..%2F..%2Fcurrent%2Fdataset.nq",
        "/dumps/%2Fetc%2Fpasswd",
    ],
)
def test_paths_cannot_leave_the_folder(live_server: LiveServer, path: str):
    answer = requests.get(live_server.url + path, timeout=30)
    assert answer.status_code == 404
    assert b"<http" not in answer.content  # no RDF leaked


@pytest.mark.server
def test_checksum_file_verifies_the_served_files(live_server: LiveServer):
    sums = requests.get(f"{live_server.url}/dumps/{CHECKSUMS_FILE}", timeout=30)
    assert sums.status_code == 200 and sums.headers["content-type"].startswith("text/plain")
    for line in sums.text.splitlines()[:6]:
        digest, name = line.split("  ")
        body = requests.get(f"{live_server.url}/dumps/{name}", timeout=30).content
        assert hashlib.sha256(body).hexdigest() == digest
