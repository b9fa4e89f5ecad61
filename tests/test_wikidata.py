"""Wikidata links: right identifiers and labels, checked offline and against a real SPARQL server."""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
from rdflib import Graph

from benchmarks.launch import free_port
from mildip_ld.cli.main import main
from mildip_ld.curation.wikidata import (
    EndpointError,
    Item,
    WikidataClient,
    check,
    items_in_snapshot,
    links_in,
    snapshot_graph,
    write_mapping_csv,
    write_quickstatements,
)
from mildip_ld.pipeline.loader import ProjectData

from .conftest import NO_SHARED, ROOT, SHARED, WIKIDATA_REFERENCE

SNAPSHOT = ROOT / "data" / "wikidata" / "snapshot.ttl"
OXIGRAPH = Path(sys.executable).with_name("oxigraph")  # the Oxigraph CLI of the interpreter running the tests


@pytest.fixture(scope="module")
def links(project: ProjectData):
    return links_in(project.asserted.graph)


def test_links_match_the_reference(links):
    with WIKIDATA_REFERENCE.open(encoding="utf-8") as handle:
        reference = {row["qid"]: row["english_label"] for row in csv.DictReader(handle, delimiter="\t")}
    assert len(links) >= 20
    for link in links:
        assert link.qid in reference, f"{link.entity} carries {link.qid}, which the reference does not list"
        assert reference[link.qid].casefold() in link.names(), link


@pytest.mark.skipif(not (SHARED / "wikidata" / "reference.tsv").is_file(), reason=NO_SHARED)
def test_reference_is_identical_to_shared():
    assert WIKIDATA_REFERENCE.read_bytes() == (SHARED / "wikidata" / "reference.tsv").read_bytes()


def test_every_link_matches_the_offline_snapshot(links):
    items = items_in_snapshot(Graph().parse(SNAPSHOT))
    assert check(links, items) == []


def test_check_reports_a_changed_label_and_a_missing_item(links):
    items = items_in_snapshot(Graph().parse(SNAPSHOT))
    russia = next(link for link in links if link.qid == "Q159")
    items["Q159"].label = "Muscovy"
    del items["Q184"]
    problems = {f.link.qid: f.problem for f in check(links, items)}
    assert set(problems) == {"Q159", "Q184"}
    assert "label mismatch" in problems["Q159"] and russia.label in problems["Q159"]
    assert "no such item" in problems["Q184"]


def test_snapshot_round_trips(links):
    items = [Item("Q159", "Russia", "country", {"Q6256"}, {"Q7779"})]
    graph = snapshot_graph(items, date(2026, 11, 24), "test")
    back = items_in_snapshot(graph)["Q159"]
    assert (back.label, back.description, back.instance_of, back.member_of) == (
        "Russia",
        "country",
        {"Q6256"},
        {"Q7779"},
    )


def test_exports_list_every_link(links, tmp_path: Path):
    write_mapping_csv(links, tmp_path / "map.csv")
    write_quickstatements(links, tmp_path / "qs.tsv")
    rows = list(csv.DictReader((tmp_path / "map.csv").open(encoding="utf-8")))
    assert {(r["iri"], r["wikidata_id"]) for r in rows} == {(str(link.entity), link.qid) for link in links}
    statements = (tmp_path / "qs.tsv").read_text(encoding="utf-8").splitlines()
    assert len(statements) == len(links)
    assert 'Q159\tP2888\t"https://w3id.org/mildip/id/russia"' in statements


@pytest.fixture(scope="module")
def stand_in_wikidata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Oxigraph server on loopback holding the snapshot with one label changed and one item gone."""
    folder = tmp_path_factory.mktemp("wikidata")
    items = items_in_snapshot(Graph().parse(SNAPSHOT))
    items["Q184"].label = "Byelorussia"
    del items["Q399"]
    snapshot_file = folder / "stand-in.ttl"
    snapshot_graph(items.values(), date(2026, 11, 24), "test").serialize(snapshot_file, format="turtle")
    subprocess.run(
        [str(OXIGRAPH), "load", "--location", str(folder / "db"), "--file", str(snapshot_file)],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [str(OXIGRAPH), "serve-read-only", "--location", str(folder / "db"), "--bind", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(base, timeout=0.5)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    yield f"{base}/query"
    server.terminate()
    server.wait(timeout=10)


def test_check_against_a_real_server_finds_the_changed_label_and_the_gone_item(links, stand_in_wikidata):
    items = WikidataClient(endpoint=stand_in_wikidata, timeout_s=5, batch_size=7).fetch(links)
    assert len(items) == len(links) - 1
    problems = {f.link.qid: f.problem for f in check(links, items)}
    assert set(problems) == {"Q184", "Q399"}
    assert "Byelorussia" in problems["Q184"]


def test_a_failing_server_is_retried_with_back_off_then_reported(links):
    waits: list[float] = []
    client = WikidataClient(
        endpoint=f"http://127.0.0.1:{free_port()}/sparql",
        timeout_s=2,
        retries=3,
        backoff_s=0.5,
        sleep=waits.append,
    )
    with pytest.raises(EndpointError, match="failed after 4 attempt"):
        client.fetch(links)
    assert waits == [0.5, 1.0, 2.0]


def test_a_server_that_never_answers_times_out(links):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    port = listener.getsockname()[1]
    client = WikidataClient(endpoint=f"http://127.0.0.1:{port}/sparql", timeout_s=1, retries=0)
    started = time.monotonic()
    with pytest.raises(EndpointError):
        client.fetch(links)
    assert time.monotonic() - started < 10
    listener.close()


def test_cli_check_offline_agrees(capsys):
    assert main(["wikidata", "check", "--offline"]) == 0
    assert "links agree" in capsys.readouterr().err


def test_cli_check_against_the_stand_in_reports_per_entity_and_exits_1(stand_in_wikidata, capsys):
    assert main(["wikidata", "check", "--endpoint", stand_in_wikidata, "--timeout", "5"]) == 1
    out = capsys.readouterr().out
    assert "https://w3id.org/mildip/id/belarus -> Q184: label mismatch" in out
    assert "https://w3id.org/mildip/id/armenia -> Q399: no such item" in out


def test_cli_refresh_changes_nothing_unless_asked(stand_in_wikidata, paths, tmp_path: Path, capsys):
    before = SNAPSHOT.read_bytes()
    main(["wikidata", "refresh", "--endpoint", stand_in_wikidata])
    assert SNAPSHOT.read_bytes() == before
    data = tmp_path / "data"
    shutil.copytree(paths.data, data)
    main(["--data", str(data), "wikidata", "refresh", "--endpoint", stand_in_wikidata, "--write"])
    refreshed = items_in_snapshot(Graph().parse(data / "wikidata" / "snapshot.ttl"))
    assert refreshed["Q184"].label == "Byelorussia" and "Q399" not in refreshed
    assert SNAPSHOT.read_bytes() == before


def test_cli_failing_endpoint_exits_2(capsys):
    assert (
        main(
            [
                "wikidata",
                "check",
                "--endpoint",
                f"http://127.0.0.1:{free_port()}/sparql",
                "--retries",
                "0",
                "--timeout",
                "2",
            ]
        )
        == 2
    )
    assert "failed after 1 attempt" in capsys.readouterr().err


def test_cli_export_writes_csv_and_quickstatements(tmp_path: Path):
    csv_file, qs_file = tmp_path / "links.csv", tmp_path / "links.qs"
    assert main(["wikidata", "export", "--csv", str(csv_file), "--quickstatements", str(qs_file)]) == 0
    assert "Q159" in csv_file.read_text() and "P2888" in qs_file.read_text()
