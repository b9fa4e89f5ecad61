"""Full-text search: the release's FTS5 index (built with the release) and ``/search``: entities
by label and alternative label, passages by their words, ranked, with the matched words marked;
search text never read as FTS5 syntax; HTML for browsers and JSON for programs."""

from __future__ import annotations

import re
import sqlite3

import requests
from rdflib import Literal
from rdflib.namespace import SKOS

from mildip_ld.release.build import BuildReport
from mildip_ld.release.search_index import (
    INDEX_FILE,
    search,
)
from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_every_release_has_its_index(built: BuildReport):
    index = built.release / INDEX_FILE
    with sqlite3.connect(index) as connection:
        kinds = dict(connection.execute("SELECT kind, count(*) FROM entries GROUP BY kind").fetchall())
    assert kinds["passage"] >= 100 and kinds["entity"] >= 100


def test_an_entity_is_found_by_its_label_first(built: BuildReport):
    hits, total = search(built.release, "Syria")
    assert total >= 2
    assert hits[0].iri.endswith("/id/syria") and hits[0].kind == "entity"
    assert [text for text, matched in hits[0].segments if matched] == ["Syria"]


def test_an_entity_is_found_by_its_alternative_label(built: BuildReport, dataset):
    alternatives = sorted(
        (str(s), str(o))
        for s, _, o, _ in dataset.quads((None, SKOS.altLabel, None, None))
        if isinstance(o, Literal) and re.fullmatch(r"[A-Z]{3,6}", str(o))
    )
    assert alternatives, "the data has acronyms as alternative labels (CSTO, NATO...)"
    subject, acronym = alternatives[0]
    hits, _ = search(built.release, acronym)
    assert subject in [hit.iri for hit in hits]
    found = next(hit for hit in hits if hit.iri == subject)
    assert acronym in [text for text, matched in found.segments if matched]


def test_passages_are_found_by_their_words_with_the_words_marked(built: BuildReport):
    hits, _ = search(built.release, "Warsaw Pact")
    passages = [hit for hit in hits if hit.kind == "passage"]
    assert passages and passages[0].line is not None
    marked = [text.lower() for text, matched in passages[0].segments if matched]
    assert "warsaw" in marked and "pact" in marked
    assert "Warsaw Pact" in "".join(text for text, _ in passages[0].segments)


def test_the_last_word_is_also_a_prefix(built: BuildReport):
    assert search(built.release, "milit")[1] > 0
    assert search(built.release, "militaryx")[1] == 0


def test_ranking_puts_more_matched_words_first(built: BuildReport):
    hits, _ = search(built.release, "joint exercises")
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


# --- /search on a live server -------------------------------------------------------------------------


def test_search_page_links_each_result_and_marks_the_words(live_server: LiveServer):
    answer = requests.get(f"{live_server.url}/search", params={"q": "Syria"}, headers=HTML, timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert '<a class="hit-title" href="/id/syria">Syria</a>' in answer.text
    assert "<mark>Syria</mark>" in answer.text


def test_search_as_json(live_server: LiveServer):
    answer = requests.get(
        f"{live_server.url}/search",
        params={"q": "Warsaw"},
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    found = answer.json()
    assert found["total"] == len(found["results"]) >= 1
    first = found["results"][0]
    assert first["href"].startswith("/id/") and "Warsaw" in first["matched"] and "Warsaw" in first["text"]
    follow = requests.get(live_server.url + first["href"], headers=HTML, timeout=30)
    assert follow.status_code == 200  # 303 followed to the page


def test_every_page_has_the_search_box(live_server: LiveServer):
    for path in ("/", "/doc/russia.html", "/ontology.html", "/queries/", "/search"):
        answer = requests.get(live_server.url + path, headers=HTML, timeout=30)
        assert answer.status_code == 200, path
        assert 'role="search" action="/search"' in answer.text, path
