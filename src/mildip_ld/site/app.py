"""The ASGI application: the SPARQL endpoint, the Graph Store, the dumps and the pages on one server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from mildip_ld.server import graph_store
from mildip_ld.server.endpoint import OWN_PATHS, Endpoint, _slash_twin, _text, resolve_release
from mildip_ld.server.errorlog import OneLineErrorsMiddleware
from mildip_ld.server.metrics import Metrics, MetricsMiddleware, forget_this_process
from mildip_ld.server.render_gate import ReplayMiddleware
from mildip_ld.server.response_cache import ResponseCacheMiddleware
from mildip_ld.server.security import SecurityHeadersMiddleware
from mildip_ld.site import dumppages, pages
from mildip_ld.site.web import TextPathMiddleware, compressed, error_page
from mildip_ld.vocab.settings import EMBEDDED_STORE, Settings


async def _plain_errors(request: Request, failure: Exception) -> Response:
    """Readable text errors (405, 404...) on this module's routes; elsewhere an HTML page for a
    browser, the default JSON for other clients. A path that names a route but for a trailing
    slash is redirected there (:func:`_slash_twin`)."""
    assert isinstance(failure, StarletteHTTPException)
    if failure.status_code == 404 and (twin := _slash_twin(request)) is not None:
        return RedirectResponse(twin, status_code=307)
    headers = dict(failure.headers) if failure.headers else None
    if request.url.path.startswith(OWN_PATHS):
        return _text(failure.status_code, str(failure.detail), headers)
    return error_page(
        request, failure.status_code, str(failure.detail), headers
    ) or await http_exception_handler(request, failure)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI application serving the release chosen by ``settings`` (environment by default)."""
    settings = settings or Settings()
    if settings.updates_enabled and settings.store != EMBEDDED_STORE:
        raise ValueError(
            "writes publish new releases into the build folder: serve the build's current "
            "release (store 'oxigraph'), not a release folder, when an update token is set"
        )
    release = resolve_release(settings)
    metrics = Metrics()
    endpoint = Endpoint(settings, release, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await endpoint.start()
            yield
        finally:
            await endpoint.close()
            forget_this_process()

    # no /docs or /redoc: they load scripts from a CDN, which the pages' policy (and offline use)
    # forbids; the OpenAPI description stays at /openapi.json
    app = FastAPI(
        title="mildip-ld",
        summary="Linked data on military diplomacy: SPARQL endpoint",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.settings, app.state.release, app.state.endpoint = settings, release, endpoint
    app.state.gate = endpoint.gate
    endpoint.on_release = lambda new: setattr(app.state, "release", new)
    app.add_middleware(TextPathMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_headers=["*"],
        max_age=3600,
        allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE"],
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_exception_handler(StarletteHTTPException, _plain_errors)
    app.include_router(endpoint.router())
    app.include_router(graph_store.router(endpoint))
    app.include_router(dumppages.router)
    app.include_router(pages.router)
    return app


class ReleaseFollowMiddleware:
    """Before every HTTP request, move to the build's ``current`` release if it changed."""

    def __init__(self, app: ASGIApp, endpoint: Endpoint) -> None:
        self.app, self.endpoint = app, endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.endpoint.current_moved():
            await self.endpoint.follow_current()
        await self.app(scope, receive, send)


def serving_app(settings: Settings | None = None) -> ASGIApp:
    """What ``mildip serve`` runs: :func:`create_app` behind the render gate's replays,
    gzip-compressed (:func:`~mildip_ld.site.web.compressed`), behind the response cache (when it is
    on: a hit is the answer as sent, compressed or not, at the cost of a lookup), following the
    build's ``current`` release when it serves the embedded store, with every failure that escapes
    them logged as one line (:mod:`mildip_ld.server.errorlog`)."""
    fastapi_app = create_app(settings)
    endpoint: Endpoint = fastapi_app.state.endpoint
    release = lambda: endpoint.release.name  # noqa: E731 (read at every request)
    app: ASGIApp = compressed(ReplayMiddleware(fastapi_app, endpoint.gate, release, endpoint.metrics))
    if endpoint.cache is not None:
        app = ResponseCacheMiddleware(app, endpoint.cache, release, endpoint.metrics)
    if endpoint.settings.store == EMBEDDED_STORE:
        app = ReleaseFollowMiddleware(app, endpoint)
    return OneLineErrorsMiddleware(app)


def app_from_env() -> ASGIApp:
    """Factory for ``uvicorn --factory mildip_ld.site.app:app_from_env``: the settings ``mildip serve``
    handed over (:meth:`~mildip_ld.vocab.settings.Settings.inherited`), else from MILDIP_*."""
    return serving_app(Settings.inherited())
