"""The full-text search index of a release: SQLite FTS5 (built into Python's ``sqlite3``), written
into each release folder (``search.sqlite``) when the release is built or a write publishes one.

What is indexed: every entity the asserted graph names under ``/id/`` with a label (its labels and
alternative labels; its type's label is shown, not matched), and every passage of the source text
(its sentence). A search is one FTS5 ``MATCH`` ranked by BM25, labels weighing most; the words of
the matching text come back marked by FTS5's ``highlight()``, split into plain and matched segments
so that a page escapes every character it shows.

A search text is never handed to FTS5 as query syntax: it is split into words by FTS5's own
tokenizer rules (letters and digits, Unicode-aware, via :data:`WORD`) and each word becomes one
double-quoted string (a word holds no quote), all of them required, the last one also as a prefix
(so ``milit`` finds "military"). Operators (``OR``, ``NEAR``, ``*``, ``:``, ``^``) in the text are
words or nothing: they cannot change the query's structure.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from mildip_ld.release.store import open_store
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.namespaces import MD, NAMED_GRAPHS, OA, RESOURCE_BASE, SKOS
from mildip_ld.vocab.terms import select

INDEX_FILE = "search.sqlite"
TOKENIZER = "unicode61 remove_diacritics 2"
WORD = re.compile(r"[^\W_]+")
"""A word, as the ``unicode61`` tokenizer reads one: a run of letters and digits."""
MAX_QUERY_CHARS = 200
MAX_WORDS = 12
MAX_RESULTS = 50
OPEN, CLOSE = "\ue000", "\ue001"
"""Private-use characters that mark matched words in ``highlight()`` output (stripped from the
indexed text, so that none can be there already)."""
WEIGHTS = (10.0, 5.0, 1.0)
"""BM25 weights of the label, alternative label and text columns."""
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"

ENTITIES = f"""
SELECT ?entity (SAMPLE(?name) AS ?label) (GROUP_CONCAT(DISTINCT ?other; SEPARATOR="\\n") AS ?alts)
       (SAMPLE(?typeName) AS ?kind)
WHERE {{
  GRAPH <{NAMED_GRAPHS["asserted"]}> {{
    ?entity <{RDFS_LABEL}>|<{SKOS.prefLabel}> ?name .
    OPTIONAL {{ ?entity <{SKOS.altLabel}> ?other }}
    OPTIONAL {{ ?entity a ?type }}
  }}
  OPTIONAL {{ GRAPH <{NAMED_GRAPHS["ontology"]}> {{ ?type <{RDFS_LABEL}> ?typeName }} }}
  FILTER(STRSTARTS(STR(?entity), "{RESOURCE_BASE}"))
}} GROUP BY ?entity
"""
PASSAGES = f"""
SELECT ?passage ?label ?exact ?line WHERE {{
  GRAPH <{NAMED_GRAPHS["provenance"]}> {{
    ?passage a <{MD.Passage}> ; <{OA.hasSelector}> ?selector .
    ?selector <{OA.exact}> ?exact .
    OPTIONAL {{ ?passage <{RDFS_LABEL}> ?label }}
    OPTIONAL {{ ?passage <{MD.lineNumber}> ?line }}
  }}
}}
"""


def _clean(text: str | None) -> str:
    return (text or "").replace(OPEN, "").replace(CLOSE, "")


def _value(solution: ox.QuerySolution, name: str) -> str | None:
    term = solution[name]
    return term.value if term is not None else None


def build_search_index(release: Path) -> Path:
    """Write ``release/search.sqlite`` from the release's store (replacing any older one)."""
    store = open_store(release)
    rows: list[tuple[str, str, str, str, str, str, int | None]] = []
    for solution in select(store, ENTITIES):
        iri = _value(solution, "entity") or ""
        rows.append(
            (
                "entity",
                iri,
                _clean(_value(solution, "label")),
                _clean(_value(solution, "alts")),
                "",
                _clean(_value(solution, "kind")),
                None,
            )
        )
    for solution in select(store, PASSAGES):
        line = _value(solution, "line")
        rows.append(
            (
                "passage",
                _value(solution, "passage") or "",
                "",
                "",
                _clean(_value(solution, "exact")),
                _clean(_value(solution, "label")),
                int(line) if line else None,
            )
        )
    del store
    target, partial = release / INDEX_FILE, release / f"{INDEX_FILE}.partial"
    partial.unlink(missing_ok=True)
    with sqlite3.connect(partial) as connection:
        connection.execute(
            f"CREATE VIRTUAL TABLE entries USING fts5(kind UNINDEXED, iri UNINDEXED, label, "
            f"alt, text, about UNINDEXED, line UNINDEXED, tokenize='{TOKENIZER}')"
        )
        connection.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        connection.execute("INSERT INTO entries(entries) VALUES ('optimize')")
    connection.close()
    partial.replace(target)
    return target


