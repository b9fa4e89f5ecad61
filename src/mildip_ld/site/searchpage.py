"""``GET /search?q=…``: entities by label and alternative label, passages by their words, ranked,
from the release's full-text index (:mod:`mildip_ld.release.search_index`); HTML for browsers, JSON for
programs (``Accept: application/json`` or ``?format=json``). Each result links to its page and
shows the matching text with the matched words marked.

Answers go through the render gate, kept per release, search text, page and representation. A
text the index does not run (over 200 characters or 12 words) or a bad ``page`` is a ``400``
naming the limit. A release built before search existed gets its index built on first use.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mildip_ld.release.search_index import INDEX_FILE, SearchError, build_search_index, search
from mildip_ld.server.render_gate import Rendered, answer
from mildip_ld.site.describe import local_path
from mildip_ld.site.web import gate_of, page, release_of, root_path, wants_json

router = APIRouter()
PAGE_SIZE = 20
MAX_PAGE = 50


def _refusal(message: str, as_json: bool, root: str, text: str) -> Rendered:
    if as_json:
        body = json.dumps({"error": message}, ensure_ascii=False).encode("utf-8")
        return Rendered(body, "application/json", 400, (("Vary", "Accept"),))
    return page(
        "search.html",
        {"q": text, "error": message, "hits": [], "total": 0},
        root,
        status=400,
        headers={"Vary": "Accept"},
    )


def _search_answer(release: Path, text: str, number: int, as_json: bool, root: str) -> Rendered:
    """The results page (or JSON) of ``text``, page ``number`` (run in a render thread)."""
    if not (release / INDEX_FILE).is_file():
        build_search_index(release)
    try:
        hits, total = search(release, text, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    except SearchError as refused:
        return _refusal(str(refused), as_json, root, text)
    results = [{**hit.as_dict(), "href": root + (local_path(hit.iri) or hit.iri)} for hit in hits]
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    if as_json:
        body = json.dumps(
            {"query": text, "total": total, "page": number, "pages": pages, "results": results},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        return Rendered(body, "application/json", headers=(("Vary", "Accept"),))
    shown = [(hit, result["href"]) for hit, result in zip(hits, results, strict=True)]
    return page(
        "search.html",
        {
            "q": text,
            "hits": shown,
            "total": total,
            "page": number,
            "pages": min(pages, MAX_PAGE),
            "error": None,
        },
        root,
        headers={"Vary": "Accept"},
    )


@router.api_route("/search", methods=["GET", "HEAD"], include_in_schema=False)
async def search_page(request: Request) -> Response:
    """Search entities and passages: ``q`` (words; the last one also as a prefix), ``page`` (1-50)."""
    text, as_json, root = request.query_params.get("q", ""), wants_json(request), root_path(request)
    raw_page = request.query_params.get("page", "1")
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        rendered = _refusal(
            f"page must be a whole number from 1 to {MAX_PAGE}, not {raw_page[:20]!r}", as_json, root, text
        )
        return answer(request, rendered)
    release = release_of(request).resolve()
    number = int(raw_page)
    key = (str(release), "search", text, number, as_json, root)
    return await gate_of(request).respond(
        request, "search", key, lambda: _search_answer(release, text, number, as_json, root)
    )
