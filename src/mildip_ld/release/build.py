"""The build pipeline: load -> validate -> infer -> derive -> write, refusing to write when validation fails;
and the one writer of releases (:func:`write_release`), which a build and every write
(:mod:`mildip_ld.curation.commit`) go through.

A build directory holds releases side by side and a ``current`` symbolic link to the newest one:
a new release is written completely under a temporary name (a ``.staging-*`` folder of the build
directory), flushed to disk, then ``current`` is switched to it with one atomic rename, so a
reader (or a crash) never sees a half-written build. Staging happens only under the build
folder's lock (:func:`exclusive`, held by builds and writes alike), which is what lets
:func:`remove_staging_leftovers` tell a killed process's staging folder from a live one.

A build holds that lock from loading ``data/`` to publishing, so a write is never lost between the
two: it waits, and then applies on top of the build's release. The build applies the change log
of the endpoint's writes (:mod:`mildip_ld.release.changes`) after the hand-written files, and refuses
(:class:`UnloggedWritesError`) when the served release holds a write the log no longer has,
unless the operator explicitly discards them. Old releases are removed beyond ``keep``, except
those that hold a write missing from the log.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox
from rdflib import Dataset, Graph, URIRef
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID

from mildip_ld import __version__
from mildip_ld.pipeline.derive import derivation_record
from mildip_ld.pipeline.infer import infer
from mildip_ld.pipeline.loader import LoadError, ProjectData, load_project
from mildip_ld.pipeline.validate import ValidationResult, validate_project
from mildip_ld.release import changes
from mildip_ld.release.search_index import build_search_index
from mildip_ld.release.store import create_store, write_nquads
from mildip_ld.vocab.config import Paths
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.namespaces import (
    ASSERTED,
    DERIVATIONS,
    INFERRED,
    NAMED_GRAPHS,
    ONTOLOGY,
    PROVENANCE,
    SHAPES,
    bind_prefixes,
)
from mildip_ld.vocab.terms import rdflib_converter

DATASET_FILE = "dataset.nq"
MANIFEST_FILE = "manifest.json"
CURRENT_LINK = "current"
RELEASES_DIR = "releases"
KEEP_RELEASES = 3
LOCK_FILE = ".write.lock"
STAGING_PREFIX = ".staging-"
TEMPORARY_LINK_PREFIX = f".{CURRENT_LINK}-"

Progress = Callable[[str], None]
log = logging.getLogger(__name__)


class UnloggedWritesError(MildipError):
    """The served release holds writes that the change log of ``data/`` does not; nothing was written."""

    status = 409

    def __init__(self, release: str, missing: list[str], data_dir: Path) -> None:
        self.missing = missing
        super().__init__(
            f"the served release {release} holds {len(missing)} write(s) that are not in "
            f"{changes.changes_dir(data_dir)}: {', '.join(missing)}; building would drop them. Restore "
            f"their change files (or build with the data folder the server writes to), or run "
            f"`mildip build --discard-writes` to drop them on purpose; nothing was written"
        )


class ValidationFailedError(MildipError):
    """The data does not conform to the shapes; nothing was written."""

    status = 422

    def __init__(self, result: ValidationResult) -> None:
        self.result = result
        super().__init__(f"{len(result.violations)} SHACL violation(s); nothing was written")


@dataclass
class BuildReport:
    """What a build produced: triples per named graph, seconds per stage, where it was written."""

    release: Path
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    closure_size: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    """The ids of the logged writes this build applied, oldest first."""
    discarded: list[str] = field(default_factory=list)
    """The writes the operator dropped (``--discard-writes``), by this build or an earlier one."""
    parent: str | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    def as_dict(self) -> dict:
        """A JSON-ready description (also written as the release's manifest)."""
        return {
            "version": __version__,
            "release": self.release.name,
            "origin": "build",
            "by": _operator(),
            "created": self.created,
            "parent": self.parent,
            "counts": self.counts,
            "timings_seconds": {k: round(v, 3) for k, v in self.timings.items()},
            "closure_size": self.closure_size,
            "dropped_from_closure": self.dropped,
            "changes": self.changes,
            "discarded": self.discarded,
        }


def _operator() -> str:
    """Who runs this build (the login name; empty when the system knows none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def manifest_of(release: Path) -> dict:
    """A release's manifest (empty when it has none or it cannot be read)."""
    try:
        return json.loads((release / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}


def unlogged_writes(release: Path, data_dir: Path) -> list[str]:
    """The writes ``release`` holds that the change log of ``data_dir`` does not (in order)."""
    logged = changes.logged_ids(data_dir)
    return [write for write in manifest_of(release).get("changes", []) if write not in logged]


def named_graphs(project: ProjectData, inferred: Graph) -> dict[URIRef, Graph]:
    """The dataset to serve: one named graph per concern (the endpoint's default graph is their union),
    the derivations record computed here, from the others (a build and a write both come this way)."""
    asserted, provenance, ontology = project.asserted.graph, project.provenance.graph, project.ontology.graph
    return {
        ASSERTED: asserted,
        PROVENANCE: provenance,
        ONTOLOGY: ontology,
        SHAPES: project.shapes.graph,
        INFERRED: inferred,
        DERIVATIONS: derivation_record(asserted, provenance, ontology, inferred),
    }


def current_release(build_dir: Path) -> Path | None:
    """The release ``current`` points to, or None when nothing was built yet."""
    link = build_dir / CURRENT_LINK
    return link.resolve() if link.exists() else None


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` (``folder`` included) to disk."""
    for root, _, files in os.walk(folder):
        for name in files:
            changes.fsync_path(Path(root) / name)
        changes.fsync_path(Path(root))


@contextmanager
def exclusive(build_dir: Path, wait: bool = True) -> Iterator[bool]:
    """Hold the build folder's lock (one publisher at a time, across processes): yields True once
    held; with ``wait=False`` it yields False at once, holding nothing, when another process has it."""
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / LOCK_FILE, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def remove_staging_leftovers(build_dir: Path) -> list[Path]:
    """Remove what killed builds and writes left in ``build_dir``: ``.staging-*`` folders and
    ``.current-*`` temporary links. Returns what was removed.

    The rule is the lock, not a name or an age: every staging folder and temporary link is made,
    and renamed away, by a process holding :func:`exclusive` (:func:`build`, and the writes of
    :mod:`mildip_ld.curation.commit`). So while this function holds the lock, any of them that exists
    belongs to a process that died. It takes the lock without waiting: when a live build or write
    holds it, nothing is removed (the next start does it). Releases (in ``releases/``) and
    ``current`` never match these names, and a symbolic link is never followed.
    """
    if not build_dir.is_dir():
        return []
    with exclusive(build_dir, wait=False) as held:
        if not held:
            log.info("%s is locked by a live build or write: its staging leftovers stay for now", build_dir)
            return []
        return _remove_leftovers(build_dir)


def _remove_leftovers(build_dir: Path) -> list[Path]:
    """:func:`remove_staging_leftovers` for a caller that holds the lock already."""
    removed = []
    for entry in build_dir.iterdir():
        if entry.name.startswith(STAGING_PREFIX) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.name.startswith(TEMPORARY_LINK_PREFIX) and entry.is_symlink():
            entry.unlink()
        else:
            continue
        removed.append(entry)
    return removed


def write_release_patch(staging: Path, parent: Path | None, name: str, origin: str) -> changes.Change | None:
    """Write into ``staging`` the change of every graph from ``parent`` as RDF Patch
    (:data:`~mildip_ld.release.changes.RELEASE_PATCH_FILE`, served beside the dumps); return it
    when it is exact (:func:`~mildip_ld.release.changes.release_change`: the parent's store can take it)."""
    change = changes.Change(id=name, release=name, origin=origin, parent=parent.name if parent else "")
    exact = changes.release_change(parent / DATASET_FILE if parent else None, staging / DATASET_FILE, change)
    (staging / changes.RELEASE_PATCH_FILE).write_text(change.patch(), encoding="utf-8")
    return change if exact else None


def _switch_current(
    build_dir: Path, staging: Path, keep: int = KEEP_RELEASES, data_dir: Path | None = None
) -> Path:
    """Flush a complete staging folder, move it into releases/ and switch ``current`` to it
    atomically, flushing each folder whose entries changed before going on (the caller holds
    :func:`exclusive`). Then removes the releases older than the ``keep`` newest, except those
    holding a write that the change log of ``data_dir`` does not have and that was not discarded
    on purpose (the new release's ``discarded``)."""
    fsync_tree(staging)
    releases = build_dir / RELEASES_DIR
    releases.mkdir(parents=True, exist_ok=True)
    release = releases / staging.name.removeprefix(STAGING_PREFIX)
    staging.rename(release)
    changes.fsync_path(releases)
    temporary_link = build_dir / f"{TEMPORARY_LINK_PREFIX}{os.getpid()}"
    temporary_link.unlink(missing_ok=True)
    temporary_link.symlink_to(release.relative_to(build_dir))
    os.replace(temporary_link, build_dir / CURRENT_LINK)
    changes.fsync_path(build_dir)
    discarded = set(manifest_of(release).get("discarded", []))
    for old in sorted(releases.iterdir())[: -max(keep, 1)]:
        if old != release and not (data_dir is not None and set(unlogged_writes(old, data_dir)) - discarded):
            shutil.rmtree(old, ignore_errors=True)
    return release


def graph_counts(graphs: dict[URIRef, Graph]) -> dict[str, int]:
    """Triples per project graph of a release, by the graph's short name (``asserted``...)."""
    return {name: len(graphs[iri]) for name, iri in NAMED_GRAPHS.items() if iri in graphs}


def write_release(
    build_dir: Path,
    name: str,
    graphs: dict[URIRef, Graph],
    manifest: dict,
    timings: dict[str, float],
    keep: int,
    data_dir: Path,
    change: changes.Change | None = None,
    progress: Progress = lambda _: None,
) -> Path:
    """Write ``graphs`` as the release ``name`` and publish it: N-Quads, the RDF Patch from the
    current release, the Oxigraph store (the current release's with the patch applied, when the
    patch is exact; else bulk-loaded), the search index and the manifest (``manifest`` with the
    release's name, its counts and ``timings``, completed with this function's own stages,
    ``write``, ``patch`` and ``index``, and their ``total``), all in a staging folder; then, for
    a write, ``change`` is recorded in the change log of ``data_dir`` (pending until published);
    then :func:`_switch_current` switches ``current``, and the change is completed. The caller
    holds :func:`exclusive`; on any failure the staging folder is removed and ``current`` stays
    where it was."""
    staging = build_dir / f"{STAGING_PREFIX}{name}"
    staging.mkdir()
    pending = None
    try:
        started = time.perf_counter()
        write_nquads(graphs, staging / DATASET_FILE)
        timings["write"] = time.perf_counter() - started
        progress(f"{'write':<9} {timings['write']:6.2f} s")
        started = time.perf_counter()
        parent = current_release(build_dir)
        exact = write_release_patch(staging, parent, name, manifest["origin"])
        timings["patch"] = time.perf_counter() - started
        progress(f"{'patch':<9} {timings['patch']:6.2f} s")
        started = time.perf_counter()
        create_store(staging, staging / DATASET_FILE, parent, (exact.deleted, exact.added) if exact else None)
        build_search_index(staging)
        timings["index"] = time.perf_counter() - started
        progress(f"{'index':<9} {timings['index']:6.2f} s")
        timings["total"] = sum(seconds for stage, seconds in timings.items() if stage != "total")
        manifest = {
            **manifest,
            "release": name,
            "counts": graph_counts(graphs),
            "timings_seconds": {stage: round(seconds, 3) for stage, seconds in timings.items()},
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        if change is not None:
            pending = changes.record_pending(data_dir, change)
        release = _switch_current(build_dir, staging, keep, data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        published = build_dir.resolve() / RELEASES_DIR / name
        if pending is not None and current_release(build_dir) != published:
            pending.unlink(missing_ok=True)
        raise
    if pending is not None:
        changes.complete(pending)
    return release


def build(
    paths: Paths, progress: Progress = lambda _: None, keep: int = KEEP_RELEASES, discard_writes: bool = False
) -> BuildReport:
    """Run the pipeline on ``data/`` and its change log and publish a new release under ``paths.build``.

    Holds the build folder's lock throughout (a write waits, then applies on top of this release).
    Raises :class:`~mildip_ld.pipeline.loader.LoadError` for unreadable input, :class:`ValidationFailedError`
    when the data violates the shapes and :class:`UnloggedWritesError` when the served release holds
    writes the change log lacks (unless ``discard_writes``); in each case nothing is written. First
    removes what killed builds and writes left behind and settles their pending changes.
    """
    with exclusive(paths.build):
        for leftover in _remove_leftovers(paths.build):
            progress(f"removed {leftover.name}, left by a killed build or write")
        for line in changes.recover(paths.data, paths.build / RELEASES_DIR):
            progress(line)
        served = current_release(paths.build)
        missing = unlogged_writes(served, paths.data) if served else []
        if served is not None and missing and not discard_writes:
            raise UnloggedWritesError(served.name, missing, paths.data)
        for write in missing:
            progress(f"discarding write {write} of the served release, as asked (--discard-writes)")
        report, graphs = _build_locked(paths, progress)
        report.parent = served.name if served else None
        report.discarded = [*(manifest_of(served).get("discarded", []) if served else []), *missing]
        return _write_locked(paths, report, graphs, progress, keep)


def _build_locked(paths: Paths, progress: Progress) -> tuple[BuildReport, dict[URIRef, Graph]]:
    """Load, apply the change log, validate and infer (the caller holds the lock)."""
    timings: dict[str, float] = {}

    def stage(name: str, started: float) -> None:
        timings[name] = time.perf_counter() - started
        progress(f"{name:<9} {timings[name]:6.2f} s")

    started = time.perf_counter()
    project = load_project(paths)
    try:
        applied = changes.apply_log(
            paths.data, {ASSERTED: project.asserted.graph, PROVENANCE: project.provenance.graph}
        )
    except changes.ChangeLogError as failure:
        raise LoadError(changes.changes_dir(paths.data), None, str(failure)) from None
    if applied:
        progress(f"applied {len(applied)} logged write(s) from {changes.changes_dir(paths.data)}")
    stage("load", started)

    started = time.perf_counter()
    result = validate_project(project, paths.data, paths.shapes)
    stage("validate", started)
    if not result.conforms:
        raise ValidationFailedError(result)

    started = time.perf_counter()
    inference = infer(project.ontology.graph, project.provenance.graph, project.asserted.graph)
    stage("infer", started)

    started = time.perf_counter()
    graphs = named_graphs(project, inference.inferred)
    stage("derive", started)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    report = BuildReport(
        release=paths.build / RELEASES_DIR / stamp,
        timings=timings,
        closure_size=inference.closure_size,
        dropped=inference.dropped,
        changes=applied,
    )
    return report, graphs


def _write_locked(
    paths: Paths, report: BuildReport, graphs: dict[URIRef, Graph], progress: Progress, keep: int
) -> BuildReport:
    """Write ``graphs`` and publish them as the release ``report`` describes (the caller holds the lock)."""
    report.counts = graph_counts(graphs)
    report.release = write_release(
        paths.build,
        report.release.name,
        graphs,
        report.as_dict(),
        report.timings,
        keep,
        paths.data,
        None,
        progress,
    )
    return report


def load_release(release: Path, record: bool = False) -> Dataset:
    """Read a release's dataset back (named graphs intact, literals exactly as written); its
    derivations record only when ``record``: that graph is computed from the others (a write
    recomputes it), and is ten times their size.

    Oxigraph parses the N-Quads (rdflib's parser would take seconds over the record it skips); blank
    nodes keep their labels, so a statement about a chain list matches the record's.
    """
    skipped, term = None if record else ox.NamedNode(str(DERIVATIONS)), rdflib_converter()
    dataset = Dataset()
    graphs: dict[ox.NamedNode | ox.DefaultGraph, Graph] = {}

    def graph(name: ox.NamedNode | ox.DefaultGraph) -> Graph:
        if name not in graphs:
            graphs[name] = dataset.graph(
                URIRef(name.value) if isinstance(name, ox.NamedNode) else DATASET_DEFAULT_GRAPH_ID
            )
        return graphs[name]

    dataset.addN(
        (term(quad.subject), term(quad.predicate), term(quad.object), graph(quad.graph_name))
        for quad in ox.parse(path=str(release / DATASET_FILE), format=ox.RdfFormat.N_QUADS)
        if quad.graph_name != skipped
    )
    return bind_prefixes(dataset)
