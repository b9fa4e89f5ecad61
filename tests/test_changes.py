"""The change log of data/changes/ (RDF Patch), the settling of a killed write's pending change,
the retention of releases, and the entity-tag preconditions (in process; the live server is in
tests/test_write_history.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Graph, URIRef

from mildip_ld.cli.main import main
from mildip_ld.curation.commit import Write, WriteRefusedError, commit
from mildip_ld.release import changes
from mildip_ld.release.build import (
    DATASET_FILE,
    RELEASES_DIR,
    BuildReport,
    UnloggedWritesError,
    build,
    current_release,
    load_release,
    manifest_of,
)
from mildip_ld.release.releases import PreconditionError, check_conditions, etag, parse_tags
from mildip_ld.release.store import STORE_DIR, open_store
from mildip_ld.vocab.config import Paths
from mildip_ld.vocab.namespaces import ASSERTED, MD, MDR, NAMED_GRAPHS
from mildip_ld.vocab.settings import Settings
from tests.live_server import build_dir_of

PASSAGE = "https://w3id.org/mildip/id/passage/military-diplomacy-in-russia/l19-s1"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


def insert(slug: str) -> str:
    return (
        f"INSERT DATA {{ GRAPH <{ASSERTED}> {{ <{MDR[slug]}> a <{MD.State}> ; <{RDFS_LABEL}> "
        f'"{slug.title()}"@en ; <{MD.wikidataStatus}> <{MD.noCheckedItem}> ; <{MD.mentionedIn}> '
        f"<{PASSAGE}> }} }}"
    )


def settings_of(paths: Paths, keep: int = 3) -> Settings:
    """The configuration naming these folders (what the CLI and the writer hand to ``commit``)."""
    return Settings(
        project_dir=paths.root,
        build_dir=paths.build,
        data_dir=paths.data,
        shapes_dir=paths.shapes,
        keep_releases=keep,
    )


@pytest.fixture
def project_copy(built: BuildReport, paths: Paths, tmp_path: Path) -> Paths:
    """A copy of the session's build and of data/, as paths."""
    shutil.copytree(build_dir_of(built), tmp_path / "build", symlinks=True)
    shutil.copytree(paths.data, tmp_path / "data")
    return replace(paths, build=tmp_path / "build", data=tmp_path / "data")


