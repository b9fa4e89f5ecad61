"""Validated, atomic writes: each accepted write publishes a new release (copy on write).

A write (a SPARQL Update, or a Graph Store PUT, POST or DELETE) never touches the served
release. The server has parsed it already, under the parse budget and outside the writer's lock
(:mod:`mildip_ld.curation.write_parse`), and sends a Graph Store body as N-Triples. Under an exclusive
lock on the build folder it is applied to a copy of the current release's data, read from its
exact N-Quads with rdflib (Oxigraph's store would turn ``xsd:positiveInteger`` and the other
derived types into ``xsd:integer``, which the shapes refuse), and then:

1. only the asserted and provenance graphs may have changed: the inferred graph is computed, the
   ontology and the shapes come from the build, and the default graph is the union (403);
2. the would-be asserted and provenance data is validated with the release's own ontology and
   shapes (:func:`~mildip_ld.pipeline.validate.validate_project`); a violation refuses the write (422);
3. the inferred graph is recomputed for the new data (:func:`~mildip_ld.pipeline.infer.infer`);
4. the new release (N-Quads, Oxigraph store, manifest) is written into a staging folder, flushed
   to disk; what the write changed is recorded in the change log of ``data/``
   (:mod:`mildip_ld.release.changes`, pending until published), and the release is published by the
   build's atomic switch of ``current``.

Before applying, under the same lock, the write's preconditions (``If-Match``, ``If-None-Match``:
:func:`~mildip_ld.release.releases.check_conditions`) are checked against the current release (412), and a
write whose id (the client's ``Idempotency-Key``) is in the change log already is not applied again.

A refused write changes nothing. A crash at any step (kill -9 included) leaves ``current`` on the
last committed release; a staging folder may be left behind, is never served, and is removed by
the next ``mildip serve`` or ``mildip build`` (:func:`~mildip_ld.release.build.remove_staging_leftovers`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import rdflib.plugins.sparql as rdflib_sparql
from rdflib import Dataset, Graph, URIRef
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID
from rdflib.plugins.sparql.algebra import translateUpdate
from rdflib.plugins.sparql.evaluate import evalPart
from rdflib.plugins.sparql.parser import parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.plugins.sparql.sparql import QueryContext, Update
from rdflib.plugins.sparql.update import evalUpdate

from mildip_ld import __version__
from mildip_ld.curation.write_parse import ParseRefusedError, parse_triples
from mildip_ld.pipeline.infer import infer
from mildip_ld.pipeline.loader import LoadedGraph, ProjectData
from mildip_ld.pipeline.provenance import source_text
from mildip_ld.pipeline.validate import Violation, data_graph, validate_project
from mildip_ld.release import changes
from mildip_ld.release.build import (
    RELEASES_DIR,
    current_release,
    exclusive,
    graph_counts,
    load_release,
    manifest_of,
    named_graphs,
    write_release,
)
from mildip_ld.release.releases import PreconditionError, check_conditions
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.namespaces import (
    ASSERTED,
    GRAPH_BASE,
    INFERRED,
    MD,
    ONTOLOGY,
    PROVENANCE,
    SHAPES,
    WRITABLE_GRAPHS,
    bind_prefixes,
    is_writable_graph,
)
from mildip_ld.vocab.settings import Settings

GRAPH_METHODS = ("PUT", "POST", "DELETE")

# rdflib's SPARQL engine evaluates updates. By default it fetches the IRI of a USING clause from
# the web: here a USING clause names a graph of the store and nothing is ever fetched. The default
# graph an update reads is the union of the named graphs, as for queries (:func:`_apply`).
rdflib_sparql.SPARQL_LOAD_GRAPHS = False
rdflib_sparql.SPARQL_DEFAULT_GRAPH_UNION = True


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
    """Recorded in the manifest and the change log, so that the server can tell whether a writer it
    killed had committed, and a retry with the same id is not applied twice."""
    by: str = ""
    """Who wrote (the label of the update token), recorded in the manifest and the change log."""
    if_match: list[str] | None = None
    if_none_match: list[str] | None = None
    restore: str | None = None
    """A rollback: the release whose asserted and provenance graphs the write brings back."""
    base_iri: str | None = None
    """What an update's relative IRIs resolve against (the endpoint's URL)."""
    using_graphs: tuple[str, ...] = ()
    """The protocol's ``using-graph-uri``: as a USING clause on each DELETE/INSERT … WHERE."""
    using_named_graphs: tuple[str, ...] = ()
    """The protocol's ``using-named-graph-uri``: as a USING NAMED clause."""

    def summary(self) -> str:
        """What the write was, in a few words (the manifest's ``write``)."""
        if self.restore is not None:
            return f"rollback to {self.restore}"
        return "SPARQL Update" if self.update is not None else f"Graph Store {self.method} <{self.graph}>"


