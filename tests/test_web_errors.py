"""Browsers get pages, API clients data: VoID as a page in a browser (Turtle for everyone else),
HTML error pages for browsers and JSON for API clients."""

from __future__ import annotations

import re

import pytest
import requests
from rdflib import Graph

from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_is_sent_to_the_void_page(live_server: LiveServer):
    for path in ("/void", "/.well-known/void"):
        first = requests.get(live_server.url + path, headers=BROWSER, allow_redirects=False, timeout=60)
        assert first.status_code == 303 and first.headers["location"] == "/void.html"
        assert "accept" in first.headers["vary"].lower()
    page = requests.get(f"{live_server.url}/void.html", headers=BROWSER, timeout=60)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    turtle = requests.get(f"{live_server.url}/void", headers={"Accept": "text/turtle"}, timeout=60)
    graph = Graph().parse(data=turtle.text, format="turtle")
    assert f"{len(graph)} statements" in page.text  # the same description
    assert "void:propertyPartition" in page.text and "dcat:downloadURL" in page.text


@pytest.mark.parametrize("accept", [None, "*/*", "text/turtle", "application/json, */*;q=0.1"])
def test_other_clients_keep_getting_rdf(live_server: LiveServer, accept: str | None):
    headers = {"Accept": accept} if accept else {}
    answer = requests.get(f"{live_server.url}/void", headers=headers, allow_redirects=False, timeout=60)
    assert answer.status_code == 200 and not answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "method, path, status",
    [("DELETE", "/read/", 405), ("GET", "/no/such/page", 404), ("POST", "/browse/", 405)],
)
def test_errors_are_pages_for_browsers_and_json_for_api_clients(
    live_server: LiveServer, method: str, path: str, status: int
):
    page = requests.request(method, live_server.url + path, headers=BROWSER, timeout=60)
    assert page.status_code == status and page.headers["content-type"].startswith("text/html")
    assert re.search(rf"<h1>{status} [A-Z]", page.text) and 'role="search"' in page.text
    assert page.headers["content-security-policy"]
    for headers in ({}, {"Accept": "application/json"}, {"Accept": "*/*"}):
        data = requests.request(method, live_server.url + path, headers=headers, timeout=60)
        assert data.status_code == status and data.headers["content-type"] == "application/json"
        assert data.json()["detail"]
