"""The change log: every acknowledged write, kept in ``data/changes/`` as one RDF Patch file.

The endpoint's writes are part of the project's data, not only of ``build/``: before a write's
release is published, :mod:`mildip_ld.curation.commit` records what it changed (the quads it deleted and
added, in the asserted and provenance graphs) as ``data/changes/<time>--<write id>.rdfp``, and
``mildip build`` applies every change, oldest first, after loading the hand-written files
(:func:`apply_log`). So a build from ``data/`` reproduces what the endpoint served, and a write can
be reviewed (and committed to git) like any hand-written claim. Nothing removes a change but an
explicit operator command (``mildip changes discard``, which names what it discards).

A change is written first as ``.pending-<write id>.rdfp`` and renamed to its final name once its
release is published: a process killed in between leaves a pending file that
:func:`recover` (run under the build folder's lock by every build and write) either completes (its
release was published, hence served: the write is committed) or removes (it was not: nothing was
committed). So a write is in the log exactly when its release was published.

The format is RDF Patch (https://afs.github.io/rdf-patch/, Apache Jena): header lines ``H key
value .``, then ``TX .``, ``D``/``A`` lines holding one N-Quads statement each, and ``TC .``.
PyPI has no maintained RDF Patch library for Python, so this module writes the lines itself; each
term is printed by Oxigraph's N-Quads serializer and every statement read back is parsed by
Oxigraph's N-Quads parser (never by hand), only the line's leading keyword is split off here.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph, URIRef

from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.terms import to_oxigraph_quad, to_rdflib_triple

CHANGES_DIR = "changes"
RELEASE_PATCH_FILE = "changes.rdfp"
"""In each release folder: every graph's change from the parent release (served at /dumps/changes.rdfp)."""
SUFFIX = ".rdfp"
PENDING_PREFIX = ".pending-"
SEPARATOR = "--"
WRITE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""A write id (a server's uuid, or a client's ``Idempotency-Key``): safe in a file name."""
HEADER_KEYS = ("id", "release", "origin", "by", "created", "parent")


class ChangeLogError(MildipError):
    """A change file cannot be read (named in the message): the store's own state, so a 500."""


@dataclass
class Change:
    """One acknowledged write: its id, the release that first served it, who made it, and the
    quads it deleted and added (each graph's name is the quad's fourth term)."""

    id: str
    release: str
    origin: str = "write"
    by: str = ""
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    parent: str = ""
    deleted: list[ox.Quad] = field(default_factory=list)
    added: list[ox.Quad] = field(default_factory=list)

    def patch(self) -> str:
        """This change as RDF Patch text."""
        headers = [f"H {key} {ox.Literal(getattr(self, key))} ." for key in HEADER_KEYS]
        lines = [f"D {quad} ." for quad in self.deleted] + [f"A {quad} ." for quad in self.added]
        return "\n".join([*headers, "TX .", *lines, "TC ."]) + "\n"

    @property
    def file_name(self) -> str:
        stamp = self.created.replace("-", "").replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
        return f"{stamp}{SEPARATOR}{self.id}{SUFFIX}"


def changes_dir(data_dir: Path) -> Path:
    """Where the change log of ``data_dir`` lives."""
    return data_dir / CHANGES_DIR


def parse_patch(text: str, where: str) -> Change:
    """Read an RDF Patch written by :meth:`Change.patch` (Oxigraph parses every term)."""
    headers: dict[str, str] = {}
    operations: list[str] = []
    statements: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        keyword, _, rest = line.strip().partition(" ")
        if keyword == "H":
            key, _, value = rest.partition(" ")
            literal = _terms(f"<urn:h> <urn:h> {value.removesuffix('.').strip()} .", where, number)
            value_term = literal[0].object if literal else None
            headers[key] = value_term.value if isinstance(value_term, ox.Literal) else ""
        elif keyword in ("A", "D"):
            operations.append(keyword)
            statements.append(rest)
        elif keyword not in ("TX", "TC", ""):
            raise ChangeLogError(f"{where}:{number}: unknown RDF Patch line {keyword!r}")
    quads = _terms("\n".join(statements), where, None)
    if len(quads) != len(operations) or not headers.get("id"):
        raise ChangeLogError(f"{where}: not a change written by mildip (no id, or unreadable lines)")
    field_of = {key: headers.get(key, "") for key in HEADER_KEYS}
    change = Change(
        field_of["id"],
        field_of["release"],
        field_of["origin"],
        field_of["by"],
        field_of["created"],
        field_of["parent"],
    )
    for operation, quad in zip(operations, quads, strict=True):
        (change.added if operation == "A" else change.deleted).append(quad)
    return change


