"""``/dumps/`` and ``/.well-known/void``: the release's dump files and VoID over HTTP."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from mildip_ld.release import void
from mildip_ld.release.dumps import (
    CHECKSUMS_FILE,
    DUMPS_DIR,
    INDEX_FILE,
    VOID_GRAPH,
    ensure_dumps,
    void_document,
)
from mildip_ld.release.void import DumpFile
from mildip_ld.server.files import file_response
from mildip_ld.server.render_gate import Rendered, RenderRefusedError
from mildip_ld.site.web import (
    VOID_PAGE,
    gate_of,
    not_found,
    page,
    prefers_html,
    public_base,
    release_of,
    root_path,
    wants_json,
)
from mildip_ld.vocab.formats import BY_NAME, FORMATS, RdfFormat, negotiate_rdf

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
    if "format" not in request.query_params and \
            prefers_html(request.headers.get("accept"), [fmt.media_type for fmt in VOID_FORMATS]):
        return RedirectResponse(root_path(request) + VOID_PAGE, status_code=303, headers={"Vary": "Accept"})
    fmt = BY_NAME.get(request.query_params.get("format", "")) or \
        negotiate_rdf(request.headers.get("accept"), VOID_FORMATS) or VOID_FORMATS[0]
    if fmt not in VOID_FORMATS:
        fmt = VOID_FORMATS[0]
    release, base = release_of(request).resolve(), public_base(request)
    return await gate_of(request).respond(request, "void", (str(release), "void", fmt.name),
                                          lambda: _void(release, base, fmt))
