"""The query check (:mod:`mildip_ld.engine.query_safety`) against what pyoxigraph really does.

Each text is checked, then run by pyoxigraph on an empty in-memory store beside a canary: a
loopback TCP listener that records every connection. Whenever the check lets a text through, the
engine must not have connected to the canary; whenever the engine calls it, the check refused.
Hypothesis builds the texts from what desynchronised the old lexical scan: strings of every quote
kind with escapes and ``> < # { '``, comments ended by LF, CR or nothing, IRIs with ``\\u``
escapes, comparisons, prefixed names and BASE, around a SERVICE clause naming the canary.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mildip_ld.engine.query_safety import check, prepare, refusal

ALLOWED = "http://127.0.0.1:9/allowed"
"""The one allowed endpoint (a closed port: calling it costs nothing)."""


@dataclass
class Canary:
    """A loopback listener that counts the connections it accepts (and closes them at once)."""

    url: str
    connections: list[int] = field(default_factory=list)

    def calls_during(self, text: str) -> tuple[int, bool]:
        """Connections made while pyoxigraph runs ``text``, and whether it was a syntax error."""
        before = len(self.connections)
        syntax_error = False
        try:
            result = ox.Store().query(text)
            if not isinstance(result, ox.QueryBoolean):
                list(result)
        except SyntaxError:
            syntax_error = True
        except (OSError, RuntimeError, ValueError):
            pass
        return len(self.connections) - before, syntax_error


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    listener = socket.create_server(("127.0.0.1", 0))
    found = Canary(f"http://127.0.0.1:{listener.getsockname()[1]}/sparql")

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            found.connections.append(1)
            connection.close()

    threading.Thread(target=accept, daemon=True).start()
    prepare(100)
    yield found
    listener.close()


def allowed(text: str, kind: str = "query") -> bool:
    return refusal(check(text, kind), kind, [ALLOWED], 100) is None  # type: ignore[arg-type]


# --- the old scan's cases, on the new check ----------------------------------------------------

QUERIES = [
    "SELECT * WHERE { SERVICE <{B}evil> { ?s ?p ?o } }",
    "select * where { service silent <{B}evil> { ?s ?p ?o } }",
    "PREFIX e: <{B}> SELECT * WHERE { SERVICE e:evil { ?s ?p ?o } }",
    "BASE <{B}x/> SELECT * WHERE { SERVICE <../evil> { ?s ?p ?o } }",
    "SELECT * WHERE { SERVICE<{B}evil>{?s ?p ?o} }",
    r"SELECT * WHERE { SERVICE <{B}\u0065vil> { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p ?o FILTER(?o<?p) SERVICE <{B}evil> { ?a ?b ?c } }",
    'SELECT * WHERE { ?s ?p """a " SERVICE""" . SERVICE <{B}evil> { ?a ?b ?c } }',
    "SELECT * WHERE { BIND(<{B}e> AS ?e) SERVICE ?e { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p ?o } # SERVICE <{B}comment>",
    "SELECT * WHERE { ?s <{B}SERVICE> 'SERVICE <{B}string>' }",
    'SELECT * WHERE { ?s ?p ?o FILTER(?o = "SERVICE <{B}string>") }',
    "PREFIX e: <{B}> SELECT * WHERE { ?s e:a\\'b ?o . SERVICE <{B}evil> { ?a ?b ?c } }",
    "SELECT * FROM <{B}from> WHERE { ?s ?p ?o }",
    "SELECT * FROM NAMED <{B}named> WHERE { GRAPH ?g { ?s ?p ?o } }",
    "SELECT * WHERE { { SELECT * WHERE { SERVICE <{B}allowed> { ?s ?p ?o } } } }",
]


@pytest.mark.parametrize("template", QUERIES)
def test_check_lets_nothing_through_that_pyoxigraph_would_call(canary: Canary, template: str) -> None:
    base = canary.url.rsplit("/", 1)[0] + "/"
    query = template.replace("{B}", base)
    calls, _ = canary.calls_during(query)
    verdict = check(query, "query")
    if refusal(verdict, "query", [base + "allowed"], 100) is None:
        assert all(service == base + "allowed" for service in verdict.services)
        assert calls == 0 or "{B}allowed" in template, "the check let through a SERVICE call it did not see"
    if "evil" in template or "SERVICE ?e" in template:
        assert refusal(verdict, "query", [base + "allowed"], 100), "a SERVICE call the check should refuse"
    if "{B}allowed" in template:
        assert verdict.services == (base + "allowed",)


def test_check_reports_dataset_clauses_and_loads() -> None:
    assert check("SELECT * FROM <http://g> { ?s ?p ?o }", "query").has_dataset_clause
    assert not check("SELECT * { ?s <http://from> ?o } # FROM <x>", "query").has_dataset_clause
    assert check("LOAD <http://x/y.ttl> INTO GRAPH <http://g>", "update").loads == 1
    assert check("INSERT DATA { <a:b> <a:c> 'LOAD' }", "update").loads == 0
    assert (
        check("PREFIX e: <http://e/> INSERT DATA { <a:b> <a:c> 1 } ; LOAD <http://x/y.ttl>", "update").loads
        == 1
    )


