"""The query page (``/``: Yasgui, vendored), the example queries (``/queries/``) and static assets.

Everything the page needs is served from this server (``/static/``): it works with no internet.
The page and the list read the queries folder, so they are rendered through the render gate (kept
per release); files are served from the event loop (a path check and a ``stat``).
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mildip_ld.server.files import file_response
from mildip_ld.server.render_gate import Rendered
from mildip_ld.site.web import (
    STATIC_DIR,
    contained,
    gate_of,
    not_found,
    page,
    release_of,
    root_path,
    wants_json,
)
from mildip_ld.vocab.queries import NamedQuery, named_queries

router = APIRouter()

SPARQL_QUERY_TYPE = "application/sparql-query"
RESULT_DOWNLOADS = (("SPARQL JSON", "json"), ("SPARQL XML", "xml"), ("CSV", "csv"), ("TSV", "tsv"))
GRAPH_DOWNLOADS = (
    ("Turtle", "turtle"),
    ("N-Triples", "ntriples"),
    ("JSON-LD", "jsonld"),
    ("RDF/XML", "rdfxml"),
)
"""``format`` values of ``/sparql`` offered as download links (see :mod:`mildip_ld.vocab.conneg`)."""


def queries_folder(request: Request) -> Path:
    """The folder of example queries (the ``queries_dir`` setting)."""
    return request.app.state.settings.queries_dir


def _examples(folder: Path, root: str) -> list[dict[str, str]]:
    """The example queries of ``folder`` as the page and the list show them."""
    queries: list[NamedQuery] = named_queries(folder) if folder.is_dir() else []
    return [
        {
            "name": query.name,
            "question": query.question,
            "text": query.text,
            "url": f"{root}/queries/{query.name}.rq",
        }
        for query in queries
    ]


def _query_page(folder: Path, root: str) -> Rendered:
    examples = _examples(folder, root)
    config = {
        "endpoint": f"{root}/sparql",
        "examples": examples,
        "resultDownloads": RESULT_DOWNLOADS,
        "graphDownloads": GRAPH_DOWNLOADS,
    }
    return page("query.html", {"config": config, "examples": examples}, root)


def _query_list(folder: Path, root: str, as_json: bool) -> Rendered:
    examples = _examples(folder, root)
    if as_json:
        body = json.dumps(examples, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return Rendered(body, "application/json", headers=(("Vary", "Accept"),))
    return page("queries.html", {"examples": examples}, root, headers={"Vary": "Accept"})


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def query_page(request: Request) -> Response:
    """The SPARQL query page: editor, example queries, results table, downloads, shareable link."""
    folder, root = queries_folder(request), root_path(request)
    return await gate_of(request).respond(
        request, "query_page", (str(release_of(request)), "/", root), lambda: _query_page(folder, root)
    )


@router.api_route("/queries/", methods=["GET", "HEAD"], include_in_schema=False)
async def query_list(request: Request) -> Response:
    """The example queries: HTML list for browsers, JSON (``Accept`` or ``?format=json``) for programs."""
    folder, root, as_json = queries_folder(request), root_path(request), wants_json(request)
    return await gate_of(request).respond(
        request,
        "query_page",
        (str(release_of(request)), "/queries/", as_json, root),
        lambda: _query_list(folder, root, as_json),
    )


@router.api_route("/queries/{name}.rq", methods=["GET", "HEAD"], include_in_schema=False)
async def query_file(request: Request, name: str) -> Response:
    """One example query's SPARQL text."""
    found = contained(queries_folder(request), f"{name}.rq")
    if found is None or "/" in name:
        return not_found(request, f"/queries/{name}.rq")
    return file_response(request, found, f"{SPARQL_QUERY_TYPE}; charset=utf-8", cache_control="no-cache")


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def static(request: Request, path: str) -> Response:
    """The page's own assets (Yasgui, style sheet, scripts); nothing outside ``static/``."""
    found = contained(STATIC_DIR, path)
    if found is None:
        return not_found(request, f"/static/{path}")
    return file_response(request, found, cache_control="public, max-age=3600")
