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
(:mod:`mildip_ld.render_gate`); the URLs they give are built on the ``public_url`` setting.
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
from fastapi import APIRouter, Request
from fastapi.responses import Response

from . import void
from .build import DATASET_FILE
from .formats import (
    BY_NAME,
    FORMATS,
    GRAPH_FORMATS,
    PREFIX_MAP,
    QUAD_FORMATS,
    RdfFormat,
    negotiate_rdf,
)
from .namespaces import NAMED_GRAPHS
from .render_gate import Rendered, RenderRefusedError
from .web import (
    file_response,
    gate_of,
    not_found,
    page,
    public_base,
    release_of,
    root_path,
    store_for,
    wants_json,
)

DUMPS_DIR = "dumps"
INDEX_FILE = "index.json"
CHECKSUMS_FILE = "SHA256SUMS"
VOID_FILE = "void.ttl"
VOID_GRAPH = "void"
"""Graph name of void.ttl in the index (it describes the other files, not a graph of the data)."""
DATASET = "dataset"
"""Graph name of the dumps holding the whole dataset, every named graph kept."""
GZIP = "application/gzip"
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


@dataclass(frozen=True)
class DumpFile:
    """One written file, as listed in ``index.json``."""

    file: str
    format: str
    media_type: str
    """Media type of the content (of the decompressed content for a .gz file)."""
    graph: str
    graph_iri: str | None
    compressed: bool
    size: int
    sha256: str
    triples: int

    @property
    def served_type(self) -> str:
        """The Content-Type it is served with (gzip files are served as such, not re-encoded)."""
        return GZIP if self.compressed else self.media_type


def plan(formats: Iterable[str] | None = None, graphs: Iterable[str] | None = None) -> list[DumpSpec]:
    """The dumps to write: quad formats for the dataset, graph formats for each named graph.

    ``formats`` (names such as ``turtle``) and ``graphs`` (``dataset`` or a named graph's name)
    narrow the set; unknown names raise ValueError.
    """
    wanted_formats = set(formats or BY_NAME)
    wanted_graphs = set(graphs or [DATASET, *NAMED_GRAPHS])
    unknown = (wanted_formats - set(BY_NAME)) | (wanted_graphs - {DATASET, *NAMED_GRAPHS})
    if unknown:
        raise ValueError(f"unknown format or graph: {', '.join(sorted(unknown))} (formats: "
                         f"{', '.join(BY_NAME)}; graphs: {DATASET}, {', '.join(NAMED_GRAPHS)})")
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
    with source.open("rb") as plain, target.open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as packed:
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
    return [DumpFile(file=target.name, format=spec.fmt.name, media_type=spec.fmt.media_type,
                     graph=spec.graph, graph_iri=graph_iri, compressed=target is packed,
                     size=target.stat().st_size, sha256=_sha256(target), triples=triples)
            for target in (path, packed)]


def write_dump(quads: Sequence[ox.Quad], folder: Path, spec: DumpSpec) -> list[DumpFile]:
    """Serialize one dump (with pyoxigraph) into ``folder``, plain and gzipped."""
    path = folder / spec.file
    graph_iri = None if spec.graph == DATASET else str(NAMED_GRAPHS[spec.graph])
    if graph_iri is None:
        items: list = list(quads)
    else:
        items = [q.triple for q in quads if q.graph_name == ox.NamedNode(graph_iri)]
    ox.serialize(items, str(path), spec.fmt.oxigraph, prefixes=PREFIX_MAP)
    return _entries(path, spec, graph_iri, len(items))


def void_document(release: Path, files: Sequence[DumpFile], base_url: str, fmt: RdfFormat) -> bytes:
    """The VoID description of the release's store and of ``files``, serialized as ``fmt``."""
    graph = void.describe(store_for(release), files, base_url=base_url, release=void.release_name(release),
                          formats={f.name: f.w3c for f in FORMATS})
    return graph.serialize(format=fmt.rdflib, encoding="utf-8")


def write_dumps(release: Path, folder: Path, specs: Sequence[DumpSpec], base_url: str = void.PUBLIC_BASE,
                progress: Progress = lambda _: None) -> list[DumpFile]:
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
    described = files + [DumpFile(file=VOID_FILE, format="turtle", media_type="text/turtle", graph=VOID_GRAPH,
                                  graph_iri=None, compressed=False, size=(folder / VOID_FILE).stat().st_size,
                                  sha256=_sha256(folder / VOID_FILE), triples=0)]
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


def export(release: Path, output: Path, formats: Iterable[str] | None = None,
           graphs: Iterable[str] | None = None, progress: Progress = lambda _: None) -> list[DumpFile]:
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


