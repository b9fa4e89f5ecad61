"""`mildip publish`: every named graph of the build, PUT to a real Oxigraph server's Graph Store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.launch import LOOPBACK, free_port
from mildip_ld.cli.main import EXIT_ERROR, EXIT_OK, main
from mildip_ld.release.build import BuildReport
from mildip_ld.release.publish import PublishError, graph_iri, publish, target_url
from mildip_ld.vocab.namespaces import GRAPH_BASE
from tests.live_server import build_dir_of
from tests.oxigraph_server import OxigraphServer, oxigraph_server

pytestmark = pytest.mark.server


@pytest.fixture
def oxigraph(tmp_path: Path) -> Iterator[OxigraphServer]:
    """An empty Oxigraph server for one test."""
    yield from oxigraph_server(tmp_path / "store", tmp_path / "oxigraph.log")


def test_every_graph_arrives_with_the_manifest_counts(
    built: BuildReport, oxigraph: OxigraphServer, capsys: pytest.CaptureFixture[str]
):
    status = main(["--build-dir", str(build_dir_of(built)), "publish", "--to", oxigraph.store])
    assert status == EXIT_OK
    expected = {GRAPH_BASE + name: count for name, count in built.counts.items()}
    assert oxigraph.graph_counts() == expected
    said = capsys.readouterr().err
    for iri, count in expected.items():
        assert f"{iri}: {count} triples" in said
    assert f"published {len(expected)} graphs, {sum(expected.values())} triples" in said


def test_publishing_again_replaces_and_one_graph_can_go_alone(built: BuildReport, oxigraph: OxigraphServer):
    publish(built.release, oxigraph.store)
    pushed = publish(built.release, oxigraph.store, graphs=["inferred"], content_type="text/turtle")
    assert [(done.graph, done.triples) for done in pushed] == [
        (graph_iri("inferred"), built.counts["inferred"])
    ]
    assert pushed[0].status in (201, 204)
    assert oxigraph.graph_counts()[graph_iri("inferred")] == built.counts["inferred"]  # replaced, not doubled


def test_a_refusal_is_an_error_naming_the_request(
    built: BuildReport, oxigraph: OxigraphServer, capsys: pytest.CaptureFixture[str]
):
    status = main(
        ["--build-dir", str(build_dir_of(built)), "publish", "--to", f"{oxigraph.url}/no-such-path"]
    )
    assert status == EXIT_ERROR
    said = capsys.readouterr().err
    assert "error: PUT " in said and "answered 404" in said
    assert oxigraph.graph_counts() == {}


def test_an_unreachable_store_and_an_unknown_graph_are_errors(built: BuildReport, oxigraph: OxigraphServer):
    with pytest.raises(PublishError, match="no such graph.*it has asserted"):
        publish(built.release, oxigraph.store, graphs=["nothing"])
    with pytest.raises(PublishError, match="could not PUT"):
        publish(built.release, f"http://{LOOPBACK}:{free_port()}/store", timeout=5)


def test_the_graph_goes_into_the_query_string():
    assert target_url("http://h/store", "https://g/x") == "http://h/store?graph=https%3A%2F%2Fg%2Fx"
    assert target_url("http://h/crud?auth=1", "urn:g") == "http://h/crud?auth=1&graph=urn%3Ag"
