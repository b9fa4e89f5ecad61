"""Downloadable dumps of a release: the whole dataset and each named graph, in every RDF syntax.

Files live in the release's ``dumps/`` folder and are generated lazily, the first time they are
asked for (by ``/dumps/``, ``/.well-known/void`` or ``mildip dump``): they are written into a
temporary folder and renamed into place in one step, so a reader never sees half a set and two
processes racing to create it both end up with the same complete folder. A release never changes,
so neither do its dumps: they are cached for its lifetime. Each file comes plain and gzipped
(deterministic gzip, no timestamp), with its size and SHA-256 in ``index.json`` and ``SHA256SUMS``,
and the folder carries the dataset's VoID description as ``void.ttl``.

Routes: ``/dumps/`` (HTML table or JSON), ``/dumps/{file}`` (ETag, Last-Modified, 304),
``/.well-known/void`` and ``/void`` (the document of the dataset's hash IRIs), by content negotiation.
The listing, its generation on first use and VoID go through the render gate
(:mod:`mildip_ld.server.render_gate`); the URLs they give are built on the ``public_url`` setting.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyoxigraph as ox

from mildip_ld.release import void
from mildip_ld.release.build import DATASET_FILE
from mildip_ld.release.store import store_for
from mildip_ld.release.void import DumpFile
from mildip_ld.vocab.formats import (
    BY_NAME,
    FORMATS,
    GRAPH_FORMATS,
    QUAD_FORMATS,
    RdfFormat,
)
from mildip_ld.vocab.namespaces import NAMED_GRAPHS, PREFIXES

DUMPS_DIR = "dumps"
INDEX_FILE = "index.json"
CHECKSUMS_FILE = "SHA256SUMS"
VOID_FILE = "void.ttl"
VOID_GRAPH = "void"
"""Graph name of void.ttl in the index (it describes the other files, not a graph of the data)."""
DATASET = "dataset"
"""Graph name of the dumps holding the whole dataset, every named graph kept."""
CHUNK = 1 << 16

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DumpSpec:
    """One dump to write: a graph (or the whole dataset) in one format."""

    graph: str
    fmt: RdfFormat

    @property
    def file(self) -> str:
        return f"{self.graph}.{self.fmt.extension}"


def plan(formats: Iterable[str] | None = None, graphs: Iterable[str] | None = None) -> list[DumpSpec]:
    """The dumps to write: quad formats for the dataset, graph formats for each named graph.

    ``formats`` (names such as ``turtle``) and ``graphs`` (``dataset`` or a named graph's name)
    narrow the set; unknown names raise ValueError.
    """
    wanted_formats = set(formats or BY_NAME)
    wanted_graphs = set(graphs or [DATASET, *NAMED_GRAPHS])
    unknown = (wanted_formats - set(BY_NAME)) | (wanted_graphs - {DATASET, *NAMED_GRAPHS})
    if unknown:
        raise ValueError(
            f"unknown format or graph: {', '.join(sorted(unknown))} (formats: "
            f"{', '.join(BY_NAME)}; graphs: {DATASET}, {', '.join(NAMED_GRAPHS)})"
        )
    specs = [DumpSpec(DATASET, fmt) for fmt in QUAD_FORMATS] if DATASET in wanted_graphs else []
    specs += [DumpSpec(name, fmt) for name in NAMED_GRAPHS if name in wanted_graphs for fmt in GRAPH_FORMATS]
    return [spec for spec in specs if spec.fmt.name in wanted_formats]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _gzip(source: Path, target: Path) -> None:
    """Deterministic gzip: no file name or time in the header, so equal input gives equal bytes."""
    with (
        source.open("rb") as plain,
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as packed,
    ):
        shutil.copyfileobj(plain, packed, CHUNK)


def release_quads(release: Path) -> list[ox.Quad]:
    """The release's quads as written by the build (``dataset.nq``), sorted by graph then subject.

    Dumps are serialized from this file, not from the store: Oxigraph's store canonicalizes
    derived integer datatypes (``xsd:positiveInteger`` comes back as ``xsd:integer``), and a dump
    must give back exactly the triples the build wrote.
    """
    quads = ox.parse(path=str(release / DATASET_FILE), format=ox.RdfFormat.N_QUADS)
    return sorted(quads, key=lambda q: (str(q.graph_name), str(q.subject), str(q.predicate), str(q.object)))


def _entries(path: Path, spec: DumpSpec, graph_iri: str | None, triples: int) -> list[DumpFile]:
    """Gzip a written dump and describe both files."""
    packed = path.with_name(path.name + ".gz")
    _gzip(path, packed)
    return [
        DumpFile(
            file=target.name,
            format=spec.fmt.name,
            media_type=spec.fmt.media_type,
            graph=spec.graph,
            graph_iri=graph_iri,
            compressed=target is packed,
            size=target.stat().st_size,
            sha256=_sha256(target),
            triples=triples,
        )
        for target in (path, packed)
    ]


def write_dump(quads: Sequence[ox.Quad], folder: Path, spec: DumpSpec) -> list[DumpFile]:
    """Serialize one dump (with pyoxigraph) into ``folder``, plain and gzipped."""
    path = folder / spec.file
    graph_iri = None if spec.graph == DATASET else str(NAMED_GRAPHS[spec.graph])
    if graph_iri is None:
        items: list = list(quads)
    else:
        items = [q.triple for q in quads if q.graph_name == ox.NamedNode(graph_iri)]
    ox.serialize(items, str(path), spec.fmt.oxigraph, prefixes=PREFIXES)
    return _entries(path, spec, graph_iri, len(items))


def void_document(release: Path, files: Sequence[DumpFile], base_url: str, fmt: RdfFormat) -> bytes:
    """The VoID description of the release's store and of ``files``, serialized as ``fmt``."""
    graph = void.void_graph(
        store_for(release),
        files,
        base_url=base_url,
        release=void.release_name(release),
        formats={f.name: f.w3c for f in FORMATS},
    )
    return graph.serialize(format=fmt.rdflib, encoding="utf-8")


def write_dumps(
    release: Path,
    folder: Path,
    specs: Sequence[DumpSpec],
    base_url: str = void.PUBLIC_BASE,
    progress: Progress = lambda _: None,
) -> list[DumpFile]:
    """Write ``specs`` of ``release`` into ``folder`` plus void.ttl, SHA256SUMS and index.json.

    Returns the listing (also written as index.json).
    """
    release = release.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    quads = release_quads(release)
    files: list[DumpFile] = []
    for spec in specs:
        files += write_dump(quads, folder, spec)
        progress(f"  {spec.file:<22} {files[-2].size:>10} bytes")
    (folder / VOID_FILE).write_bytes(void_document(release, files, base_url, BY_NAME["turtle"]))
    described = files + [
        DumpFile(
            file=VOID_FILE,
            format="turtle",
            media_type="text/turtle",
            graph=VOID_GRAPH,
            graph_iri=None,
            compressed=False,
            size=(folder / VOID_FILE).stat().st_size,
            sha256=_sha256(folder / VOID_FILE),
            triples=0,
        )
    ]
    (folder / CHECKSUMS_FILE).write_text("".join(f"{f.sha256}  {f.file}\n" for f in described))
    index = {"release": void.release_name(release), "files": [asdict(f) for f in described]}
    (folder / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    return described


def read_index(folder: Path) -> list[DumpFile]:
    """The files listed in a dumps folder's index.json."""
    return [DumpFile(**entry) for entry in json.loads((folder / INDEX_FILE).read_text())["files"]]


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(release: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(str(release), threading.Lock())


def ensure_dumps(release: Path, progress: Progress = lambda _: None) -> list[DumpFile]:
    """The release's complete dumps folder, generated on first use (atomically) and then reused."""
    release = release.resolve()
    folder = release / DUMPS_DIR
    with _lock(release):
        if (folder / INDEX_FILE).is_file():
            return read_index(folder)
        staging = Path(tempfile.mkdtemp(prefix=".dumps-", dir=release))
        try:
            write_dumps(release, staging, plan(), progress=progress)
            try:
                os.rename(staging, folder)
            except OSError:
                if not (folder / INDEX_FILE).is_file():  # not another process's complete set
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return read_index(folder)


def export(
    release: Path,
    output: Path,
    formats: Iterable[str] | None = None,
    graphs: Iterable[str] | None = None,
    progress: Progress = lambda _: None,
) -> list[DumpFile]:
    """Write the chosen dumps of ``release`` into ``output`` (files replaced one by one, atomically)."""
    specs = plan(formats, graphs)
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dumps-", dir=output))
    try:
        files = write_dumps(release, staging, specs, progress=progress)
        for item in staging.iterdir():
            os.replace(item, output / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files


def _names(values: Sequence[str] | None) -> list[str] | None:
    """Names given as repeated and/or comma-separated values; None when there are none."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()] or None


def run_dump(
    release: Path,
    output: Path | None,
    formats: Sequence[str] | None,
    graphs: Sequence[str] | None,
    progress: Progress = lambda _: None,
) -> tuple[Path, list[DumpFile]]:
    """``mildip dump``: the chosen dumps, written into ``output`` or else the release's own folder.

    ``formats`` and ``graphs`` may hold comma-separated names. Without ``output`` the release's
    complete dumps folder is ensured (the one the server serves) and the chosen files are picked
    from it. Raises ValueError for unknown names.
    """
    formats, graphs = _names(formats), _names(graphs)
    chosen = {spec.file for spec in plan(formats, graphs)}
    if output is not None:
        return output, export(release, output, formats, graphs, progress)
    files = ensure_dumps(release, progress=progress)
    return release.resolve() / DUMPS_DIR, [f for f in files if f.file.removesuffix(".gz") in chosen]
