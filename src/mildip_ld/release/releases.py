"""Release history and conditional writes: what ``mildip releases`` lists, diffs and rolls back,
and the entity tags of the Graph Store.

Every release's ``manifest.json`` says where it came from (``origin``: build, write or rollback;
``by``: the operator who built it or the label of the token that wrote it), its ``parent``, when
it was created, its counts and timings, and the logged writes it holds (``changes``).

A Graph Store read carries a strong ETag naming the release, the graph and the serialization
(``"<release>.<graph>.<format>"``): it changes with every release, so a tag a client read is stale
as soon as anything was published after it. ``If-Match`` and ``If-None-Match`` on a write are
checked by the writer against the current release under the build folder's lock
(:func:`check_conditions`), so no build or other write can slip between the check and the commit;
a stale tag answers 412. A SPARQL Update's ``If-Match`` takes the release's tag ``"<release>"``
(the ``X-Mildip-Release`` header of every write's answer) or any graph tag of that release.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from mildip_ld.release.build import DATASET_FILE, RELEASES_DIR, current_release, manifest_of
from mildip_ld.release.changes import WRITE_ID, Change, release_change
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.namespaces import NAMED_GRAPHS

ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e]*)"\s*(?:,|$)')
"""One entity tag of an If-Match / If-None-Match list (RFC 9110, section 8.8.3)."""
GRAPH_KEYS = {str(iri): name for name, iri in NAMED_GRAPHS.items()}


class PreconditionError(MildipError):
    """A precondition header cannot be read (400) or does not hold (412)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status)


def _graph_key(graph: str | None) -> str:
    if graph is None:
        return "default"
    return GRAPH_KEYS.get(graph) or hashlib.sha256(graph.encode()).hexdigest()[:16]


def etag(release: str, graph: str | None, fmt: ox.RdfFormat) -> str:
    """The strong ETag of ``graph`` (None: the default graph) of ``release`` serialized as ``fmt``."""
    return f'"{release}.{_graph_key(graph)}.{fmt.file_extension}"'


def parse_tags(header: str | None, name: str) -> list[str] | None:
    """The entity tags of a precondition header (``["*"]`` for ``*``), None when it is absent.
    Weak tags are kept with their ``W/`` (they never match a strong comparison)."""
    if header is None:
        return None
    if header.strip() == "*":
        return ["*"]
    tags, position = [], 0
    while position < len(header):
        found = ENTITY_TAG.match(header, position)
        if found is None or found.end() == position:
            raise PreconditionError(
                400, f'the {name} header is not a list of entity tags ("tag", ...) nor *: {header[:100]!r}'
            )
        tags.append(f'{found.group(1) or ""}"{found.group(2)}"')
        position = found.end()
    if not tags:
        raise PreconditionError(400, f"the {name} header is empty")
    return tags


def _matches(tag: str, release: str, graph: str | None, whole_release: bool) -> bool:
    """Strong comparison of ``tag`` with the current state (any serialization of the graph)."""
    if tag.startswith("W/"):
        return False
    value = tag.strip('"')
    if whole_release and value == release:
        return True
    stem, _, extension = value.rpartition(".")
    return bool(extension) and stem == f"{release}.{_graph_key(graph)}"


def check_conditions(
    release: str,
    graph: str | None,
    exists: bool,
    if_match: list[str] | None,
    if_none_match: list[str] | None,
    whole_release: bool,
) -> None:
    """Raise a 412 :class:`PreconditionError` unless the write's preconditions hold for the
    current ``release`` (``graph`` of a Graph Store write, or the whole release for an update)."""
    if if_match is not None:
        held = (
            exists if if_match == ["*"] else any(_matches(t, release, graph, whole_release) for t in if_match)
        )
        if not held:
            raise PreconditionError(
                412,
                f"If-Match does not hold: the current release is {release} (its "
                f'tag is "{release}"); read the graph again and retry; '
                f"nothing was changed",
            )
    if if_none_match is not None:
        held = (
            not exists
            if if_none_match == ["*"]
            else not any(_matches(t, release, graph, whole_release) for t in if_none_match)
        )
        if not held:
            raise PreconditionError(
                412, f"If-None-Match does not hold for release {release}; nothing was changed"
            )


def write_conditions(headers: Mapping[str, str]) -> dict[str, object]:
    """The precondition and idempotency fields of a write job, from its request headers
    (``Idempotency-Key``: the client's write id, letters, digits, ``-`` and ``_``, at most 64)."""
    get = headers.get
    key = get("idempotency-key")
    if key is not None and not WRITE_ID.match(key):
        raise PreconditionError(400, "the Idempotency-Key header must be 1 to 64 letters, digits, '-' or '_'")
    fields: dict[str, object] = {
        "if_match": parse_tags(get("if-match"), "If-Match"),
        "if_none_match": parse_tags(get("if-none-match"), "If-None-Match"),
    }
    if key is not None:
        fields["write_id"] = key
    return fields


@dataclass(frozen=True)
class ReleaseInfo:
    """One release as ``mildip releases`` lists it."""

    name: str
    origin: str
    by: str
    created: str
    parent: str | None
    counts: dict[str, int]
    timings: dict[str, float]
    changes: list[str]
    write: str | None
    current: bool

    def line(self) -> str:
        """One line of the listing."""
        triples = sum(self.counts.values())
        total = self.timings.get("total") or sum(self.timings.values())
        what = f" {self.write}" if self.write else ""
        return (
            f"{'*' if self.current else ' '} {self.name}  {self.origin:<8} {self.by or '-':<14} "
            f"{triples:>7} triples  {total:6.2f} s  {len(self.changes):>3} write(s){what}"
        )


def history(build_dir: Path) -> list[ReleaseInfo]:
    """The releases kept in ``build_dir``, oldest first."""
    folder = build_dir / RELEASES_DIR
    current = current_release(build_dir)
    found = []
    for release in sorted(folder.iterdir()) if folder.is_dir() else []:
        manifest = manifest_of(release)
        timings = manifest.get("timings_seconds") or manifest.get("timings") or {}
        found.append(
            ReleaseInfo(
                release.name,
                manifest.get("origin", "write" if manifest.get("write_id") else "build"),
                manifest.get("by", ""),
                manifest.get("created", ""),
                manifest.get("parent"),
                manifest.get("counts", {}),
                timings,
                manifest.get("changes", []),
                manifest.get("write"),
                current == release.resolve(),
            )
        )
    return found


def release_path(build_dir: Path, name: str) -> Path:
    """The folder of the release ``name`` (``current`` names the served one); ValueError if none."""
    if name == "current":
        release = current_release(build_dir)
    else:
        release = build_dir / RELEASES_DIR / name
        release = release if "/" not in name and release.is_dir() else None
    if release is None:
        raise ValueError(f"no release {name!r} in {build_dir / RELEASES_DIR} (see `mildip releases`)")
    return release


def patch_between(old: Path, new: Path) -> Change:
    """What turns release ``old`` into release ``new`` (every named graph), as a change."""
    change = Change(id=f"{old.name}-to-{new.name}", release=new.name, origin="diff", parent=old.name)
    release_change(old / DATASET_FILE, new / DATASET_FILE, change)
    return change
