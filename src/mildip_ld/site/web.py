"""HTTP helpers shared by the dumps, VoID and page routers: the served release and its store,
HTML rendering with security headers, and conditional (ETag / Last-Modified) file responses."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import pyoxigraph as ox
from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mildip_ld.release.store import store_for
from mildip_ld.server.render_gate import Rendered, RenderGate, answer
from mildip_ld.server.security import SECURITY_HEADERS
from mildip_ld.vocab.formats import HTML, negotiate

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


def store_of(request: Request) -> ox.Store:
    """The served release's read-only store."""
    return store_for(release_of(request).resolve())


def root_path(request: Request) -> str:
    """The path prefix the app is mounted under (empty at the root), for links in pages."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def gate_of(request: Request) -> RenderGate:
    """The app's render gate (:mod:`mildip_ld.server.render_gate`), which every expensive answer
    goes through."""
    return request.app.state.gate


def public_base(request: Request) -> str:
    """The ``public_url`` setting, ending in ``/``: the base of the URLs VoID and the dumps listing
    give, the same whatever ``Host`` a request names."""
    return request.app.state.settings.public_url


def page(
    template: str,
    context: dict[str, Any],
    root: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Rendered:
    """Render a Jinja2 template (in a render thread) as an HTML answer with the security headers."""
    body = templates.get_template(template).render({"root": root, **context}).encode("utf-8")
    return Rendered(
        body, "text/html; charset=utf-8", status, tuple({**SECURITY_HEADERS, **(headers or {})}.items())
    )


def wants_json(request: Request) -> bool:
    """Whether a listing page should answer JSON (``?format=json`` or Accept) rather than HTML."""
    if request.query_params.get("format") == "json":
        return True
    return negotiate(request.headers.get("accept"), [HTML, "application/json"]) == "application/json"


VOID_PAGE = "/void.html"
"""The VoID description as a page (:mod:`mildip_ld.site.voidpage`)."""


def prefers_html(accept: str | None, offers: list[str]) -> bool:
    """Whether the Accept header puts HTML above every one of ``offers`` (a browser's does; ``*/*``
    or no Accept does not: the offers come first, so a tie goes to them)."""
    return negotiate(accept, [*offers, HTML]) == HTML


def wants_html(request: Request) -> bool:
    """Whether an error is answered with an HTML page (browsers) rather than plain text."""
    return negotiate(request.headers.get("accept"), [HTML, "text/plain"]) == HTML


def not_found_page(html: bool, root: str, what: str, why: str | None = None) -> Rendered:
    """404: an HTML page (``html``) or plain text; ``why`` says why nothing can have that name (an
    IRI the path would make is not a valid IRI, say)."""
    if html:
        return page("notfound.html", {"what": what, "why": why}, root, status=404)
    reason = f" ({why})" if why else ""
    return Rendered(
        f"not found: {what}{reason}\n".encode(),
        "text/plain; charset=utf-8",
        404,
        tuple(SECURITY_HEADERS.items()),
    )


def error_page(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response | None:
    """An HTML page for an HTTP error (404, 405...) when the client is a browser, else None (the
    caller answers JSON or text, as API clients expect)."""
    if not prefers_html(request.headers.get("accept"), ["application/json"]):
        return None
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    rendered = page(
        "error.html",
        {"status": status, "reason": reason, "detail": detail},
        root_path(request),
        status=status,
        headers=headers,
    )
    return answer(request, rendered)


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
                message = (
                    f"the path is not UTF-8 text once percent-decoded: byte {byte:#04x} at "
                    f"{failure.start} ({failure.reason})\n"
                )
                await PlainTextResponse(message, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


COMPRESS_MIN_BYTES = 500
COMPRESS_LEVEL = 6
"""zlib's default level: most of level 9's gain for a third of its time on a page."""
NOT_COMPRESSED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "image/png", "image/jpeg", "application/zip")
"""Media types already compressed (the ``.gz`` dumps among them: ``application/gzip``)."""


class _OwnHeaders:
    """Hands the middleware outside it a copy of each response start: GZipMiddleware edits the
    headers list it gets in place (Content-Encoding, Content-Length), and the render gate's replays
    and the response cache keep the list they sent, which must stay the uncompressed answer's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def copied(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", []))}
            await send(message)

        await self.app(scope, receive, copied)


class _Compressed:
    """gzip (:func:`compressed`) for every answer but the dump files: those are published with
    their checksums (their ETag is the file's SHA-256) and with a ``.gz`` twin, and are sent as
    the files are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(
            _OwnHeaders(app),
            minimum_size=COMPRESS_MIN_BYTES,
            compresslevel=COMPRESS_LEVEL,
            exclude_content_types=NOT_COMPRESSED,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        dump_file = path.startswith(DUMP_FILES) and len(path) > len(DUMP_FILES)
        await (self.app if dump_file else self.gzip)(scope, receive, send)


DUMP_FILES = "/dumps/"


def compressed(app: ASGIApp) -> ASGIApp:
    """``app`` with gzip for every compressible answer of :data:`COMPRESS_MIN_BYTES` or more to a client
    that accepts it (Starlette's GZipMiddleware, which adds ``Vary: Accept-Encoding``; it leaves an
    answer that has a ``Content-Encoding`` alone), the dump files excepted (:class:`_Compressed`).
    It goes outside the render gate's replays, which keep and replay uncompressed bytes, and
    inside the response cache, which keeps each answer as sent, keyed by ``Accept-Encoding``:
    every client gets what it accepts."""
    return _Compressed(app)