class WriteRefusedError(MildipError):
    """The write was not applied; ``status`` is the HTTP status to answer, ``violations`` the
    shape violations when the data would not conform."""

    def __init__(self, status: int, message: str, violations: list[Violation] | None = None) -> None:
        super().__init__(message, status)
        self.violations = violations or []


@dataclass
class Committed:
    """The outcome of an accepted write: the published release (None when nothing changed)."""

    release: Path | None
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    write_id: str | None = None
    replayed: str | None = None
    """For a write already in the change log: the release that first served it."""


def _payload_triples(write: Write, max_nesting: int) -> Graph:
    """The triples of a Graph Store request body, as an rdflib graph. The server sends them as
    canonical N-Triples, parsed already under the parse budget (:mod:`mildip_ld.curation.write_parse`); any
    other format gets the same checks here (no DTD or entities in RDF/XML, no remote JSON-LD
    context: nothing is ever fetched)."""
    try:
        triples = parse_triples(write.payload, write.media_type, write.graph, max_nesting)
    except ParseRefusedError as refused:
        raise WriteRefusedError(refused.status, refused.message) from None
    return Graph().parse(data=triples.decode("utf-8"), format="nt")


def _update_dataset(dataset: Dataset, update: Update, write: Write) -> None:
    """Give each operation of ``update`` the dataset a query sees: the protocol's USING graphs, and
    a default graph that is the union of the named graphs, for reading (rdflib's union) and for
    deleting (a template triple of the default graph is deleted from every named graph that holds
    it; :func:`_check_graphs` then refuses the write if that touches a protected graph).
    Inserting into the default graph is refused by that check too: it is a union, not a graph."""
    using = [CompValue("UsingClause", default=URIRef(iri)) for iri in write.using_graphs]
    using += [CompValue("UsingClause", named=URIRef(iri)) for iri in write.using_named_graphs]
    graphs = [graph.identifier for graph in dataset.graphs() if graph.identifier != DATASET_DEFAULT_GRAPH_ID]
    for operation in update.algebra:
        inserted = (
            operation.triples
            if operation.name == "InsertData"
            else operation.insert.triples
            if operation.name == "Modify" and operation.insert
            else None
        )
        if inserted and not operation.withClause:
            raise WriteRefusedError(
                403,
                "the update inserts into the default graph, which cannot be written "
                "here: it is the union of the named graphs; insert into GRAPH <…> "
                "(or use WITH <…>); nothing was changed",
            )
        if operation.name != "Modify":
            continue
        if using:
            if operation.using or operation.withClause:
                raise WriteRefusedError(
                    400,
                    "the request gives using-graph-uri or using-named-graph-uri and "
                    "the update has a USING or WITH clause: give one or the other",
                )
            operation.using = using
        if operation.delete and operation.delete.triples and not operation.withClause:
            for name in graphs:
                operation.delete.quads.setdefault(name, []).extend(operation.delete.triples)
            operation.delete.triples = []