def test_endpoints_are_resolved_against_base_and_prefixes() -> None:
    query = (
        "BASE <http://b/c/> PREFIX e: <../e/> PREFIX f: <http://f/> SELECT * { SERVICE e:x {} "
        "SERVICE f:a\\.b {} SERVICE <d> {} SERVICE ?v {} SERVICE g:y {} }"
    )
    assert check(query, "query").services == ("http://b/e/x", "http://f/a.b", "http://b/c/d", None, None)
    assert check("PREFIX : <http://x/> SELECT * { SERVICE :a {} SERVICE : {} }", "query").services == (
        "http://x/a",
        "http://x/",
    )
    update = (
        "PREFIX e: <http://e/> INSERT DATA { <a:a> <a:b> 1 } ; "
        "INSERT { ?s ?p ?o } WHERE { SERVICE e:x {} }"
    )  # the prologue holds for what follows
    assert check(update, "update").services == ("http://e/x",)
    assert check("SELECT * { SERVICE <rel> {} }", "query").services == (None,)
    assert check("SELECT * { SERVICE <rel> {} }", "query", "http://base/x").services == ("http://base/rel",)


# --- the attack and its variants ----------------------------------------------------------------


def attacks(url: str) -> list[str]:
    """Texts that hid a SERVICE from a lexical scan, or that rdflib read otherwise than Oxigraph."""
    return [
        "SELECT * WHERE { { BIND(1 AS ?a) BIND(2 AS ?b) BIND(\">\" AS ?c) FILTER(?a<?b&&'>'=?c) } "
        f"SERVICE <{url}> {{ ?s ?p ?o }} }} #'",
        "SELECT * WHERE { { BIND(1 AS ?a) FILTER(?a<?a||\">\"='>') } "
        f'SERVICE SILENT <{url}> {{ ?s ?p ?o }} }} #"',
        f'PREFIX c: <{url.rsplit("/", 1)[0]}/> SELECT * WHERE {{ FILTER(1<2&&"\'>"!="<") '
        "SERVICE c:sparql { ?s ?p ?o } } #'\"",
        f"SELECT * WHERE {{ # a comment ended by CR\r SERVICE <{url}> {{ ?a ?b ?c }}\n}}",
    ]


@pytest.mark.parametrize("number", range(4))
def test_the_attacks_are_refused(canary: Canary, number: int) -> None:
    text = attacks(canary.url)[number]
    calls, _ = canary.calls_during(text)
    assert calls > 0, "not an attack: the engine does not call the canary"
    assert not allowed(text)


def test_the_attack_is_refused_in_an_update(canary: Canary) -> None:
    update = (
        'INSERT { <urn:x:a> <urn:x:b> ?o } WHERE { { BIND(1 AS ?a) BIND(2 AS ?b) BIND(">" AS ?c) '
        f"FILTER(?a<?b&&'>'=?c) }} SERVICE <{canary.url}> {{ ?s ?p ?o }} }} #'"
    )
    assert not allowed(update, "update")


def test_unicode_escapes_are_not_expanded_outside_strings_and_iris(canary: Canary) -> None:
    """rdflib's parseQuery expands \\u everywhere before parsing, Oxigraph does not: the check
    must read the raw text (and refuse escapes it cannot read)."""
    hidden = (
        'SELECT * WHERE { BIND("\\u0022 AS ?x) BIND(" AS ?y) SERVICE <URL> {} BIND(" AS ?z) '
        'BIND(\\u0022" AS ?w) }'
    ).replace("URL", canary.url)
    calls, _ = canary.calls_during(hidden)
    assert calls > 0 and not allowed(hidden)
    escaped = canary.url.replace(":", "\\u003A", 1)
    assert not allowed(f"SELECT * WHERE {{ SERVICE <{escaped}> {{}} }}")


# --- the differential property ------------------------------------------------------------------

