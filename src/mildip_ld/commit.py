"""Validated, atomic writes: each accepted write publishes a new release (copy on write).

A write (a SPARQL Update, or a Graph Store PUT, POST or DELETE) never touches the served
release. The server has parsed it already, under the parse budget and outside the writer's lock
(:mod:`mildip_ld.write_parse`), and sends a Graph Store body as N-Triples. Under an exclusive
lock on the build folder it is applied to a copy of the current release's data, read from its
exact N-Quads with rdflib (Oxigraph's store would turn ``xsd:positiveInteger`` and the other
derived types into ``xsd:integer``, which the shapes refuse), and then:

1. only the asserted and provenance graphs may have changed: the inferred graph is computed, the
   ontology and the shapes come from the build, and the default graph is the union (403);
2. the would-be asserted and provenance data is validated with the release's own ontology and
   shapes (:func:`~mildip_ld.validate.validate_project`); a violation refuses the write (422);
3. the inferred graph is recomputed for the new data (:func:`~mildip_ld.infer.infer`);
4. the new release (N-Quads, Oxigraph store, manifest) is written into a staging folder, flushed
   to disk, and published by the build's atomic switch of ``current``.

A refused write changes nothing. A crash at any step (kill -9 included) leaves ``current`` on the
last committed release; a staging folder may be left behind, is never served, and is removed by
the next ``mildip serve`` or ``mildip build`` (:func:`~mildip_ld.build.remove_staging_leftovers`).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import rdflib.plugins.sparql as rdflib_sparql
from rdflib import Dataset, Graph, URIRef
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID

from . import __version__
from .build import (
    DATASET_FILE,
    MANIFEST_FILE,
    STAGING_PREFIX,
    _publish,
    current_release,
    exclusive,
    load_release,
    named_graphs,
)
from .infer import infer
from .loader import LoadedGraph, ProjectData
from .namespaces import (
    ASSERTED,
    MD,
    NAMED_GRAPHS,
    ONTOLOGY,
    PROVENANCE,
    SHAPES,
    WRITABLE_GRAPHS,
    bind_prefixes,
)
from .provenance import source_text
from .store import create_store, write_nquads
from .validate import Violation, data_graph, validate_project
from .write_parse import ParseRefusedError, parse_triples

GRAPH_METHODS = ("PUT", "POST", "DELETE")

# rdflib's SPARQL engine evaluates updates. By default it fetches the IRI of a USING clause from
# the web and reads the default graph as the union of all graphs (where INSERT DATA then fails);
# here the default graph is the store's own (empty) one and nothing is ever fetched.
rdflib_sparql.SPARQL_LOAD_GRAPHS = False
rdflib_sparql.SPARQL_DEFAULT_GRAPH_UNION = False


@dataclass(frozen=True)
class Write:
    """One write: a SPARQL Update (``update``), or a Graph Store ``method`` on the graph ``graph``
    with an RDF ``payload`` in ``media_type`` (PUT replaces the graph, POST adds, DELETE empties)."""

    update: str | None = None
    method: str | None = None
    graph: str | None = None
    payload: bytes = b""
    media_type: str | None = None
    write_id: str | None = None
    """Recorded in the manifest, so that the server can tell whether a writer it killed had committed."""

    def describe(self) -> str:
        """A short description for the manifest."""
        return "SPARQL Update" if self.update is not None else f"Graph Store {self.method} <{self.graph}>"


class WriteRefusedError(Exception):
    """The write was not applied; ``status`` is the HTTP status to answer, ``violations`` the
    shape violations when the data would not conform."""

    def __init__(self, status: int, message: str, violations: list[Violation] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.violations = status, message, violations or []


@dataclass
class Committed:
    """The outcome of an accepted write: the published release (None when nothing changed)."""

    release: Path | None
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _payload_triples(write: Write) -> Graph:
    """The triples of a Graph Store request body, as an rdflib graph. The server sends them as
    canonical N-Triples, parsed already under the parse budget (:mod:`mildip_ld.write_parse`); any
    other format gets the same checks here (no DTD or entities in RDF/XML, no remote JSON-LD
    context: nothing is ever fetched)."""
    try:
        triples = parse_triples(write.payload, write.media_type, write.graph)
    except ParseRefusedError as refused:
        raise WriteRefusedError(refused.status, refused.message) from None
    return Graph().parse(data=triples.decode("utf-8"), format="nt")


def _apply(dataset: Dataset, write: Write) -> None:
    """Apply ``write`` to ``dataset`` in memory; raise :class:`WriteRefusedError` for bad input."""
    if write.update is not None:
        try:
            dataset.update(write.update)
        except RecursionError:
            raise WriteRefusedError(400, "malformed update: nested too deeply") from None
        except Exception as failure:  # rdflib raises pyparsing's and its own unrelated types
            reason = " ".join(str(failure).split())
            raise WriteRefusedError(400, f"malformed update or update failed: {reason}") from None
        return
    if write.method not in GRAPH_METHODS or write.graph is None:
        raise WriteRefusedError(400, f"unknown write {write.method!r}")
    target = dataset.graph(URIRef(write.graph))
    added = _payload_triples(write) if write.method in ("PUT", "POST") else Graph()
    if write.method in ("PUT", "DELETE"):
        target.remove((None, None, None))
    for triple in added:
        target.add(triple)


def _read_only_graphs(dataset: Dataset) -> dict[str, set]:
    """The triples of every graph a write may not change, by graph name (the default graph as '')."""
    found: dict[str, set] = {}
    for graph in dataset.graphs():
        triples = set(graph)
        if graph.identifier not in WRITABLE_GRAPHS and triples:
            found["" if graph.identifier == DATASET_DEFAULT_GRAPH_ID else str(graph.identifier)] = triples
    return found


def _check_graphs(before: dict[str, set], after: dict[str, set]) -> None:
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    if changed:
        names = ", ".join(f"<{name}>" if name else "the default graph" for name in changed)
        writable = " and ".join(f"<{iri}>" for iri in WRITABLE_GRAPHS)
        raise WriteRefusedError(403, f"the write changes {names}, which cannot be written here: only "
                                     f"{writable} can (the inferred graph is computed, the ontology and "
                                     f"shapes come from the build, and the default graph is the union of "
                                     f"the named graphs); nothing was changed")


def _graph(dataset: Dataset, iri: URIRef) -> LoadedGraph:
    graph = bind_prefixes(Graph())
    graph += dataset.graph(iri)
    return LoadedGraph(graph=graph)


def project_of(dataset: Dataset) -> ProjectData:
    """A release's dataset as the pipeline's project data (its own ontology and shapes)."""
    return ProjectData(ontology=_graph(dataset, ONTOLOGY), shapes=_graph(dataset, SHAPES),
                       provenance=_graph(dataset, PROVENANCE), asserted=_graph(dataset, ASSERTED))


def _source_violations(provenance: Graph, data_dir: Path) -> list[Violation]:
    """Sources whose ``md:localFile`` is not a readable file inside ``data_dir`` (the server's own
    source texts): refused before validation, whose quote check reads that file."""
    return [Violation(None, None, source, MD.localFile, name, "source file inside the data folder",
                      f"md:localFile must name a source text inside the server's data folder; {str(name)!r} "
                      f"does not")
            for source, name in provenance.subject_objects(MD.localFile)
            if source_text(data_dir, str(name)) is None]


def _validate(project: ProjectData, data_dir: Path, shapes_dir: Path) -> None:
    violations = _source_violations(project.provenance.graph, data_dir)
    if not violations:
        try:
            result = validate_project(project, data_dir, shapes_dir)
        except (ValueError, OSError) as failure:
            raise WriteRefusedError(422, f"the data the write would leave cannot be validated: {failure}; "
                                    f"nothing was changed") from None
        violations = [v for v in result.violations if v.severity == "Violation"]
    if violations:
        raise WriteRefusedError(422, f"the write was refused: the data it would leave violates the shapes "
                                f"({len(violations)} violation(s)); nothing was changed", violations)


def _write_release(build_dir: Path, graphs: dict[URIRef, Graph], manifest: dict) -> Path:
    """Write ``graphs`` as a complete release in a staging folder and publish it (flushed to disk
    by :func:`~mildip_ld.build._publish`); the caller holds :func:`~mildip_ld.build.exclusive`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    staging = build_dir / f"{STAGING_PREFIX}{stamp}"
    staging.mkdir()
    try:
        write_nquads(graphs, staging / DATASET_FILE)
        create_store(staging, staging / DATASET_FILE)
        (staging / MANIFEST_FILE).write_text(json.dumps({**manifest, "release": stamp}, indent=2) + "\n")
        release = _publish(build_dir, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return release


def commit(build_dir: Path, write: Write, data_dir: Path, shapes_dir: Path) -> Committed:
    """Apply ``write`` on top of the build's current release and publish the result, or refuse it.

    Raises :class:`WriteRefusedError` (nothing written) for bad input, a write to a read-only graph or
    data that would violate the shapes.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with exclusive(build_dir):
        base = current_release(build_dir)
        if base is None:
            raise WriteRefusedError(503, f"nothing built in {build_dir}; run `mildip build`")
        dataset = load_release(base)
        before = _read_only_graphs(dataset)
        writable_before = {iri: set(dataset.graph(iri)) for iri in WRITABLE_GRAPHS}
        _apply(dataset, write)
        _check_graphs(before, _read_only_graphs(dataset))
        if all(set(dataset.graph(iri)) == writable_before[iri] for iri in WRITABLE_GRAPHS):
            return Committed(None)
        project = project_of(dataset)
        timings["apply"] = time.perf_counter() - started
        started = time.perf_counter()
        _validate(project, data_dir, shapes_dir)
        timings["validate"] = time.perf_counter() - started
        started = time.perf_counter()
        inference = infer(project.ontology.graph, data_graph(project))
        timings["infer"] = time.perf_counter() - started
        started = time.perf_counter()
        graphs = named_graphs(project, inference.inferred)
        counts = {name: len(graphs[iri]) for name, iri in NAMED_GRAPHS.items() if iri in graphs}
        release = _write_release(build_dir, graphs, {
            "version": __version__, "counts": counts, "parent": base.name, "write": write.describe(),
            "write_id": write.write_id,
            "closure_size": inference.closure_size, "dropped_from_closure": inference.dropped})
        timings["publish"] = time.perf_counter() - started
    return Committed(release, counts, timings)