def _solve_in_using_dataset(dataset: Dataset, operation: CompValue) -> None:
    """Evaluate the WHERE clause of a DELETE/INSERT with USING or USING NAMED in the dataset those
    name (default graph: the merge of the USING graphs, empty without any; named graphs: only the
    USING NAMED ones, which rdflib alone would not restrict), and give the operation its solutions
    as a VALUES block, so that rdflib applies the templates to the store."""
    view = Dataset()
    view.default_union = False
    for clause in operation.using:
        if clause.default:
            view.default_context.__iadd__(dataset.graph(clause.default))
        else:
            view.graph(clause.named).__iadd__(dataset.graph(clause.named))
    context = QueryContext(view, initBindings={})
    context.prologue = operation.prologue
    solutions = [dict(solution) for solution in evalPart(context, operation.where)]
    operation.where = CompValue("ToMultiSet", p=CompValue("values", res=solutions))
    operation.using = None


def _keep_inferred(dataset: Dataset, inferred: set, writable: dict[str, set]) -> None:
    """Put back the inferred triples an update deleted through the default graph (the inferred graph
    is recomputed from the new data after the write); an update that deleted nothing else is refused,
    as the triples it meant follow from others."""
    lost = inferred - set(dataset.graph(INFERRED))
    if not lost:
        return
    if writable_triples(dataset) == writable:
        raise WriteRefusedError(
            403,
            f"the update deletes {len(lost)} triple(s) of <{INFERRED}>, which "
            f"cannot be written here: they are inferred; delete the asserted "
            f"triples they follow from; nothing was changed",
        )
    dataset.graph(INFERRED).addN((*triple, dataset.graph(INFERRED)) for triple in lost)


def _apply(dataset: Dataset, write: Write, build_dir: Path, max_nesting: int) -> None:
    """Apply ``write`` to ``dataset`` in memory; raise :class:`WriteRefusedError` for bad input.
    An update reads and deletes through the dataset a query sees (:func:`_update_dataset`); a
    rollback brings back an earlier release's writable graphs."""
    if write.restore is not None:
        restored = build_dir / RELEASES_DIR / write.restore
        if "/" in write.restore or not restored.is_dir():
            raise WriteRefusedError(404, f"no release {write.restore!r} to roll back to")
        earlier = load_release(restored)
        for iri in WRITABLE_GRAPHS:
            dataset.graph(iri).remove((None, None, None))
            for triple in earlier.graph(iri):
                dataset.graph(iri).add(triple)
        return
    if write.update is not None:
        try:
            update = translateUpdate(parseUpdate(write.update), write.base_iri, dict(dataset.namespaces()))
            _update_dataset(dataset, update, write)
            inferred, writable = set(dataset.graph(INFERRED)), writable_triples(dataset)
            dataset.default_union = True  # what rdflib's union default graph reads
            try:
                for operation in update.algebra:  # in order: each reads what the previous ones left
                    if operation.name == "Modify" and operation.using:
                        _solve_in_using_dataset(dataset, operation)
                    evalUpdate(dataset, Update(update.prologue, [operation]))
            finally:
                dataset.default_union = False
            _keep_inferred(dataset, inferred, writable)
        except WriteRefusedError:
            raise
        except RecursionError:
            raise WriteRefusedError(400, "malformed update: nested too deeply") from None
        except Exception as failure:  # rdflib raises pyparsing's and its own unrelated types
            reason = " ".join(str(failure).split())
            raise WriteRefusedError(400, f"malformed update or update failed: {reason}") from None
        return
    if write.method not in GRAPH_METHODS or write.graph is None:
        raise WriteRefusedError(400, f"unknown write {write.method!r}")
    target = dataset.graph(URIRef(write.graph))
    if write.method == "DELETE" and not len(target):
        raise WriteRefusedError(
            404, f"this store has no graph <{write.graph}> (it holds no triples): there is nothing to delete"
        )
    added = _payload_triples(write, max_nesting) if write.method in ("PUT", "POST") else Graph()
    if write.method in ("PUT", "DELETE"):
        target.remove((None, None, None))
    for triple in added:
        target.add(triple)


