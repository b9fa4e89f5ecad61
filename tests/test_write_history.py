"""Issue 17: one source of truth for writes, one lock for builds and writes, conditional writes,
release history, and writes whose answer was lost.

Real processes throughout: a ``mildip serve`` with writes on a copy of the session's build and of
``data/``, and ``mildip build`` / ``mildip releases`` subprocesses on the same folders.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
from rdflib import Graph, URIRef
from rdflib.compare import isomorphic

from mildip_ld.release import changes
from mildip_ld.release.build import (
    DATASET_FILE,
    LOCK_FILE,
    RELEASES_DIR,
    BuildReport,
    current_release,
    load_release,
    manifest_of,
)
from mildip_ld.vocab.namespaces import ASSERTED, INFERRED, MD, MDR, NAMED_GRAPHS, PROVENANCE
from tests.live_server import LiveServer
from tests.test_writes import (
    AUTH,
    PASSAGE,
    PREFIXES,
    TOKEN,
    _server_process,
    _wait_for,
    ask,
    copy_build,
    graph_store,
    insert_state,
    new_state,
    release_name,
    serve,
    update,
    writable_data,
)

pytestmark = pytest.mark.server

RDFS_LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
TURTLE_PREFIXES = f"@prefix md: <{MD}> . @prefix mdr: <{MDR}> . @prefix rdfs: <{RDFS_LABEL[1:-6]}> ."


def mildip(*args: str, data: Path, build_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the ``mildip`` command line as a separate process on ``data`` and ``build_dir``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MILDIP_")}
    command = [sys.executable, "-m", "mildip_ld", "--data", str(data), "--build-dir", str(build_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def graph_quads(release: Path) -> dict[str, set[str]]:
    """Every named graph of a release, as a set of N-Quads lines."""
    found: dict[str, set[str]] = {}
    for quad in ox.parse(path=str(release / DATASET_FILE), format=ox.RdfFormat.N_QUADS):
        found.setdefault(quad.graph_name.value, set()).add(str(quad))
    return found


def assert_same_graphs(one: Path, other: Path) -> None:
    """Both releases hold the same named graphs: the same triples, up to blank node labels (the
    ontology and shapes have blank nodes, labelled anew by each parse); the data graphs exactly."""
    first, second = load_release(one), load_release(other)
    for name in NAMED_GRAPHS.values():
        a, b = Graph() + first.graph(URIRef(name)), Graph() + second.graph(URIRef(name))
        assert len(a) == len(b) and isomorphic(a, b), name
    for name in (ASSERTED, PROVENANCE, INFERRED):
        assert graph_quads(one)[str(name)] == graph_quads(other)[str(name)]


@pytest.fixture(scope="module")
def server(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("history")
    yield from serve(
        copy_build(built, folder), folder / "server.log", update_token=TOKEN, update_token_label="test-editor"
    )


def data_of(server: LiveServer) -> Path:
    return writable_data(server.build_dir)


# --- 1. one source of truth -----------------------------------------------------------------------


def test_every_acknowledged_write_is_a_reviewable_change_in_data(server: LiveServer) -> None:
    answer = update(server, insert_state("hyperborea", "Hyperborea"))
    assert answer.status_code == 204, answer.text
    write_id = answer.headers["x-mildip-write"]
    change = changes.find(data_of(server), write_id)
    assert change is not None and change.release == answer.headers["x-mildip-release"]
    assert change.by == "test-editor" and change.origin == "write" and change.deleted == []
    assert f'<{MDR.hyperborea}> {RDFS_LABEL} "Hyperborea"@en <{ASSERTED}>' in {
        str(quad) for quad in change.added
    }
    text = next(changes.changes_dir(data_of(server)).glob(f"*--{write_id}.rdfp")).read_text()
    assert text.startswith(f'H id "{write_id}" .') and "\nTX .\n" in text and text.endswith("TC .\n")
    manifest = manifest_of(current_release(server.build_dir))
    assert manifest["origin"] == "write" and manifest["by"] == "test-editor"
    assert write_id in manifest["changes"]
    assert manifest["timings_seconds"]  # real timings, not an empty object
    download = httpx.get(f"{server.url}/dumps/changes.rdfp")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/rdf-patch")
    served = changes.parse_patch(download.text, "/dumps/changes.rdfp")
    assert {str(quad) for quad in change.added} <= {str(quad) for quad in served.added}
    assert any(quad.graph_name.value == str(INFERRED) for quad in served.added)  # every graph


def test_a_build_from_data_reproduces_the_served_state(server: LiveServer) -> None:
    """Writes of every kind, then `mildip build` from data/: the same graphs, still served."""
    prefixes = TURTLE_PREFIXES
    assert (
        graph_store(
            server, "POST", str(ASSERTED), f"{prefixes} {new_state('thule', 'Thule')}".encode()
        ).status_code
        == 204
    )
    deleting = (
        f"{PREFIXES} DELETE WHERE {{ GRAPH <{ASSERTED}> {{ mdr:hyperborea rdfs:label ?l }} }} ; "
        f"{PREFIXES} INSERT DATA {{ GRAPH <{ASSERTED}> {{ mdr:hyperborea rdfs:label "
        f'"Hyperborea\\n\\"North\\""@en }} }}'
    )
    assert update(server, deleting).status_code == 204
    served = current_release(server.build_dir)
    built = mildip("build", data=data_of(server), build_dir=server.build_dir)
    assert built.returncode == 0, built.stderr
    assert "logged write(s)" in built.stderr
    rebuilt = current_release(server.build_dir)
    assert rebuilt != served
    assert_same_graphs(rebuilt, served)  # every graph, the inferred one included
    assert manifest_of(rebuilt)["origin"] == "build"
    assert set(manifest_of(served)["changes"]) <= set(manifest_of(rebuilt)["changes"])
    assert ask(server, f"ASK {{ GRAPH <{INFERRED}> {{ mdr:thule a md:Actor }} }}")


def test_a_build_that_would_drop_writes_is_refused_until_the_operator_says_so(
    built: BuildReport, tmp_path: Path, paths
) -> None:
    """The issue's routine: writes served, then `mildip build` from a data folder without them."""
    build_dir = copy_build(built, tmp_path)
    process, url = _server_process(build_dir, tmp_path / "server.log")
    try:
        server = LiveServer(url, process.pid, build_dir)
        answer = update(server, insert_state("lyonesse", "Lyonesse"))
        assert answer.status_code == 204, answer.text
        served = current_release(build_dir)
        refused = mildip("build", data=paths.data, build_dir=build_dir)  # the project's data: no change log
        assert refused.returncode == 2
        assert answer.headers["x-mildip-write"] in refused.stderr and "--discard-writes" in refused.stderr
        assert current_release(build_dir) == served and ask(server, "ASK { mdr:lyonesse a md:State }")
        for _ in range(4):  # retention never deletes the release holding it while the log lacks it
            assert mildip("build", data=paths.data, build_dir=build_dir).returncode == 2
        discarded = mildip("build", "--discard-writes", data=paths.data, build_dir=build_dir)
        assert discarded.returncode == 0, discarded.stderr
        assert f"discarding write {answer.headers['x-mildip-write']}" in discarded.stderr
        assert manifest_of(current_release(build_dir))["discarded"] == [answer.headers["x-mildip-write"]]
        assert _wait_for(lambda: not ask(server, "ASK { mdr:lyonesse a md:State }"), 30, 0.2)
    finally:
        process.kill()
        process.wait()