class SearchError(MildipError, ValueError):
    """A search text this endpoint does not run (too long, too many words); the message says why."""

    status = 400


def match_expression(text: str) -> str | None:
    """The FTS5 query for a search text (see the module's docstring), or None when it has no word."""
    if len(text) > MAX_QUERY_CHARS:
        raise SearchError(f"the search text is {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
    words = WORD.findall(text)
    if len(words) > MAX_WORDS:
        raise SearchError(f"the search text has {len(words)} words; the limit is {MAX_WORDS}")
    if not words:
        return None
    quoted = [f'"{word}"' for word in words]
    quoted[-1] = f"({quoted[-1]} OR {quoted[-1]}*)"
    return " AND ".join(quoted)


@dataclass(frozen=True)
class Hit:
    """One search result: an entity or a passage, with the matched text in segments."""

    kind: str
    iri: str
    title: str
    about: str
    line: int | None
    segments: tuple[tuple[str, bool], ...]
    """The matching text (label, alternative label or sentence) as (text, matched) pieces."""
    score: float

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "iri": self.iri,
            "title": self.title,
            "about": self.about,
            "line": self.line,
            "text": "".join(text for text, _ in self.segments),
            "matched": [text for text, matched in self.segments if matched],
            "score": self.score,
        }


def segments(marked: str) -> tuple[tuple[str, bool], ...]:
    """``highlight()`` output split at its markers into (text, matched) pieces."""
    pieces: list[tuple[str, bool]] = []
    for index, part in enumerate(re.split(f"[{OPEN}{CLOSE}]", marked)):
        if part:
            pieces.append((part, index % 2 == 1))
    return tuple(pieces)


def search(release: Path, text: str, limit: int = MAX_RESULTS, offset: int = 0) -> tuple[list[Hit], int]:
    """The hits of ``text`` in ``release``'s index, best first, and how many there are in all.

    Raises :class:`SearchError` for a text this endpoint does not run, FileNotFoundError when the
    release has no index."""
    expression = match_expression(text)
    if expression is None:
        return [], 0
    index = release / INDEX_FILE
    if not index.is_file():
        raise FileNotFoundError(f"no search index in {release} (run `mildip build`)")
    connection = sqlite3.connect(f"{index.as_uri()}?mode=ro", uri=True)
    try:
        total = connection.execute(
            "SELECT count(*) FROM entries WHERE entries MATCH ?", (expression,)
        ).fetchone()[0]
        weights = ", ".join(str(weight) for weight in WEIGHTS)
        rows = connection.execute(
            f"SELECT kind, iri, label, about, line, highlight(entries, 2, ?, ?), "
            f"highlight(entries, 3, ?, ?), highlight(entries, 4, ?, ?), "
            f"bm25(entries, 0, 0, {weights}, 0, 0) AS score FROM entries "
            f"WHERE entries MATCH ? ORDER BY score LIMIT ? OFFSET ?",
            (OPEN, CLOSE) * 3 + (expression, limit, offset),
        ).fetchall()
    finally:
        connection.close()
    hits = []
    for kind, iri, label, about, line, marked_label, marked_alt, marked_text, score in rows:
        if kind == "passage":
            marked, title = marked_text, about
        else:
            alternatives = marked_alt.split("\n")
            marked_alt = next((alt for alt in alternatives if OPEN in alt), "")
            marked = marked_label if OPEN in marked_label or not marked_alt else f"{label} ({marked_alt})"
            title = label
        hits.append(
            Hit(kind, iri, title, about if kind == "entity" else "", line, segments(marked), round(-score, 4))
        )
    return hits, total