def test_a_patch_reads_back_exactly() -> None:
    """Terms that need escaping survive the round trip (Oxigraph prints and parses them)."""
    graph = ox.NamedNode(str(ASSERTED))
    tricky = [
        ox.Literal('a "quoted"\nline\tand \\ backslash'),
        ox.Literal("Москва", language="ru"),
        ox.Literal("5", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#positiveInteger")),
        ox.NamedNode("urn:x:o"),
    ]
    change = changes.Change(
        id="round-trip",
        release="29990101T000000000000Z",
        by='label "with" quotes',
        added=[ox.Quad(ox.NamedNode("urn:x:s"), ox.NamedNode("urn:x:p"), o, graph) for o in tricky],
        deleted=[ox.Quad(ox.NamedNode("urn:x:s"), ox.NamedNode("urn:x:q"), tricky[0], graph)],
    )
    back = changes.parse_patch(change.patch(), "test")
    assert back == change


@pytest.mark.parametrize(
    "text",
    [
        'H id "x" .\nTX .\nA <urn:x:s> <urn:x:p> .\nTC .\n',
        'H id "x" .\nX something .\n',
        "TX .\nA <urn:x:s> <urn:x:p> <urn:x:o> <urn:x:g> .\nTC .\n",
    ],
)
def test_a_broken_patch_is_refused_with_its_file(text: str) -> None:
    with pytest.raises(changes.ChangeLogError, match="broken.rdfp"):
        changes.parse_patch(text, "broken.rdfp")


def test_a_change_to_another_graph_is_refused_by_the_build(tmp_path: Path) -> None:
    folder = changes.changes_dir(tmp_path)
    folder.mkdir()
    change = changes.Change(
        id="ontology",
        release="r",
        added=[
            ox.Quad(
                ox.NamedNode("urn:x:s"),
                ox.NamedNode("urn:x:p"),
                ox.NamedNode("urn:x:o"),
                ox.NamedNode("urn:x:other"),
            )
        ],
    )
    (folder / change.file_name).write_text(change.patch())
    with pytest.raises(changes.ChangeLogError, match="urn:x:other"):
        changes.apply_log(tmp_path, {ASSERTED: Graph()})


def test_pending_changes_are_completed_or_removed_by_their_release(tmp_path: Path) -> None:
    releases = tmp_path / "build" / RELEASES_DIR
    (releases / "published").mkdir(parents=True)
    kept = changes.record_pending(tmp_path, changes.Change(id="kept", release="published"))
    dropped = changes.record_pending(tmp_path, changes.Change(id="dropped", release="never-published"))
    assert changes.logged_ids(tmp_path) == set()  # pending is not committed
    said = changes.recover(tmp_path, releases)
    assert not kept.exists() and not dropped.exists() and len(said) == 2
    assert changes.logged_ids(tmp_path) == {"kept"}


def test_a_build_applies_the_log_and_refuses_to_drop_what_it_lacks(project_copy: Paths) -> None:
    paths = project_copy
    first = commit(settings_of(paths), Write(update=insert("avalon"), write_id="w1", by="editor"))
    assert first.release is not None and changes.logged_ids(paths.data) == {"w1"}
    report = build(paths)
    assert report.changes == ["w1"] and (URIRef(MDR.avalon), None, None) in _asserted(report.release)
    again = commit(settings_of(paths), Write(update=insert("avalon"), write_id="w1"))
    assert again.release is None and again.replayed == first.release.name  # the same id is not re-applied
    next(changes.changes_dir(paths.data).glob("*--w1.rdfp")).unlink()  # lost by hand
    with pytest.raises(UnloggedWritesError, match="w1"):
        build(paths)
    dropped = build(paths, discard_writes=True)
    assert dropped.discarded == ["w1"] and (URIRef(MDR.avalon), None, None) not in _asserted(dropped.release)


def test_a_writes_manifest_records_its_real_timings_and_counts(project_copy: Paths) -> None:
    """Written by the one writer of releases, after its last stage: every stage timed, the counts
    those of the graphs in the store (a write's manifest used to have neither write nor index)."""
    committed = commit(settings_of(project_copy), Write(update=insert("avalon")))
    manifest = manifest_of(committed.release)
    recorded = manifest["timings_seconds"]
    assert set(recorded) == {"apply", "validate", "infer", "derive", "write", "patch", "index", "total"}
    assert all(seconds > 0 for seconds in recorded.values()), recorded
    assert recorded["total"] == pytest.approx(sum(v for k, v in recorded.items() if k != "total"), abs=0.01)
    store = open_store(committed.release)
    for name, count in manifest["counts"].items():
        graph = ox.NamedNode(str(NAMED_GRAPHS[name]))
        assert len(list(store.quads_for_pattern(None, None, None, graph))) == count > 0, name
    assert manifest["counts"] == committed.counts and manifest["origin"] == "write"


def _canonical(quads: Iterable[ox.Quad]) -> set[ox.Quad]:
    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    return set(dataset)


def _store_and_reloaded(release: Path, scratch: Path) -> tuple[set[ox.Quad], set[ox.Quad]]:
    """The quads of a release's store, and of a store bulk-loaded from its N-Quads file, each
    canonically labelled (a store labels a file's blank nodes anew, and keeps its own form of
    some literals: ``"6"^^xsd:positiveInteger`` comes back as an ``xsd:integer``)."""
    reloaded = ox.Store(str(scratch))
    reloaded.bulk_load(path=str(release / DATASET_FILE), format=ox.RdfFormat.N_QUADS)
    store = open_store(release)
    try:
        return _canonical(store), _canonical(reloaded)
    finally:
        del store, reloaded


def test_a_writes_store_is_its_parents_with_the_change_and_holds_its_dataset(
    project_copy: Paths, tmp_path: Path
) -> None:
    """A write's store is a backup of its parent's (linked, not copied) with the exact change
    applied; a rebuild (blank nodes labelled anew) bulk-loads its own. Either way the store holds
    what a bulk load of the release's N-Quads file holds."""
    parent = current_release(project_copy.build)
    assert parent is not None
    committed = commit(settings_of(project_copy), Write(update=insert("avalon")))
    assert committed.release is not None
    in_store, reloaded = _store_and_reloaded(committed.release, tmp_path / "write")
    assert in_store == reloaded
    assert any(quad.subject == ox.NamedNode(str(MDR.avalon)) for quad in in_store)
    shared = {file.stat().st_ino for file in (parent / STORE_DIR).glob("*.sst")}
    assert shared & {file.stat().st_ino for file in (committed.release / STORE_DIR).glob("*.sst")}
    rebuilt = build(project_copy).release
    in_store, reloaded = _store_and_reloaded(rebuilt, tmp_path / "rebuild")
    assert in_store == reloaded and any(isinstance(quad.subject, ox.BlankNode) for quad in in_store)


def test_retention_keeps_the_releases_whose_writes_are_not_in_data(project_copy: Paths) -> None:
    paths = project_copy
    holding = commit(settings_of(paths, keep=1), Write(update=insert("avalon"), write_id="held")).release
    next(changes.changes_dir(paths.data).glob("*--held.rdfp")).unlink()
    for slug in ("lemuria", "mu"):
        commit(settings_of(paths, keep=1), Write(update=insert(slug)))
    kept = sorted(release.name for release in (paths.build / RELEASES_DIR).iterdir())
    assert holding.name in kept and len(kept) == 3  # held + the two later ones (they hold "held" too)
    build(paths, keep=1, discard_writes=True)
    assert [p.name for p in (paths.build / RELEASES_DIR).iterdir()] == [current_release(paths.build).name]


def test_a_write_can_be_made_conditional_on_the_release(project_copy: Paths) -> None:
    paths = project_copy
    release = current_release(paths.build).name
    stale = Write(update=insert("avalon"), if_match=['"19990101T000000000000Z"'])
    with pytest.raises(WriteRefusedError) as refused:
        commit(settings_of(paths), stale)
    assert refused.value.status == 412 and current_release(paths.build).name == release
    fresh = commit(settings_of(paths), Write(update=insert("avalon"), if_match=[f'"{release}"']))
    assert manifest_of(fresh.release)["parent"] == release


def test_entity_tags_are_parsed_structurally() -> None:
    assert parse_tags('"a", W/"b" ,"c"', "If-Match") == ['"a"', 'W/"b"', '"c"']
    assert parse_tags(" * ", "If-Match") == ["*"] and parse_tags(None, "If-Match") is None
    for bad in ("a", '"a" "b"', '"a\x01"', ""):
        with pytest.raises(PreconditionError) as refused:
            parse_tags(bad, "If-Match")
        assert refused.value.status == 400
    tag = etag("R1", str(ASSERTED), ox.RdfFormat.TURTLE)
    check_conditions("R1", str(ASSERTED), True, [tag], None, whole_release=False)
    for stale in (
        etag("R0", str(ASSERTED), ox.RdfFormat.TURTLE),
        f"W/{tag}",
        etag("R1", "urn:x:other", ox.RdfFormat.TURTLE),
        '"R1"',
    ):
        with pytest.raises(PreconditionError):
            check_conditions("R1", str(ASSERTED), True, [stale], None, whole_release=False)
    with pytest.raises(PreconditionError):
        check_conditions("R1", str(ASSERTED), True, None, ["*"], whole_release=False)
    check_conditions("R1", None, True, ['"R1"'], None, whole_release=True)


def _asserted(release: Path) -> Graph:
    return Graph() + load_release(release).graph(ASSERTED)


def test_changes_lists_and_discards_only_on_the_operators_word(
    project_copy: Paths, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = project_copy
    commit(settings_of(paths), Write(update=insert("avalon"), write_id="w1", by="editor"))
    where = ["--data", str(paths.data), "--build-dir", str(paths.build)]
    assert main([*where, "changes"]) == 0
    assert "w1" in capsys.readouterr().out
    assert main([*where, "changes", "discard", "not-there"]) == 2
    assert main([*where, "changes", "discard", "w1"]) == 0
    assert "discarded" in capsys.readouterr().err and changes.logged_ids(paths.data) == set()
    assert main([*where, "build"]) == 2  # the served release still holds it: the build says so
    assert "w1" in capsys.readouterr().err
    assert main([*where, "build", "--discard-writes"]) == 0


RELEASE_BEFORE = b"""<http://e/a> <http://e/p> "one" <http://e/g1> .
<http://e/a> <http://e/p> _:list <http://e/g1> .
_:list <http://e/first> "x" <http://e/g1> .
<http://e/b> <http://e/p> "two"^^<http://www.w3.org/2001/XMLSchema#string> <http://e/g2> .
<http://e/c> <http://e/p> <http://e/d> <http://e/g2> .
"""


def _release_change(tmp_path: Path, before: bytes, after: bytes) -> changes.Change:
    old, new = tmp_path / "old.nq", tmp_path / "new.nq"
    old.write_bytes(before)
    new.write_bytes(after)
    change = changes.Change(id="t", release="t", origin="write", parent="p")
    changes.release_change(old, new, change)
    return change


@pytest.mark.parametrize(
    ("after", "deleted", "added"),
    [
        # a write: lines kept, one removed, one added, in the graphs' order
        (
            RELEASE_BEFORE.replace(b'"one"', b'"uno"') + b'<http://e/z> <http://e/p> "z" <http://e/g0> .\n',
            ['<http://e/a> <http://e/p> "one" <http://e/g1>'],
            ['<http://e/z> <http://e/p> "z" <http://e/g0>', '<http://e/a> <http://e/p> "uno" <http://e/g1>'],
        ),
        # the same quads written another way (xsd:string spelt out or not, lines reordered): no change
        (
            b"".join(
                reversed(
                    RELEASE_BEFORE.replace(
                        b'"two"^^<http://www.w3.org/2001/XMLSchema#string>', b'"two"'
                    ).splitlines(keepends=True)
                )
            ),
            [],
            [],
        ),
        # blank nodes labelled anew, the graph isomorphic: no change
        (RELEASE_BEFORE.replace(b"_:list", b"_:fresh"), [], []),
        # a changed triple about a blank node is a change, the rest stays out of the patch
        (
            RELEASE_BEFORE.replace(b'"x"', b'"y"'),
            ['_:list <http://e/first> "x" <http://e/g1>'],
            ['_:list <http://e/first> "y" <http://e/g1>'],
        ),
    ],
)
def test_a_releases_patch_holds_exactly_what_changed(
    tmp_path: Path, after: bytes, deleted: list[str], added: list[str]
) -> None:
    change = _release_change(tmp_path, RELEASE_BEFORE, after)
    assert [str(quad) for quad in change.deleted] == deleted
    assert [str(quad) for quad in change.added] == added