# --- 2. builds and writes take the same lock ------------------------------------------------------


def _lock_is_held(build_dir: Path) -> bool:
    with open(build_dir / LOCK_FILE, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def test_a_write_during_a_build_waits_and_lands_on_top_of_it(server: LiveServer) -> None:
    """The build starts first: the write waits for its lock, then applies on the build's release."""
    build = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mildip_ld",
            "--data",
            str(data_of(server)),
            "--build-dir",
            str(server.build_dir),
            "build",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_for(lambda: _lock_is_held(server.build_dir), 60), "the build never took the lock"
        answer = update(server, insert_state("vineta", "Vineta"))
        out, err = build.communicate(timeout=300)
    finally:
        build.kill()
    assert build.returncode == 0 and "written" in err, err
    assert answer.status_code == 204, answer.text
    built_release = err.rsplit("written ", 1)[1].split()[0]
    served = current_release(server.build_dir)
    assert manifest_of(served)["parent"] == Path(built_release).name  # the build published, then the write
    assert release_name(server) == served.name
    assert ask(server, f"ASK {{ GRAPH <{INFERRED}> {{ mdr:vineta a md:Actor }} }}")


def test_a_build_during_a_write_includes_it(server: LiveServer) -> None:
    """The write starts first: the build waits for it and applies its logged change."""
    answers: list[httpx.Response | Exception] = []

    def send() -> None:
        try:
            answers.append(update(server, insert_state("ys", "Ys")))
        except httpx.HTTPError as failure:  # told below, not lost in the thread
            answers.append(failure)

    sender = threading.Thread(target=send)
    sender.start()
    assert _wait_for(lambda: _lock_is_held(server.build_dir), 60), "the write never took the lock"
    built = mildip("build", data=data_of(server), build_dir=server.build_dir)
    sender.join()
    answer = answers[0]
    assert isinstance(answer, httpx.Response), f"the write got no answer: {answer!r}"
    assert answer.status_code == 204, answer.text
    assert built.returncode == 0, built.stderr
    assert answer.headers["x-mildip-write"] in manifest_of(current_release(server.build_dir))["changes"]
    assert _wait_for(lambda: ask(server, "ASK { GRAPH ?g { mdr:ys a md:Actor } }"), 30, 0.2)


# --- 3. entity tags -------------------------------------------------------------------------------


def test_two_clients_get_and_put_back_the_second_is_refused(server: LiveServer) -> None:
    """The lost update of the issue: both read, both write; the second write is stale (412)."""
    first = graph_store(server, "GET", str(ASSERTED), token=False)
    second = graph_store(server, "GET", str(ASSERTED), token=False)
    tag = first.headers["etag"]
    assert tag == second.headers["etag"] and tag.startswith('"') and not tag.startswith("W/")
    assert graph_store(server, "GET", str(PROVENANCE), token=False).headers["etag"] != tag  # per graph
    revalidated = httpx.get(
        f"{server.url}/store",
        params={"graph": str(ASSERTED)},
        headers={"If-None-Match": tag, "Accept": "application/n-triples"},
    )
    assert revalidated.status_code == 304
    avalon = f"<{MDR.avalon}>"
    one = (
        first.text + f"{avalon} <{MD.wikidataStatus}> <{MD.noCheckedItem}> .\n"
        f'{avalon} {RDF_TYPE} <{MD.State}> .\n{avalon} {RDFS_LABEL} "Avalon"@en .\n'
        f"{avalon} <{MD.mentionedIn}> <{PASSAGE}> .\n"
    )
    two = second.text + f'<{MDR.avalon}> <http://www.w3.org/2000/01/rdf-schema#comment> "second" .\n'
    put = {"Authorization": AUTH["Authorization"], "Content-Type": "application/n-triples"}
    won = httpx.put(
        f"{server.url}/store",
        params={"graph": str(ASSERTED)},
        content=one.encode(),
        headers={**put, "If-Match": tag},
        timeout=60,
    )
    assert won.status_code == 204, won.text
    lost = httpx.put(
        f"{server.url}/store",
        params={"graph": str(ASSERTED)},
        content=two.encode(),
        headers={**put, "If-Match": tag},
        timeout=60,
    )
    assert lost.status_code == 412 and "If-Match" in lost.text
    assert ask(server, "ASK { mdr:avalon a md:State }")
    assert not ask(server, 'ASK { mdr:avalon rdfs:comment "second" }')
    fresh = graph_store(server, "GET", str(ASSERTED), token=False).headers["etag"]
    assert fresh != tag
    assert (
        httpx.request(
            "DELETE",
            f"{server.url}/store",
            params={"graph": str(ASSERTED)},
            headers={**AUTH, "If-None-Match": "*"},
        ).status_code
        == 412
    )  # it exists
    assert (
        httpx.post(
            f"{server.url}/store",
            params={"graph": str(ASSERTED)},
            content=b"<urn:x:a> <urn:x:b> <urn:x:c> .",
            headers={**put, "If-Match": "not a tag"},
        ).status_code
        == 400
    )


def test_a_sparql_update_can_be_conditional_on_the_release(server: LiveServer) -> None:
    current = release_name(server)
    stale = update(server, insert_state("mu", "Mu"), headers={"If-Match": '"20000101T000000000000Z"'})
    assert stale.status_code == 412 and current in stale.text
    assert not ask(server, "ASK { mdr:mu a md:State }")
    fresh = update(server, insert_state("mu", "Mu"), headers={"If-Match": f'"{current}"'})
    assert fresh.status_code == 204, fresh.text
    assert ask(server, "ASK { mdr:mu a md:State }")
    weak_tag = f'W/"{fresh.headers["x-mildip-release"]}"'
    weak = update(server, insert_state("mu2", "Mu two"), headers={"If-Match": weak_tag})
    assert weak.status_code == 412  # a weak tag never matches a strong comparison


# --- 5. a write whose answer was lost -------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_is_not_applied_twice(server: LiveServer) -> None:
    key = "client-key-0001"
    first = update(server, insert_state("kitezh", "Kitezh"), headers={"Idempotency-Key": key})
    assert first.status_code == 204 and first.headers["x-mildip-write"] == key
    releases = sorted(p.name for p in (server.build_dir / RELEASES_DIR).iterdir())
    again = update(server, insert_state("kitezh", "Kitezh"), headers={"Idempotency-Key": key})
    assert again.status_code == 204
    assert sorted(p.name for p in (server.build_dir / RELEASES_DIR).iterdir()) == releases
    status = httpx.get(f"{server.url}/store/writes", params={"id": key})
    assert status.status_code == 200 and status.json()["release"] == first.headers["x-mildip-release"]
    assert httpx.get(f"{server.url}/store/writes", params={"id": "never-sent"}).status_code == 404
    assert httpx.get(f"{server.url}/store/writes", params={"id": "../etc"}).status_code == 400
    assert update(server, insert_state("x", "X"), headers={"Idempotency-Key": "a/b"}).status_code == 400


@pytest.mark.parametrize("moment", ["while publishing", "while validating"])
def test_a_write_killed_before_its_answer_is_committed_or_not_and_the_client_can_tell(
    built: BuildReport, tmp_path: Path, moment: str
) -> None:
    build_dir = copy_build(built, tmp_path)
    process, url = _server_process(build_dir, tmp_path / "server.log")
    key = f"killed-{moment.split()[1]}"
    sender = threading.Thread(
        target=lambda: _quietly(
            lambda: update(
                LiveServer(url, process.pid, build_dir),
                insert_state("avalon", "Avalon"),
                {"Idempotency-Key": key},
            )
        )
    )
    sender.start()
    if moment == "while publishing":
        assert _wait_for(lambda: any(build_dir.glob(".staging-*")), 30)
    else:
        time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    sender.join()
    process, url = _server_process(build_dir, tmp_path / "server.log")
    try:
        server = LiveServer(url, process.pid, build_dir)
        assert not list(changes.changes_dir(writable_data(build_dir)).glob(".pending-*"))  # settled at start
        status = httpx.get(f"{url}/store/writes", params={"id": key})
        visible = ask(server, f"ASK {{ GRAPH <{ASSERTED}> {{ mdr:avalon a md:State }} }}")
        assert status.status_code in (200, 404)
        assert (status.status_code == 200) == visible  # committed exactly when served
        retry = update(server, insert_state("avalon", "Avalon"), {"Idempotency-Key": key})
        assert retry.status_code == 204 and ask(server, "ASK { mdr:avalon a md:State }")
        assert httpx.get(f"{url}/store/writes", params={"id": key}).status_code == 200
        assert not list(changes.changes_dir(writable_data(build_dir)).glob(".pending-*"))
    finally:
        process.kill()
        process.wait()


def _quietly(function) -> None:
    try:
        function()
    except httpx.HTTPError:
        pass


# --- 4. release history ---------------------------------------------------------------------------


def test_releases_lists_diffs_and_rolls_back(server: LiveServer) -> None:
    data = data_of(server)
    before = release_name(server)
    answer = update(server, insert_state("atlantis", "Atlantis"))
    assert answer.status_code == 204
    after = answer.headers["x-mildip-release"]
    listed = mildip("releases", "--json", data=data, build_dir=server.build_dir)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows[after]["origin"] == "write" and rows[after]["by"] == "test-editor" and rows[after]["current"]
    assert rows[after]["parent"] == before and rows[after]["counts"]["asserted"] > 0
    text = mildip("releases", data=data, build_dir=server.build_dir).stdout
    assert f"* {after}" in text and "test-editor" in text
    patch = mildip("releases", "diff", before, after, data=data, build_dir=server.build_dir)
    assert patch.returncode == 0, patch.stderr
    parsed = changes.parse_patch(patch.stdout, "diff")
    added = {str(quad) for quad in parsed.added}
    assert f'<{MDR.atlantis}> {RDFS_LABEL} "Atlantis"@en <{ASSERTED}>' in added
    assert any(quad.graph_name.value == str(INFERRED) for quad in parsed.added)  # md:Actor, inferred
    assert parsed.deleted == []
    rolled = mildip("releases", "rollback", before, data=data, build_dir=server.build_dir)
    assert rolled.returncode == 0, rolled.stderr
    newest = current_release(server.build_dir)
    assert manifest_of(newest)["origin"] == "rollback" and manifest_of(newest)["parent"] == after
    earlier = server.build_dir / RELEASES_DIR / before
    assert graph_quads(newest)[str(ASSERTED)] == graph_quads(earlier)[str(ASSERTED)]
    assert _wait_for(lambda: not ask(server, "ASK { mdr:atlantis a md:State }"), 30, 0.2)
    rebuilt = mildip("build", data=data, build_dir=server.build_dir)  # the rollback is in the log too
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert_same_graphs(current_release(server.build_dir), newest)
    unknown = mildip("releases", "diff", "no-such", "current", data=data, build_dir=server.build_dir)
    assert unknown.returncode == 2 and "no-such" in unknown.stderr