def _name(graph: Graph) -> str | None:
    """A graph's IRI; None for the default graph."""
    return None if graph.identifier == DATASET_DEFAULT_GRAPH_ID else str(graph.identifier)


def own_graphs(dataset: Dataset) -> dict[URIRef, Graph]:
    """The non-empty graphs of the writers' own (outside the project's graph namespace)."""
    return {
        URIRef(name): graph
        for graph in dataset.graphs()
        if (name := _name(graph)) is not None
        and is_writable_graph(name)
        and graph.identifier not in WRITABLE_GRAPHS
        and len(graph)
    }


def writable_triples(dataset: Dataset) -> dict[str, set]:
    """The triples of every graph a write may change, by IRI (empty graphs left out)."""
    return {
        str(graph.identifier): triples
        for graph in dataset.graphs()
        if is_writable_graph(_name(graph)) and (triples := set(graph))
    }


def _read_only_graphs(dataset: Dataset) -> dict[str, set]:
    """The triples of every graph a write may not change, by graph name (the default graph as '')."""
    found: dict[str, set] = {}
    for graph in dataset.graphs():
        triples = set(graph)
        if not is_writable_graph(_name(graph)) and triples:
            found["" if graph.identifier == DATASET_DEFAULT_GRAPH_ID else str(graph.identifier)] = triples
    return found


def _check_graphs(before: dict[str, set], after: dict[str, set]) -> None:
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    if changed:
        names = ", ".join(f"<{name}>" if name else "the default graph" for name in changed)
        writable = ", ".join(f"<{iri}>" for iri in WRITABLE_GRAPHS)
        raise WriteRefusedError(
            403,
            f"the write changes {names}, which cannot be written here: only "
            f"{writable} and graphs of your own (IRIs outside <{GRAPH_BASE}>) can "
            f"(the inferred graph is computed, the ontology and shapes come from "
            f"the build, and the default graph is the union of the named graphs); "
            f"nothing was changed",
        )


def _graph(dataset: Dataset, iri: URIRef) -> LoadedGraph:
    graph = bind_prefixes(Graph())
    graph += dataset.graph(iri)
    return LoadedGraph(graph=graph)


def project_of(dataset: Dataset) -> ProjectData:
    """A release's dataset as the pipeline's project data (its own ontology and shapes)."""
    return ProjectData(
        ontology=_graph(dataset, ONTOLOGY),
        shapes=_graph(dataset, SHAPES),
        provenance=_graph(dataset, PROVENANCE),
        asserted=_graph(dataset, ASSERTED),
    )


def _with_own_graphs(project: ProjectData, own: dict[URIRef, Graph]) -> ProjectData:
    """``project`` with the writers' own graphs joined to the asserted data: validated by the shapes
    and inferred over like it (each graph is still published under its own name)."""
    if not own:
        return project
    asserted = bind_prefixes(Graph())
    asserted += project.asserted.graph
    for graph in own.values():
        asserted += graph
    return replace(project, asserted=LoadedGraph(graph=asserted))


def _source_violations(provenance: Graph, data_dir: Path) -> list[Violation]:
    """Sources whose ``md:localFile`` is not a readable file inside ``data_dir`` (the server's own
    source texts): refused before validation, whose quote check reads that file."""
    return [
        Violation(
            None,
            None,
            source,
            MD.localFile,
            name,
            "source file inside the data folder",
            f"md:localFile must name a source text inside the server's data folder; {str(name)!r} does not",
        )
        for source, name in provenance.subject_objects(MD.localFile)
        if source_text(data_dir, str(name)) is None
    ]


def _validate(project: ProjectData, data_dir: Path, shapes_dir: Path) -> None:
    violations = _source_violations(project.provenance.graph, data_dir)
    if not violations:
        try:
            result = validate_project(project, data_dir, shapes_dir)
        except (ValueError, OSError) as failure:
            raise WriteRefusedError(
                422, f"the data the write would leave cannot be validated: {failure}; nothing was changed"
            ) from None
        violations = [v for v in result.violations if v.severity == "Violation"]
    if violations:
        raise WriteRefusedError(
            422,
            f"the write was refused: the data it would leave violates the shapes "
            f"({len(violations)} violation(s)); nothing was changed",
            violations,
        )


