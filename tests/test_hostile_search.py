"""Attacks on search: FTS5 query syntax in the search text is only words (never an operator, a
column filter or a syntax error), the limits on length and words cannot be got around, and the
text is escaped where a page shows it."""

from __future__ import annotations

import html
import re

import pytest
import requests

from mildip_ld.release.build import BuildReport
from mildip_ld.release.search_index import MAX_QUERY_CHARS, MAX_WORDS, SearchError, match_expression, search
from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    "text",
    [
        '"',
        "NEAR(a b)",
        "a OR b",
        "label:russia",
        "*",
        "^russia",
        "a AND",
        "(((",
        "NOT russia",
        "russia' --",
        '"russia" OR "csto"',
    ],
)
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


def test_search_text_is_escaped_in_the_page(live_server: LiveServer):
    text = "<script>alert(1)</script> russia"
    answer = requests.get(f"{live_server.url}/search", params={"q": text}, headers=HTML, timeout=30)
    assert answer.status_code == 200
    assert "<script>alert" not in answer.text and html.escape(text, quote=True) in answer.text


@pytest.mark.parametrize(
    "params, words",
    [
        ({"q": "x" * 201}, "characters"),
        ({"q": "a " * 13}, "words"),
        ({"q": "russia", "page": "0"}, "page"),
        ({"q": "russia", "page": "1e9"}, "page"),
    ],
)
def test_bad_searches_are_400_naming_the_limit(live_server: LiveServer, params, words):
    for headers, kind in ((HTML, "text/html"), ({"Accept": "application/json"}, "application/json")):
        answer = requests.get(f"{live_server.url}/search", params=params, headers=headers, timeout=30)
        assert answer.status_code == 400 and answer.headers["content-type"].startswith(kind)
        assert words in answer.text