STRINGS = [
    "'>'",
    '"<"',
    "'''a''b'''",
    '"""a""b"""',
    "'\\''",
    '"\\""',
    "'#'",
    '"{"',
    "'a\\'b'",
    '"\\u0022"',
    "'\\u0027'",
    '"\'"',
    "'\"'",
    '"a\\\\"',
    "''''",
    '""""',
]
HAZARDS = [
    "#",
    "# c\n",
    "# c\r",
    "'",
    '"',
    "'''",
    '"""',
    "<",
    ">",
    "<=",
    "{",
    "}",
    "(",
    ")",
    ".",
    "?a<?b",
    "?a>?b",
    "?a<=?b",
    "&&",
    "FILTER(",
    "BIND(",
    " AS ?z)",
    "c:x",
    "c:a\\'b",
    "<http://e/\\u0041>",
    "\\u0022",
    "\\u0027",
    "\\u000A",
    "\\u0023",
    "\r",
    "\n",
]
"""Pieces that open or close a string, an IRI or a comment for one reader and not another."""
SOLUTIONS = ["BIND(1 AS ?a)", "VALUES ?b { 2 }", 'BIND(">" AS ?c)', "FILTER(1<2)", "FILTER('>'='>')"]
"""Pieces that keep the one solution, so that the engine does call a SERVICE after them."""
ENCLOSURES = [
    ("# c\r", "\n"),
    ("#\r", "\n"),
    ("# \\u000A", "\n"),
    ("'", "'"),
    ('"', '"'),
    ("'''", "'''"),
    ('"""', '"""'),
    ("<", ">"),
    ('"\\u0022', '"'),
    ("'\\u0027", "'"),
    ("<\\u003E", ">"),
    ("FILTER(?a<", ">?b)"),
    ("BIND('''", "''' AS ?q)"),
    ("#'", "'\n"),
    ("", ""),
]
"""An opening and a closing piece that may hide what is between them from one reader only."""


def _services(url: str) -> list[str]:
    local = url.rsplit("/", 1)[1]
    escaped = url.replace("/", "\\u002F")
    return [
        f"SERVICE <{url}> {{ ?s ?p ?o }}",
        f"service silent <{url}> {{ }}",
        f"SERVICE c:{local} {{ }}",
        f"SERVICE <{local}> {{ }}",
        f"SERVICE <{escaped}> {{ }}",
        f"SERVICE<{url}>{{}}",
    ]


@st.composite
def texts(draw: st.DrawFn, url: str) -> str:
    base = url.rsplit("/", 1)[0] + "/"
    prologue = draw(
        st.sampled_from(
            [
                "",
                f"BASE <{base}> ",
                f"PREFIX c: <{base}> ",
                f"BASE <{base}> PREFIX c: <> ",
                "PREFIX c: <http://elsewhere/> ",
            ]
        )
    )
    pieces = st.sampled_from(HAZARDS) | st.sampled_from(STRINGS) | st.sampled_from(SOLUTIONS)
    opening, closing = draw(st.sampled_from(ENCLOSURES))
    before = [*draw(st.lists(pieces, max_size=3)), opening]
    after = [closing, *draw(st.lists(pieces, max_size=3))]
    service = draw(st.sampled_from(_services(url)))
    separator = draw(st.sampled_from([" ", "", "\n", "\r"]))
    tail = draw(st.sampled_from(["", " #'", ' #"', " # '''", "\r", " #\r}"]))
    return (
        f"{prologue}SELECT * WHERE {{ {separator.join(before)}{separator}{service}{separator}"
        f"{separator.join(after)} }}{tail}"
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_what_the_check_allows_never_calls_the_canary(canary: Canary, data: st.DataObject) -> None:
    text = data.draw(texts(canary.url))
    verdict = check(text, "query")
    calls, syntax_error = canary.calls_during(text)
    if refusal(verdict, "query", [ALLOWED], 100) is None:
        assert calls == 0, f"allowed, yet the engine called the canary: {text!r}"
        if syntax_error:
            assert not verdict.services, f"the engine refuses it, the check allows a SERVICE: {text!r}"
    if calls:
        assert canary.url in verdict.services or verdict.unreadable or None in verdict.services, (
            f"the engine called the canary, the check did not see that SERVICE: {text!r} {verdict}"
        )


def test_prepare_lets_the_check_follow_the_nesting_limit() -> None:
    """Every shape of nesting the check counts, 100 levels deep, is read (not refused as too deep
    for the parser); far deeper texts are refused without a crash."""
    prepare(100)
    shapes = [
        "SELECT * WHERE " + "{" * 100 + " ?s ?p ?o " + "}" * 100,
        "ASK { FILTER(" + "(" * 98 + "true" + ")" * 98 + ") }",
        "ASK { FILTER(" + "STR(" * 98 + "1" + ")" * 98 + " = '1') }",
        "SELECT * " + "{ SELECT * " * 99 + "{}" + "}" * 99,
        "ASK { ?s " + "(" * 99 + "<p:p>" + ")" * 99 + " ?o }",
    ]
    assert [check(shape, "query").depth for shape in shapes] == [100] * len(shapes)
    assert check("ASK { ?s <p:p> " + "[ <p:p> " * 100 + "1" + " ]" * 100 + " }", "query").depth == 1
    assert check("SELECT * WHERE " + "{" * 20_000 + "}" * 20_000, "query").depth is None
    many = "SELECT * WHERE { " + " ".join(f"?s <p:p> ?o{number} ." for number in range(1_000)) + " }"
    assert check(many, "query").depth == 1  # the grammar reads a group's triple patterns by recursion
    operations = " ; ".join(f"INSERT DATA {{ <a:s> <p:p> {number} }}" for number in range(1_000))
    assert check(operations, "update").depth == 0
