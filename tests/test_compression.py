"""gzip for every compressible answer of the served app, after the render gate's replays and the
response cache: a client that accepts gzip gets it, one that does not gets the same bytes plain,
whichever came first (both caches keep uncompressed answers); compressed files are left alone."""

from __future__ import annotations

import gzip
import hashlib
from urllib.parse import quote

import pytest
import requests

from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)

QUERY = quote("SELECT * WHERE { ?s ?p ?o } LIMIT 200")
PATHS = [
    "/",
    "/doc/russia.html",
    "/doc/russia.ttl",
    f"/sparql?query={QUERY}",
    "/search?q=russia&format=json",
    "/static/yasgui/yasgui.min.js",
    "/void",
    "/browse/actors",
    "/read/military-diplomacy-in-russia",
    "/ontology.html",
]


def raw(server: LiveServer, path: str, encoding: str | None) -> requests.Response:
    headers = {"Accept-Encoding": encoding or "identity"}
    answer = requests.get(server.url + path, headers=headers, stream=True, timeout=60)
    answer.raw.decode_content = False
    answer._content = answer.raw.read()  # the bytes as sent
    return answer


@pytest.mark.parametrize("path", PATHS)
def test_compressible_answers_are_gzipped_and_the_same_plain(live_server: LiveServer, path: str):
    for order in (("gzip", None), (None, "gzip")):  # either may come first and fill the caches
        answers = {encoding: raw(live_server, path, encoding) for encoding in order}
        packed, plain = answers["gzip"], answers[None]
        assert packed.status_code == plain.status_code == 200
        assert packed.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in packed.headers["vary"].lower()
        assert "content-encoding" not in plain.headers
        assert gzip.decompress(packed.content) == plain.content
        assert len(packed.content) < len(plain.content)
        if "content-length" in packed.headers:  # absent when streamed (files, chunked)
            assert int(packed.headers["content-length"]) == len(packed.content)


def test_dump_files_are_sent_as_they_are(live_server: LiveServer):
    """A dump is sent byte for byte (its checksum is published; a .gz twin is there to download);
    the listing of the dumps is compressed like any page."""
    listing = requests.get(f"{live_server.url}/dumps/?format=json", timeout=120).json()
    for suffix in (".gz", ".ttl"):
        entry = next(entry for entry in listing["files"] if entry["file"].endswith(suffix))
        answer = raw(live_server, f"/dumps/{entry['file']}", "gzip")
        assert answer.status_code == 200 and "content-encoding" not in answer.headers
        assert hashlib.sha256(answer.content).hexdigest() == entry["sha256"]
    assert raw(live_server, "/dumps/", "gzip").headers["content-encoding"] == "gzip"
