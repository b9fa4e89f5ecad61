"""Fuzzing the page routes: every route of the application (pages, dumps, VoID, static files,
explanations, the endpoint's own), with arbitrary percent-encoded bytes in its path parameters and
its query string and arbitrary Accept headers, over HTTP to a real server.

The schema-driven fuzzing of :mod:`tests.test_fuzz` never reaches these routes (they are not in
the OpenAPI description). The server may refuse anything with a 4xx naming what is wrong, or be
busy (503 with ``Retry-After``), but never answer 500; every refusal has a readable body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute

from mildip_ld.release.build import BuildReport
from mildip_ld.site.app import create_app
from mildip_ld.vocab.settings import Settings
from tests.live_server import LiveServer, build_dir_of, live_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.server

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")


def _templates(routes: list[BaseRoute]) -> Iterator[str]:
    """The path templates of ``routes``, those of included routers too."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            yield from _templates(included.routes)
        elif isinstance(getattr(route, "path", None), str):
            yield route.path


@pytest.fixture(scope="module")
def templates(built: BuildReport) -> list[str]:
    """Every path template of the application, e.g. ``/doc/{path:path}``."""
    found = sorted(set(_templates(create_app(Settings(build_dir=build_dir_of(built))).routes)))
    for expected in (
        "/id/{path:path}",
        "/doc/{path:path}",
        "/ontology/{version}",
        "/static/{path:path}",
        "/graph/{name}",
        "/explain",
        "/void",
        "/dumps/{name}",
        "/store",
        "/sparql",
    ):
        assert expected in found, (expected, found)  # the walk above found the routes
    return found


SAMPLES = [
    "russia",
    "russia.html",
    "russia.ttl",
    "passage/military-diplomacy-in-russia/l1-s1",
    "asserted",
    "0.1.0",
    "yasgui/yasgui.min.js",
    "dataset.nq",
    "index.json",
    "..",
    ".",
    "",
    "a b",
    "%",
    "é",
    "<>",
    "\\",
    "#",
    "?",
    "\0",
    "\ufffd",
    "\U0001f600",
    "x" * 300,
]
ALPHABET = st.characters(codec="utf-8", exclude_categories=["Cs"])
"""Code points a path segment may spell (each is sent percent-encoded as UTF-8)."""
encoded_text = st.one_of(st.sampled_from(SAMPLES), st.text(ALPHABET, max_size=40)).map(
    lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")
)
raw_bytes = st.binary(max_size=40).map(lambda data: "".join(f"%{byte:02X}" for byte in data))
"""Any bytes, invalid UTF-8 and NUL included, percent-encoded."""
segment = st.one_of(encoded_text, raw_bytes, st.sampled_from(["%2e%2e", "%2F", "..", "%2e", "%"]))
MEDIA = [
    "text/html",
    "text/turtle",
    "application/ld+json",
    "application/n-triples",
    "application/trig",
    "application/json",
    "*/*",
    "image/png",
    "",
    "text/html;q=0",
    "text/*;q=0.5, */*;q=0.1",
    ";;;,,,",
    "application/rdf+xml;q=x",
]
accept = st.one_of(
    st.sampled_from(MEDIA),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip),
)
KEYS = ["format", "s", "p", "o", "graph", "default", "query", "x"]


@st.composite
def targets(draw: st.DrawFn, templates: list[str]) -> str:
    """A path from a route template, its parameters filled with arbitrary encoded bytes (several
    segments for ``:path`` parameters), maybe more segments after it, and a query string."""
    template = draw(st.sampled_from(templates))

    def fill(match: re.Match[str]) -> str:
        if match.group(2) == "path":
            return "/".join(draw(st.lists(segment, min_size=1, max_size=4)))
        return draw(segment)

    path = PARAMETER.sub(fill, template)
    if draw(st.integers(0, 4)) == 0:
        path += "/" + draw(segment)
    pairs = draw(st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), segment), segment), max_size=4))
    query = "&".join(f"{key}={value}" for key, value in pairs)
    return path + ("?" + query if query else "")


def assert_sound(answer: httpx.Response, target: str) -> None:
    """Never a 500 (a 503 only for a limit, with Retry-After); a refusal says what is wrong."""
    busy = answer.status_code == 503 and "retry-after" in answer.headers
    assert answer.status_code < 500 or busy, (target, answer.status_code, answer.text[:300])
    if answer.status_code >= 400 and answer.request.method != "HEAD":
        text = answer.content.decode("utf-8")  # readable: UTF-8 text...
        assert text.strip(), (target, answer.status_code)  # ...that says something


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Iterator[httpx.Client]:  # noqa: F811 (fixture)
    with httpx.Client(base_url=live_server.url, timeout=30) as session:
        yield session


def test_page_routes_never_fail(client: httpx.Client, templates: list[str]) -> None:
    @FUZZ
    @given(target=targets(templates), method=st.sampled_from(["GET", "GET", "HEAD"]), media=accept)
    def check(target: str, method: str, media: str) -> None:
        answer = client.request(method, target, headers={"Accept": media})
        assert_sound(answer, target)

    check()


@pytest.mark.parametrize(
    "path",
    [
        "/id/a%20b",
        "/id/%00",
        "/id/%ff",
        "/ontology/a%20b",
        "/static/%00",
        "/doc/%ff.html",
        "/doc/a%7Bb.ttl",
        "/doc/russia.%00",
        "/queries/%00.rq",
        "/static/" + "a" * 5000,
        "/ontology/%ff",
    ],
)
def test_the_paths_the_attacker_found(client: httpx.Client, path: str) -> None:
    """The reported 500s: each is now a 4xx that names the problem."""
    answer = client.get(path, headers={"Accept": "text/plain"})
    assert answer.status_code in (400, 404), (path, answer.status_code, answer.text)
    assert answer.text.startswith(("not found: ", "the path is not UTF-8 text")), answer.text