def commit(settings: Settings, write: Write) -> Committed:
    """Apply ``write`` on top of the current release of ``settings.build_dir`` and publish the
    result (:func:`~mildip_ld.release.build.write_release`), or refuse it; validated against the
    configured data and shapes folders, keeping ``settings.keep_releases``.

    Raises :class:`WriteRefusedError` (nothing written) for bad input, a precondition that does not
    hold (412), a write to a read-only graph or data that would violate the shapes.
    """
    build_dir, data_dir, shapes_dir = settings.build_dir.resolve(), settings.data_dir, settings.shapes_dir
    timings: dict[str, float] = {}
    started = time.perf_counter()
    write_id = write.write_id or uuid.uuid4().hex
    with exclusive(build_dir):
        changes.recover(data_dir, build_dir / RELEASES_DIR)
        logged = changes.find(data_dir, write_id)
        if logged is not None:
            return Committed(None, write_id=write_id, replayed=logged.release)
        base = current_release(build_dir)
        if base is None:
            raise WriteRefusedError(503, f"nothing built in {build_dir}; run `mildip build`")
        dataset = load_release(base)
        _check_preconditions(base.name, dataset, write)
        before = _read_only_graphs(dataset)
        writable_before = writable_triples(dataset)
        _apply(dataset, write, build_dir, settings.max_nesting)
        _check_graphs(before, _read_only_graphs(dataset))
        writable_after = writable_triples(dataset)
        if writable_after == writable_before:
            return Committed(None, write_id=write_id)
        project, own = project_of(dataset), own_graphs(dataset)
        checked = _with_own_graphs(project, own)
        timings["apply"] = time.perf_counter() - started
        started = time.perf_counter()
        _validate(checked, data_dir, shapes_dir)
        timings["validate"] = time.perf_counter() - started
        started = time.perf_counter()
        inference = infer(project.ontology.graph, data_graph(checked))
        timings["infer"] = time.perf_counter() - started
        started = time.perf_counter()
        graphs = named_graphs(project, inference.inferred) | own
        timings["derive"] = time.perf_counter() - started
        origin = "rollback" if write.restore is not None else "write"
        change = changes.diff(
            _by_iri(writable_before),
            _by_iri(writable_after),
            changes.Change(
                id=write_id,
                release=datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ"),
                origin=origin,
                by=write.by,
                parent=base.name,
            ),
        )
        manifest = {
            "version": __version__,
            "origin": origin,
            "by": write.by,
            "created": change.created,
            "parent": base.name,
            "write": write.summary(),
            "write_id": write_id,
            "changes": [*manifest_of(base).get("changes", []), write_id],
            "discarded": manifest_of(base).get("discarded", []),
            "closure_size": inference.closure_size,
            "dropped_from_closure": inference.dropped,
        }
        release = write_release(
            build_dir, change.release, graphs, manifest, timings, settings.keep_releases, data_dir, change
        )
    return Committed(release, graph_counts(graphs), timings, write_id)


def _by_iri(graphs: dict[str, set]) -> dict[URIRef, set]:
    """Triples per graph, keyed by the graph's IRI as a term (as the change log names graphs)."""
    return {URIRef(iri): triples for iri, triples in graphs.items()}


def _check_preconditions(release: str, dataset: Dataset, write: Write) -> None:
    """Refuse (412) a write whose If-Match / If-None-Match does not hold for ``release``."""
    if write.if_match is None and write.if_none_match is None:
        return
    graph = write.graph if write.update is None else None
    exists = True if graph is None else len(dataset.graph(URIRef(graph))) > 0
    try:
        check_conditions(
            release,
            graph,
            exists,
            write.if_match,
            write.if_none_match,
            whole_release=write.update is not None,
        )
    except PreconditionError as failed:
        raise WriteRefusedError(failed.status, failed.message) from None