def _terms(text: str, where: str, line: int | None) -> list[ox.Quad]:
    try:
        return list(ox.parse(input=text.encode(), format=ox.RdfFormat.N_QUADS))
    except SyntaxError as failure:
        raise ChangeLogError(f"{where}{f':{line}' if line else ''}: {failure}") from None


def read_log(data_dir: Path) -> list[tuple[Path, Change]]:
    """The committed changes of ``data_dir``, oldest first (pending ones are not committed)."""
    folder = changes_dir(data_dir)
    if not folder.is_dir():
        return []
    files = sorted(path for path in folder.glob(f"*{SUFFIX}") if not path.name.startswith("."))
    return [(path, parse_patch(path.read_text(encoding="utf-8"), str(path))) for path in files]


def logged_ids(data_dir: Path) -> set[str]:
    """The ids of the committed changes (from the file names, without reading them)."""
    folder = changes_dir(data_dir)
    if not folder.is_dir():
        return set()
    return {
        path.name.removesuffix(SUFFIX).partition(SEPARATOR)[2]
        for path in folder.glob(f"*{SUFFIX}")
        if not path.name.startswith(".")
    }


def find(data_dir: Path, write_id: str, releases: Path | None = None) -> Change | None:
    """The committed change ``write_id``, or None. With ``releases`` (the build's releases folder),
    a pending change whose release was published counts as committed (before :func:`recover`)."""
    if not WRITE_ID.match(write_id):
        return None
    folder = changes_dir(data_dir)
    for path in folder.glob(f"*{SEPARATOR}{write_id}{SUFFIX}"):
        return parse_patch(path.read_text(encoding="utf-8"), str(path))
    pending = folder / f"{PENDING_PREFIX}{write_id}{SUFFIX}"
    if releases is not None and pending.is_file():
        with contextlib.suppress(OSError, ChangeLogError):
            change = parse_patch(pending.read_text(encoding="utf-8"), str(pending))
            if (releases / change.release).is_dir():
                return change
    return None


def diff(before: dict[URIRef, set], after: dict[URIRef, set], change: Change) -> Change:
    """Fill ``change`` with what turns ``before`` into ``after`` (rdflib triples per graph name)."""
    for graph in sorted(before.keys() | after.keys()):
        name = ox.NamedNode(str(graph))
        old, new = before.get(graph, set()), after.get(graph, set())
        change.deleted += sorted((to_oxigraph_quad(t, name) for t in old - new), key=str)
        change.added += sorted((to_oxigraph_quad(t, name) for t in new - old), key=str)
    return change


def release_change(old: Path | None, new: Path, change: Change) -> bool:
    """Fill ``change`` with what turns the N-Quads file ``old`` (None: nothing) into ``new``, every
    graph (both read by Oxigraph: exact terms). Blank nodes are labelled anew each time a release
    is read from its sources, so a graph's triples with blank nodes count as changed only when they
    are not isomorphic to the old ones (compared after Oxigraph's canonical relabelling).

    A write keeps the labels and most lines of its parent: :func:`_exact_change` then compares
    only the lines found in one file alone. True when it did (the change is exact: applied to
    ``old``'s quads it gives ``new``'s, labels included)."""
    if old is not None and _exact_change(old, new, change):
        return True
    before = _by_graph(old) if old is not None else {}
    after = _by_graph(new)
    for graph in sorted(before.keys() | after.keys(), key=str):
        old_quads, new_quads = before.get(graph, set()), after.get(graph, set())
        old_blank, new_blank = ({q for q in quads if _has_blank(q)} for quads in (old_quads, new_quads))
        if old_blank and new_blank and _canonical(old_blank) == _canonical(new_blank):
            old_quads, new_quads = old_quads - old_blank, new_quads - new_blank
        change.deleted += sorted(old_quads - new_quads, key=str)
        change.added += sorted(new_quads - old_quads, key=str)
    return False


