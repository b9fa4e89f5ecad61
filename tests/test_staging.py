"""Staging folders left by killed builds and writes are removed, and a published release is on disk.

:func:`~mildip_ld.release.build.remove_staging_leftovers` runs at the start of ``mildip build`` and
``mildip serve`` (the serve side is proven on a live server in tests/test_hostile_writes.py); it
removes only what a process holding the build folder's lock left, never a release. Every
publication (``mildip build`` and a write alike go through :func:`~mildip_ld.release.build.write_release`)
flushes the release's files, then ``releases/`` after the release is moved in, then the build
folder after ``current`` is switched.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from rdflib import URIRef

from mildip_ld.release import changes
from mildip_ld.release.build import (
    RELEASES_DIR,
    BuildReport,
    _switch_current,
    build,
    current_release,
    exclusive,
    load_release,
    remove_staging_leftovers,
    write_release,
)
from mildip_ld.vocab.config import Paths
from mildip_ld.vocab.namespaces import NAMED_GRAPHS
from tests.live_server import build_dir_of


@pytest.fixture
def build_copy(built: BuildReport, tmp_path: Path) -> Path:
    copy = tmp_path / "build"
    shutil.copytree(build_dir_of(built), copy, symlinks=True)
    return copy


def _plant_leftovers(build_dir: Path) -> list[Path]:
    """What a build or write killed mid-publication leaves: a staging folder and a temporary link."""
    staging = build_dir / ".staging-20260101T000000000000Z"
    (staging / "store").mkdir(parents=True)
    (staging / "dataset.nq").write_text("<urn:x:s> <urn:x:p> <urn:x:o> <urn:x:g> .\n")
    link = build_dir / ".current-4242"
    link.symlink_to(current_release(build_dir).relative_to(build_dir))
    return [staging, link]


def _releases(build_dir: Path) -> dict[str, list[str]]:
    """Every release and the files in it."""
    return {
        release.name: sorted(str(p.relative_to(release)) for p in release.rglob("*"))
        for release in (build_dir / RELEASES_DIR).iterdir()
    }


def test_leftovers_are_removed_and_releases_never(build_copy: Path) -> None:
    before, current = _releases(build_copy), current_release(build_copy)
    leftovers = _plant_leftovers(build_copy)
    # a symbolic link with a staging name is never followed: the release it points at stays whole
    disguised = build_copy / ".staging-link"
    disguised.symlink_to(current)
    assert sorted(remove_staging_leftovers(build_copy)) == sorted(leftovers)
    assert not any(path.exists() or path.is_symlink() for path in leftovers)
    assert _releases(build_copy) == before and current_release(build_copy) == current
    assert disguised.is_symlink() and current.is_dir()
    assert remove_staging_leftovers(build_copy) == []


def test_nothing_is_removed_while_a_live_build_or_write_holds_the_lock(build_copy: Path) -> None:
    leftovers = _plant_leftovers(build_copy)
    with exclusive(build_copy):  # a build or write publishing right now
        assert remove_staging_leftovers(build_copy) == []
        assert all(path.exists() for path in leftovers)
    assert sorted(remove_staging_leftovers(build_copy)) == sorted(leftovers)


def test_a_missing_build_folder_is_left_alone(tmp_path: Path) -> None:
    assert remove_staging_leftovers(tmp_path / "never-built") == []
    assert not (tmp_path / "never-built").exists()


def test_mildip_build_removes_leftovers_first(paths: Paths, build_copy: Path) -> None:
    leftovers = _plant_leftovers(build_copy)
    said: list[str] = []
    report = build(replace(paths, build=build_copy), progress=said.append)
    assert not any(path.exists() or path.is_symlink() for path in leftovers)
    assert any(".staging-20260101T000000000000Z" in line for line in said)
    assert current_release(build_copy) == report.release


class FsyncRecorder:
    """Stands in for ``os.fsync`` (and calls it): records the path of each flushed descriptor, the
    releases in ``releases/`` and the release ``current`` pointed to at that moment."""

    def __init__(self, build_dir: Path) -> None:
        self.build_dir = build_dir
        self.calls: list[tuple[Path, set[str], Path | None]] = []
        self._fsync = os.fsync

    def __call__(self, descriptor: int) -> None:
        releases = {path.name for path in (self.build_dir / RELEASES_DIR).iterdir()}
        self.calls.append(
            (Path(os.readlink(f"/proc/self/fd/{descriptor}")), releases, current_release(self.build_dir))
        )
        self._fsync(descriptor)

    def assert_published_durably(self, release: Path) -> None:
        """The release's files flushed before the move, releases/ after it, the build folder after
        the switch of ``current``, in that order."""

        def first(path_matches, moved: bool, switched: bool) -> int:
            return next(
                i
                for i, (path, names, current) in enumerate(self.calls)
                if path_matches(path)
                and (release.name in names) == moved
                and (current == release) == switched
            )

        files = first(
            lambda path: path.name == "dataset.nq" and path.parent.name.startswith(".staging-"),
            moved=False,
            switched=False,
        )
        releases = first(lambda path: path == self.build_dir / RELEASES_DIR, moved=True, switched=False)
        switch = first(lambda path: path == self.build_dir, moved=True, switched=True)
        assert files < releases < switch


def test_publish_flushes_the_release_then_releases_then_the_build_folder(
    build_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = build_copy / ".staging-29990101T000000000000Z"
    shutil.copytree(current_release(build_copy), staging)
    recorder = FsyncRecorder(build_copy)
    monkeypatch.setattr(os, "fsync", recorder)
    release = _switch_current(build_copy, staging)
    recorder.assert_published_durably(release)
    assert current_release(build_copy) == release


def test_a_write_publishes_through_the_same_flushes(
    build_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """And its change is flushed into the change log of data/ before its release is published."""
    dataset = load_release(current_release(build_copy))
    graphs = {URIRef(iri): dataset.graph(URIRef(iri)) for iri in NAMED_GRAPHS.values()}
    recorder = FsyncRecorder(build_copy)
    monkeypatch.setattr(os, "fsync", recorder)
    change = changes.Change(id="test-write", release="29990101T000000000000Z")
    with exclusive(build_copy):
        manifest = {"origin": "write", "write": "test"}
        release = write_release(
            build_copy, change.release, graphs, manifest, {}, 3, tmp_path / "data", change
        )
    recorder.assert_published_durably(release)
    assert current_release(build_copy) == release
    logged = next(i for i, (path, _, current) in enumerate(recorder.calls) if path.name.endswith(".rdfp"))
    assert recorder.calls[logged][2] != release  # flushed while the previous release was still current
    assert changes.find(tmp_path / "data", "test-write").release == release.name
