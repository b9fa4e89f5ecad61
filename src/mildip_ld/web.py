"""HTTP helpers shared by the dumps, VoID and page routers: the served release and its store,
HTML rendering with security headers, and conditional (ETag / Last-Modified) file responses."""

from __future__ import annotations

import functools
import mimetypes
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import pyoxigraph as ox
from fastapi import Request
from fastapi.responses import FileResponse, PlainTextResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from .formats import HTML, negotiate
from .render_gate import Rendered, RenderGate, answer, if_none_match
from .security import SECURITY_HEADERS
from .store import open_store

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


def _local(url: str | None, root: str) -> str | None:
    """Template filter: prefix this server's own paths with the app's mount point."""
    return root + url if url and url.startswith("/") else url


templates.env.filters["local"] = _local


def release_of(request: Request) -> Path:
    """The release folder this app serves (set by the app factory on ``app.state.release``)."""
    return Path(request.app.state.release)


@functools.lru_cache(maxsize=4)
def store_for(release: Path) -> ox.Store:
    """A release's read-only store, opened once per release and process."""
    return open_store(release)


def store_of(request: Request) -> ox.Store:
    """The served release's read-only store."""
    return store_for(release_of(request).resolve())


def root_path(request: Request) -> str:
    """The path prefix the app is mounted under (empty at the root), for links in pages."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def gate_of(request: Request) -> RenderGate:
    """The app's render gate (:mod:`mildip_ld.render_gate`), which every expensive answer goes through."""
    return request.app.state.gate


def public_base(request: Request) -> str:
    """The ``public_url`` setting, ending in ``/``: the base of the URLs VoID and the dumps listing
    give, the same whatever ``Host`` a request names."""
    return request.app.state.settings.public_url


def page(template: str, context: dict[str, Any], root: str, status: int = 200,
         headers: dict[str, str] | None = None) -> Rendered:
    """Render a Jinja2 template (in a render thread) as an HTML answer with the security headers."""
    body = templates.get_template(template).render({"root": root, **context}).encode("utf-8")
    return Rendered(body, "text/html; charset=utf-8", status,
                    tuple({**SECURITY_HEADERS, **(headers or {})}.items()))


def wants_json(request: Request) -> bool:
    """Whether a listing page should answer JSON (``?format=json`` or Accept) rather than HTML."""
    if request.query_params.get("format") == "json":
        return True
    return negotiate(request.headers.get("accept"), [HTML, "application/json"]) == "application/json"


def wants_html(request: Request) -> bool:
    """Whether an error is answered with an HTML page (browsers) rather than plain text."""
    return negotiate(request.headers.get("accept"), [HTML, "text/plain"]) == HTML


def not_found_page(html: bool, root: str, what: str, why: str | None = None) -> Rendered:
    """404: an HTML page (``html``) or plain text; ``why`` says why nothing can have that name (an
    IRI the path would make is not a valid IRI, say)."""
    if html:
        return page("notfound.html", {"what": what, "why": why}, root, status=404)
    reason = f" ({why})" if why else ""
    return Rendered(f"not found: {what}{reason}\n".encode(), "text/plain; charset=utf-8", 404,
                    tuple(SECURITY_HEADERS.items()))


def not_found(request: Request, what: str, why: str | None = None) -> Response:
    """:func:`not_found_page` for ``request`` (a small page, rendered on the event loop)."""
    return answer(request, not_found_page(wants_html(request), root_path(request), what, why))


def invalid_iri(text: str) -> str | None:
    """Why ``text`` is not an absolute IRI (in the words of Oxigraph's RFC 3987 parser), or None
    when it is one. A path under ``/id/`` names the IRI ``RESOURCE_BASE + path``; one that makes no
    valid IRI (a space, a NUL, a ``<``) names nothing this server could have minted."""
    try:
        ox.NamedNode(text)
    except ValueError as failure:
        return f"not a valid IRI: {failure}"
    return None


def _not_modified(request: Request, etag: str, modified: float) -> bool:
    """RFC 9110 conditional GET: If-None-Match wins over If-Modified-Since."""
    matched = if_none_match(request, etag)
    if matched is not None:
        return matched
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            return int(modified) <= parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def file_response(request: Request, path: Path, media_type: str | None = None, etag: str | None = None,
                  cache_control: str = "public, max-age=300",
                  headers: dict[str, str] | None = None) -> Response:
    """Serve a file with a strong ETag and Last-Modified; 304 Not Modified when the client has it.

    ``etag`` defaults to one derived from the file's size and modification time; pass a content
    hash (as the dumps do) for an ETag that survives a copy of the file.
    """
    stat = path.stat()
    etag = etag or f'"{stat.st_size:x}-{int(stat.st_mtime_ns):x}"'
    common = {"ETag": etag, "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
              "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff", **(headers or {})}
    if _not_modified(request, etag, stat.st_mtime):
        return Response(status_code=304, headers=common)
    media_type = media_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers=common)


def contained(folder: Path, name: str) -> Path | None:
    """``folder/name`` if it is an existing file inside ``folder`` (no escape by .. or links).

    A name with a NUL byte names no file (POSIX paths cannot hold one); one the file system refuses
    to look up (longer than it allows, a loop of links) is not served either.
    """
    if "\0" in name:
        return None
    root = folder.resolve()
    try:
        candidate = (root / name).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            return candidate
    except OSError:
        return None
    return None


class TextPathMiddleware:
    """Refuses (400) a request whose path, once percent-decoded, is not UTF-8 text.

    ASGI servers decode such bytes into U+FFFD (``%ff`` and ``%fe`` become the same character), so
    no route could tell what was asked for; the raw path (``raw_path`` in the ASGI scope) still
    has the bytes, and is checked here before any route sees the request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path") if scope["type"] == "http" else None
        if raw_path is not None:
            try:
                unquote_to_bytes(raw_path).decode("utf-8")
            except UnicodeDecodeError as failure:
                byte = failure.object[failure.start]
                message = (f"the path is not UTF-8 text once percent-decoded: byte {byte:#04x} at "
                           f"{failure.start} ({failure.reason})\n")
                await PlainTextResponse(message, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)