def run_dump(release: Path, output: Path | None, formats: Sequence[str] | None, graphs: Sequence[str] | None,
             progress: Progress = lambda _: None) -> tuple[Path, list[DumpFile]]:
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


# --- HTTP ------------------------------------------------------------------------------------------

router = APIRouter()
LISTING_COST = 512
"""Bytes a listed file is counted for in the render cache (its :class:`DumpFile`)."""


async def _listing(request: Request) -> list[DumpFile] | Response:
    """The served release's dump files (generated on first use, in a render thread), or the 503
    answer when the render gate refuses."""
    release = release_of(request).resolve()
    try:
        return await gate_of(request).get("dumps", (str(release), "listing"), lambda: ensure_dumps(release),
                                          lambda files: LISTING_COST * len(files))
    except RenderRefusedError as refused:
        return refused.response()


def _index(release: Path, base: str, root: str, as_json: bool) -> Rendered:
    """The dumps as JSON (with ``base``'s URLs) or as an HTML table (run in a render thread)."""
    files = ensure_dumps(release)
    if as_json:
        listing = {"release": void.release_name(release), "checksums": f"{base}dumps/{CHECKSUMS_FILE}",
                   "void": f"{base}.well-known/void",
                   "files": [asdict(f) | {"url": f"{base}dumps/{f.file}"} for f in files]}
        body = json.dumps(listing, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return Rendered(body, "application/json", headers=(("Vary", "Accept"),))
    groups: dict[str, list[DumpFile]] = {}
    for entry in files:
        groups.setdefault(entry.graph, []).append(entry)
    context = {"groups": groups, "release": void.release_name(release), "checksums": CHECKSUMS_FILE,
               "labels": {fmt.name: fmt.label for fmt in FORMATS}}
    return page("dumps.html", context, root, headers={"Vary": "Accept"})


@router.api_route("/dumps/", methods=["GET", "HEAD"], include_in_schema=False)
async def dumps_index(request: Request) -> Response:
    """The dump files: an HTML table for browsers, JSON for programs (``Accept`` or ``?format=json``)."""
    release, root, as_json = release_of(request).resolve(), root_path(request), wants_json(request)
    base = public_base(request)
    return await gate_of(request).respond(request, "dumps", (str(release), "index", as_json, root),
                                          lambda: _index(release, base, root, as_json))


@router.api_route("/dumps/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def dump_file(request: Request, name: str) -> Response:
    """One dump file; only names listed in the index are served, so no path can leave the folder."""
    listing = await _listing(request)
    if isinstance(listing, Response):
        return listing
    files = {f.file: f for f in listing}
    folder = release_of(request).resolve() / DUMPS_DIR
    if name in files:
        entry = files[name]
        return file_response(request, folder / name, entry.served_type, etag=f'"{entry.sha256}"',
                             cache_control="public, max-age=86400")
    if name in (INDEX_FILE, CHECKSUMS_FILE):
        media_type = "application/json" if name == INDEX_FILE else "text/plain; charset=utf-8"
        return file_response(request, folder / name, media_type)
    return not_found(request, f"/dumps/{name}")


VOID_FORMATS = tuple(BY_NAME[name] for name in ("turtle", "jsonld", "ntriples", "rdfxml"))


def _void(release: Path, base: str, fmt: RdfFormat) -> Rendered:
    """The live VoID in one format (run in a render thread)."""
    files = [f for f in ensure_dumps(release) if f.graph != VOID_GRAPH]  # as in void.ttl itself
    return Rendered(void_document(release, files, base, fmt), fmt.media_type, headers=(
        ("Vary", "Accept"), ("Cache-Control", "public, max-age=300"), ("X-Content-Type-Options", "nosniff")))


@router.api_route("/.well-known/void", methods=["GET", "HEAD"], include_in_schema=False)
@router.api_route("/void", methods=["GET", "HEAD"], include_in_schema=False)
async def void_description(request: Request) -> Response:
    """The dataset's VoID/DCAT description: Turtle unless Accept (or ``?format=``) asks otherwise.

    Its access URLs (endpoint, downloads) are built on the ``public_url`` setting, never on the
    request's ``Host``: the description is the same for every client, and rendered once per release.
    """
    fmt = BY_NAME.get(request.query_params.get("format", "")) or \
        negotiate_rdf(request.headers.get("accept"), VOID_FORMATS) or VOID_FORMATS[0]
    if fmt not in VOID_FORMATS:
        fmt = VOID_FORMATS[0]
    release, base = release_of(request).resolve(), public_base(request)
    return await gate_of(request).respond(request, "void", (str(release), "void", fmt.name),
                                          lambda: _void(release, base, fmt))