def _exact_change(old: Path, new: Path, change: Change) -> bool:
    """Fill ``change`` with what turns the N-Quads file ``old`` into ``new`` when no blank node is
    among the quads that differ (a write: its parent's labels kept), and say so; otherwise leave
    it alone and return False (:func:`release_change` then compares up to isomorphism). Applied to
    ``old``'s quads, an exact change gives exactly ``new``'s, labels included."""
    removed, added = _changed_quads(old, new)
    if any(_has_blank(quad) for quad in (*removed, *added)):
        return False
    change.deleted += sorted(removed - added, key=_graph_order)
    change.added += sorted(added - removed, key=_graph_order)
    return True


def _changed_quads(old: Path, new: Path) -> tuple[set[ox.Quad], set[ox.Quad]]:
    """The quads of the lines only ``old`` has, and of those only ``new`` has (a quad written
    differently in each, by another version of Oxigraph, is in both)."""
    old_lines, new_lines = (set(path.read_bytes().splitlines()) for path in (old, new))
    return _parsed(old_lines - new_lines), _parsed(new_lines - old_lines)


def _parsed(lines: set[bytes]) -> set[ox.Quad]:
    return set(ox.parse(b"\n".join(lines), format=ox.RdfFormat.N_QUADS)) if lines else set()


def _graph_order(quad: ox.Quad) -> tuple[str, str]:
    """Quads by graph, then as written (the order of the patch when each graph is compared whole)."""
    return str(quad.graph_name), str(quad)


def _by_graph(nquads: Path) -> dict[str, set[ox.Quad]]:
    graphs: dict[str, set[ox.Quad]] = {}
    for quad in ox.parse(path=str(nquads), format=ox.RdfFormat.N_QUADS):
        graphs.setdefault(str(quad.graph_name), set()).add(quad)
    return graphs


def _has_blank(quad: ox.Quad) -> bool:
    return isinstance(quad.subject, ox.BlankNode) or isinstance(quad.object, ox.BlankNode)


def _canonical(quads: set[ox.Quad]) -> set[ox.Quad]:
    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    return set(dataset)


def _write_flushed(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def fsync_path(path: Path) -> None:
    """Flush a file or folder to disk (a folder's entries: new names, renames)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def record_pending(data_dir: Path, change: Change) -> Path:
    """Write ``change`` as a pending file, flushed to disk (the caller holds the build lock)."""
    folder = changes_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    pending = folder / f"{PENDING_PREFIX}{change.id}{SUFFIX}"
    _write_flushed(pending, change.patch())
    fsync_path(folder)
    return pending


def complete(pending: Path) -> Path:
    """Give a pending change its final name (its release is published)."""
    change = parse_patch(pending.read_text(encoding="utf-8"), str(pending))
    final = pending.parent / change.file_name
    os.replace(pending, final)
    fsync_path(pending.parent)
    return final


def recover(data_dir: Path, releases: Path) -> list[str]:
    """Settle the changes a killed write left pending (the caller holds the build lock): complete
    those whose release was published, remove the others. Returns what was done, one line each."""
    folder = changes_dir(data_dir)
    done = []
    for pending in sorted(folder.glob(f"{PENDING_PREFIX}*{SUFFIX}")) if folder.is_dir() else []:
        try:
            change = parse_patch(pending.read_text(encoding="utf-8"), str(pending))
        except ChangeLogError:
            change = None
        if change is not None and (releases / change.release).is_dir():
            final = complete(pending)
            done.append(f"completed change {final.name}: its release {change.release} was published")
        else:
            pending.unlink()
            done.append(f"removed {pending.name}: the write was never published (nothing was committed)")
    return done


def apply_log(data_dir: Path, graphs: dict[URIRef, Graph]) -> list[str]:
    """Apply every committed change of ``data_dir`` to ``graphs`` (by graph name), oldest first;
    returns the ids applied. A change naming a graph not in ``graphs`` is refused."""
    applied = []
    for path, change in read_log(data_dir):
        for quads, adding in ((change.deleted, False), (change.added, True)):
            for quad in quads:
                name = quad.graph_name
                graph = graphs.get(URIRef(name.value)) if isinstance(name, ox.NamedNode) else None
                if graph is None:
                    raise ChangeLogError(f"{path}: changes the graph {name}, which a write may not")
                (graph.add if adding else graph.remove)(to_rdflib_triple(quad))
        applied.append(change.id)
    return applied


def discard(data_dir: Path, write_ids: Iterable[str]) -> list[Path]:
    """Remove the named changes from the log (the operator's explicit command); returns their files."""
    wanted = set(write_ids)
    removed = [path for path, change in read_log(data_dir) if change.id in wanted]
    for path in removed:
        path.unlink()
    return removed
