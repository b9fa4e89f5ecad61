"""Full-text search: the release's FTS5 index (built with the release) and ``/search``: entities
by label and alternative label, passages by their words, ranked, with the matched words marked;
search text never read as FTS5 syntax; HTML for browsers and JSON for programs."""

from __future__ import annotations

import html
import re
import sqlite3

import pytest
import requests
from rdflib import Literal
from rdflib.namespace import SKOS

from mildip_ld.build import BuildReport
from mildip_ld.search_index import (
    INDEX_FILE,
    MAX_QUERY_CHARS,
    MAX_WORDS,
    SearchError,
    match_expression,
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
    alternatives = sorted((str(s), str(o)) for s, _, o, _ in dataset.quads((None, SKOS.altLabel, None, None))
                          if isinstance(o, Literal) and re.fullmatch(r"[A-Z]{3,6}", str(o)))
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


@pytest.mark.parametrize("text", ['"', 'NEAR(a b)', 'a OR b', 'label:russia', '*', '^russia', 'a AND',
                                  '(((', 'NOT russia', "russia' --", '"russia" OR "csto"'])
def test_fts5_syntax_in_the_text_is_only_words(built: BuildReport, text: str):
    """Every operator is either dropped (punctuation) or a plain word: the search runs, never fails,
    and finds what the words alone find."""
    hits, total = search(built.release, text)
    words = re.findall(r"[^\W_]+", text)
    if not words:
        assert (hits, total) == ([], 0)
    else:
        assert total == search(built.release, " ".join(words))[1]
    if text.startswith("label:"):  # not a column filter: 'label' is a word that must be there
        assert total == search(built.release, "label russia")[1]


def test_expression_quotes_every_word():
    assert match_expression("Russia, CSTO!") == '"Russia" AND ("CSTO" OR "CSTO"*)'
    assert match_expression("  ..  ") is None


def test_limits_are_refused_with_the_reason():
    with pytest.raises(SearchError, match="characters"):
        match_expression("a" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(SearchError, match="words"):
        match_expression(" ".join(["word"] * (MAX_WORDS + 1)))
    assert match_expression(" ".join(["word"] * MAX_WORDS)) is not None  # the limit itself is allowed


# --- /search on a live server -------------------------------------------------------------------------

def test_search_page_links_each_result_and_marks_the_words(live_server: LiveServer):
    answer = requests.get(f"{live_server.url}/search", params={"q": "Syria"}, headers=HTML, timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert '<a class="hit-title" href="/id/syria">Syria</a>' in answer.text
    assert "<mark>Syria</mark>" in answer.text


def test_search_as_json(live_server: LiveServer):
    answer = requests.get(f"{live_server.url}/search", params={"q": "Warsaw"},
                          headers={"Accept": "application/json"}, timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    found = answer.json()
    assert found["total"] == len(found["results"]) >= 1
    first = found["results"][0]
    assert first["href"].startswith("/id/") and "Warsaw" in first["matched"] and "Warsaw" in first["text"]
    follow = requests.get(live_server.url + first["href"], headers=HTML, timeout=30)
    assert follow.status_code == 200  # 303 followed to the page


def test_search_text_is_escaped_in_the_page(live_server: LiveServer):
    text = '<script>alert(1)</script> russia'
    answer = requests.get(f"{live_server.url}/search", params={"q": text}, headers=HTML, timeout=30)
    assert answer.status_code == 200
    assert "<script>alert" not in answer.text and html.escape(text, quote=True) in answer.text


@pytest.mark.parametrize("params, words", [({"q": "x" * 201}, "characters"), ({"q": "a " * 13}, "words"),
                                            ({"q": "russia", "page": "0"}, "page"),
                                            ({"q": "russia", "page": "1e9"}, "page")])
def test_bad_searches_are_400_naming_the_limit(live_server: LiveServer, params, words):
    for headers, kind in ((HTML, "text/html"), ({"Accept": "application/json"}, "application/json")):
        answer = requests.get(f"{live_server.url}/search", params=params, headers=headers, timeout=30)
        assert answer.status_code == 400 and answer.headers["content-type"].startswith(kind)
        assert words in answer.text


def test_every_page_has_the_search_box(live_server: LiveServer):
    for path in ("/", "/doc/russia.html", "/ontology.html", "/queries/", "/search"):
        answer = requests.get(live_server.url + path, headers=HTML, timeout=30)
        assert answer.status_code == 200, path
        assert 'role="search" action="/search"' in answer.text, path
