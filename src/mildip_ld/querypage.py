"""The query page (``/``: Yasgui, vendored), the example queries (``/queries/``) and static assets.

Everything the page needs is served from this server (``/static/``): it works with no internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .config import DEFAULT_PATHS
from .queries import NamedQuery, named_queries
from .web import STATIC_DIR, contained, file_response, not_found, render, root_path, wants_json

router = APIRouter()

SPARQL_QUERY_TYPE = "application/sparql-query"
RESULT_DOWNLOADS = (("SPARQL JSON", "json"), ("SPARQL XML", "xml"), ("CSV", "csv"), ("TSV", "tsv"))
GRAPH_DOWNLOADS = (("Turtle", "turtle"), ("N-Triples", "ntriples"), ("JSON-LD", "jsonld"),
                   ("RDF/XML", "rdfxml"))
"""``format`` values of ``/sparql`` offered as download links (see :mod:`mildip_ld.conneg`)."""


def queries_folder(request: Request) -> Path:
    """The folder of example queries: ``app.state.queries_dir`` if set, else the project's queries/."""
    return Path(getattr(request.app.state, "queries_dir", None) or DEFAULT_PATHS.queries)


def _examples(request: Request) -> list[NamedQuery]:
    folder = queries_folder(request)
    return named_queries(folder) if folder.is_dir() else []


def _entry(request: Request, query: NamedQuery) -> dict[str, str]:
    return {"name": query.name, "question": query.question, "text": query.text,
            "url": f"{root_path(request)}/queries/{query.name}.rq"}


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
def query_page(request: Request) -> Response:
    """The SPARQL query page: editor, example queries, results table, downloads, shareable link."""
    examples = [_entry(request, query) for query in _examples(request)]
    config = {"endpoint": f"{root_path(request)}/sparql", "examples": examples,
              "resultDownloads": RESULT_DOWNLOADS, "graphDownloads": GRAPH_DOWNLOADS}
    return render(request, "query.html", {"config": config, "examples": examples})


@router.api_route("/queries/", methods=["GET", "HEAD"], include_in_schema=False)
def query_list(request: Request) -> Response:
    """The example queries: HTML list for browsers, JSON (``Accept`` or ``?format=json``) for programs."""
    examples = [_entry(request, query) for query in _examples(request)]
    if wants_json(request):
        return JSONResponse(examples, headers={"Vary": "Accept"})
    return render(request, "queries.html", {"examples": examples}, headers={"Vary": "Accept"})


@router.api_route("/queries/{name}.rq", methods=["GET", "HEAD"], include_in_schema=False)
def query_file(request: Request, name: str) -> Response:
    """One example query's SPARQL text."""
    found = contained(queries_folder(request), f"{name}.rq")
    if found is None or "/" in name:
        return not_found(request, f"/queries/{name}.rq")
    return file_response(request, found, f"{SPARQL_QUERY_TYPE}; charset=utf-8", cache_control="no-cache")


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def static(request: Request, path: str) -> Response:
    """The page's own assets (Yasgui, style sheet, scripts); nothing outside ``static/``."""
    found = contained(STATIC_DIR, path)
    if found is None:
        return not_found(request, f"/static/{path}")
    return file_response(request, found, cache_control="public, max-age=3600")
