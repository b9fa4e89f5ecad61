"""The build pipeline: load -> validate -> infer -> derive -> write, refusing to write when validation fails.

A build directory holds releases side by side and a ``current`` symbolic link to the newest one:
a new release is written completely under a temporary name, then ``current`` is switched to it
with one atomic rename, so a reader (or a crash) never sees a half-written build.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox
from rdflib import Dataset, Graph, URIRef
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID

from . import __version__
from .config import Paths
from .explain import derivation_record
from .infer import infer
from .loader import ProjectData, load_project
from .namespaces import ASSERTED, DERIVATIONS, INFERRED, ONTOLOGY, PROVENANCE, SHAPES, bind_prefixes
from .store import create_store, write_nquads
from .terms import rdflib_converter
from .validate import ValidationResult, validate_project

DATASET_FILE = "dataset.nq"
MANIFEST_FILE = "manifest.json"
CURRENT_LINK = "current"
RELEASES_DIR = "releases"
KEEP_RELEASES = 3

Progress = Callable[[str], None]


class ValidationFailedError(Exception):
    """The data does not conform to the shapes; nothing was written."""

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

    def as_dict(self) -> dict:
        """A JSON-ready description (also written as the release's manifest)."""
        return {
            "version": __version__,
            "release": self.release.name,
            "counts": self.counts,
            "timings_seconds": {k: round(v, 3) for k, v in self.timings.items()},
            "closure_size": self.closure_size,
            "dropped_from_closure": self.dropped,
        }


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


def _publish(build_dir: Path, staging: Path) -> Path:
    """Move a complete staging folder into releases/ and switch ``current`` to it atomically."""
    releases = build_dir / RELEASES_DIR
    releases.mkdir(parents=True, exist_ok=True)
    release = releases / staging.name.removeprefix(".staging-")
    staging.rename(release)
    temporary_link = build_dir / f".{CURRENT_LINK}-{os.getpid()}"
    temporary_link.unlink(missing_ok=True)
    temporary_link.symlink_to(release.relative_to(build_dir))
    os.replace(temporary_link, build_dir / CURRENT_LINK)
    for old in sorted(releases.iterdir())[:-KEEP_RELEASES]:
        if old != release:
            shutil.rmtree(old, ignore_errors=True)
    return release


def build(paths: Paths, progress: Progress = lambda _: None) -> BuildReport:
    """Run the pipeline and publish a new release under ``paths.build``.

    Raises :class:`~mildip_ld.loader.LoadError` for unreadable input and :class:`ValidationFailedError`
    when the data violates the shapes; in both cases nothing is written.
    """
    timings: dict[str, float] = {}

    def stage(name: str, started: float) -> None:
        timings[name] = time.perf_counter() - started
        progress(f"{name:<9} {timings[name]:6.2f} s")

    started = time.perf_counter()
    project = load_project(paths)
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

    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    paths.build.mkdir(parents=True, exist_ok=True)
    staging = paths.build / f".staging-{stamp}"
    staging.mkdir()
    try:
        write_nquads(graphs, staging / DATASET_FILE)
        stage("write", started)
        started = time.perf_counter()
        create_store(staging, staging / DATASET_FILE)
        stage("index", started)
        report = BuildReport(
            release=paths.build / RELEASES_DIR / stamp,
            counts={str(iri).rsplit("/", 1)[-1]: len(graph) for iri, graph in graphs.items()},
            closure_size=inference.closure_size,
            dropped=inference.dropped,
        )
        timings["total"] = sum(timings.values())
        (staging / MANIFEST_FILE).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
        report.release = _publish(paths.build, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.timings = timings
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
            graphs[name] = dataset.graph(URIRef(name.value) if isinstance(name, ox.NamedNode)
                                         else DATASET_DEFAULT_GRAPH_ID)
        return graphs[name]

    dataset.addN((term(quad.subject), term(quad.predicate), term(quad.object),
                  graph(quad.graph_name))
                 for quad in ox.parse(path=str(release / DATASET_FILE), format=ox.RdfFormat.N_QUADS)
                 if quad.graph_name != skipped)
    return bind_prefixes(dataset)
