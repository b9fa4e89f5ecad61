"""Fuzzing: hypothesis over the endpoint's parameters and headers and over Turtle given to
``mildip validate``, and schemathesis over the server's OpenAPI description.

The server may refuse anything (4xx), and may stop a query at its time limit (503), but must never
answer 500, crash or hang; ``mildip validate`` may only exit 0, 1 or 2, never with a traceback.
Example counts are kept small so that the whole module runs in well under 90 s.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

import mildip_ld.cli.main as cli
from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.namespaces import ASSERTED, GRAPH_BASE, PREFIXES
from tests.live_server import LiveServer, build_dir_of, serve

pytestmark = pytest.mark.server

TOKEN = "fuzz-token"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
LIMITS = ("time limit", "busy", "memory limit", "waiting")
"""What a 503 may say: a limit the request ran into, never a fault."""

# --- the server -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """1 s query limit, 100 results, writes enabled on a copy of the build."""
    folder = tmp_path_factory.mktemp("fuzz")
    copy = folder / "build"
    shutil.copytree(build_dir_of(built), copy, symlinks=True)
    yield from serve(copy, folder / "server.log", update_token=TOKEN, query_timeout_s="1", max_results="100")


def assert_sound(answer: httpx.Response | schemathesis.Response) -> None:
    """No 500, and a 503 only for a limit."""
    limit = answer.status_code == 503 and any(word in answer.text for word in LIMITS)
    assert answer.status_code < 500 or limit, f"{answer.status_code}: {answer.text[:300]}"


WORDS = [
    "SELECT",
    "ASK",
    "CONSTRUCT",
    "DESCRIBE",
    "WHERE",
    "{",
    "}",
    "(",
    ")",
    ".",
    ";",
    ",",
    "*",
    "?s",
    "?p",
    "?o",
    "?x",
    "a",
    "FILTER",
    "OPTIONAL",
    "UNION",
    "MINUS",
    "GRAPH",
    "SERVICE",
    "SILENT",
    "LOAD",
    "FROM",
    "NAMED",
    "VALUES",
    "BIND",
    "AS",
    "LIMIT",
    "OFFSET",
    "ORDER",
    "BY",
    "GROUP",
    "COUNT(*)",
    "DISTINCT",
    'regex(?o, "a+")',
    "INSERT",
    "DELETE",
    "DATA",
    "CLEAR",
    "DROP",
    "ALL",
    "PREFIX",
    "BASE",
    "md:",
    "rdfs:label",
    "md:State",
    "<urn:x>",
    f"<{ASSERTED}>",
    "<http://127.0.0.1:9/sparql>",
    '"x"@en',
    "1",
    "-1",
    "1e9",
    "true",
    "|",
    "/",
    "^",
    "+",
    "!",
    "&&",
    "||",
    "#",
    "\\u0041",
    "\n",
]
sparqlish = st.lists(st.sampled_from(WORDS), max_size=25).map(" ".join)
texts = st.one_of(
    sparqlish, st.text(max_size=300), st.binary(max_size=200).map(lambda data: data.decode("latin-1"))
)
MEDIA = [
    "application/sparql-results+json",
    "text/turtle",
    "application/json",
    "text/csv",
    "*/*",
    "text/html",
    "image/png",
    "application/ld+json;q=0.5, text/*",
    "",
    "application/rdf+xml",
    "text/plain; charset=x",
]
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(str.strip)
media = st.one_of(st.sampled_from(MEDIA), header_text)
iris = st.one_of(
    st.sampled_from([str(ASSERTED), GRAPH_BASE + "inferred", "urn:x", "not an iri", ""]), header_text
)


@st.composite
def sparql_requests(draw: st.DrawFn) -> dict:
    """A request to /sparql: method, parameters, body and headers, valid or not."""
    kind = draw(st.sampled_from(["get", "form", "query", "update", "other"]))
    field = "update" if kind == "update" or draw(st.booleans()) and kind == "form" else "query"
    params: list[tuple[str, str]] = [
        (name, draw(iris))
        for name in draw(
            st.lists(st.sampled_from(["default-graph-uri", "named-graph-uri", "using-graph-uri"]), max_size=3)
        )
    ]
    if draw(st.booleans()):
        params.append(
            (
                "format",
                draw(st.one_of(st.sampled_from(["json", "xml", "csv", "turtle", "bogus"]), header_text)),
            )
        )
    headers = {"Accept": draw(media)}
    if draw(st.booleans()):
        headers["Authorization"] = draw(st.sampled_from([f"Bearer {TOKEN}", "Bearer x", "Basic x", ""]))
    text = draw(texts)
    if kind == "get":
        return {"method": "GET", "params": [("query", text), *params], "headers": headers}
    if kind == "form":
        return {"method": "POST", "data": {field: text, **dict(params)}, "headers": headers}
    content_type = {"query": "application/sparql-query", "update": "application/sparql-update"}.get(kind)
    headers["Content-Type"] = content_type or draw(media)
    return {
        "method": "POST",
        "params": params,
        "content": text.encode("utf-8", "surrogatepass"),
        "headers": headers,
    }


@FUZZ
@given(request=sparql_requests())
def test_sparql_parameters_and_headers(fuzz_server: LiveServer, request: dict) -> None:
    answer = httpx.request(url=fuzz_server.sparql, timeout=30, **request)
    assert_sound(answer)


@settings(FUZZ, max_examples=150)
@given(
    method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE"]),
    params=st.lists(st.tuples(st.sampled_from(["graph", "default", "x"]), iris), max_size=3),
    body=st.binary(max_size=300),
    content_type=media,
    accept=media,
)
def test_graph_store_parameters_and_headers(
    fuzz_server: LiveServer, method: str, params: list, body: bytes, content_type: str, accept: str
) -> None:
    """Without the token: reads answer or refuse, writes are refused (never a 500)."""
    answer = httpx.request(
        method,
        f"{fuzz_server.url}/store",
        params=params,
        content=body or None,
        headers={"Content-Type": content_type, "Accept": accept},
        timeout=30,
    )
    assert_sound(answer)
    if method in ("PUT", "POST", "DELETE"):
        assert answer.status_code == 403


# --- schemathesis ---------------------------------------------------------------------------------

for _media_type in (
    "application/sparql-query",
    "application/sparql-update",
    "text/turtle",
    "application/n-triples",
    "application/rdf+xml",
    "application/ld+json",
):

    @schemathesis.serializer(_media_type)
    def _text(_: object, value: object) -> bytes:
        return (value if isinstance(value, str) else str(value)).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def api_schema(fuzz_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_openapi(case: schemathesis.Case) -> None:
    """Every operation of the OpenAPI description, with generated (and broken) inputs: never a 500."""
    answer = case.call(timeout=30)
    assert_sound(answer)
    case.validate_response(answer, checks=[not_a_server_error])


# --- mildip validate ------------------------------------------------------------------------------

PREFIX_LINES = "".join(f"@prefix {prefix}: <{namespace}> .\n" for prefix, namespace in PREFIXES.items())
SUBJECTS = [
    "mdr:x",
    "mdr:russia",
    "act:y",
    "_:b",
    "<relative>",
    "<https://example.org/x>",
    "[]",
    "mdr:Bad_Slug",
]
PREDICATES = [
    "a",
    "rdfs:label",
    "md:mentionedIn",
    "md:statedIn",
    "md:hasAgent",
    "md:modality",
    "md:localFile",
    "oa:start",
    "oa:end",
    "oa:exact",
    "oa:hasSource",
    "oa:hasSelector",
    "md:wikidataId",
    "skos:exactMatch",
    "md:unknownProperty",
    "owl:sameAs",
    "rdfs:subClassOf",
]
OBJECTS = [
    "md:State",
    "md:JointExercise",
    "md:Passage",
    "md:Nope",
    "mdr:russia",
    "md:stated",
    '"x"@en',
    '"x"',
    '"Q159"',
    "wd:Q159",
    '"12"^^xsd:nonNegativeInteger',
    '"-3"^^xsd:nonNegativeInteger',
    '"zz"^^xsd:positiveInteger',
    '"../../../etc/hostname"',
    '"../canary.txt"',
    '"sources/none.txt"',
    '"/"',
    "42",
    "true",
    "( mdr:a mdr:b )",
    "[ a md:Passage ]",
    '"""long\nstring"""',
    "<http://127.0.0.1:9/x>",
]
triples = st.tuples(st.sampled_from(SUBJECTS), st.sampled_from(PREDICATES), st.sampled_from(OBJECTS)).map(
    lambda t: " ".join(t) + " ."
)


@st.composite
def turtle_documents(draw: st.DrawFn) -> str:
    """Turtle built from the project's vocabulary, sometimes with junk spliced in anywhere."""
    body = "\n".join(draw(st.lists(triples, max_size=12)))
    document = (PREFIX_LINES if draw(st.booleans()) else "") + body
    if draw(st.booleans()):
        position = draw(st.integers(0, len(document)))
        document = document[:position] + draw(st.text(max_size=20)) + document[position:]
    return document


CANARY = "canary-3f9c1d7e-never-to-be-read"
"""The text of ``canary.txt`` beside the fuzzed data folder, which a document names as its source:
it must never reach the output (nothing outside the data folder is read)."""


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with no sources and no assertions (the fuzzed file is all the data), and a
    canary file beside it."""
    folder = tmp_path_factory.mktemp("fuzz-data")
    (folder / "sources").mkdir()
    (folder / "assertions").mkdir()
    (folder.parent / "canary.txt").write_text(CANARY, encoding="utf-8")
    return folder


def run_validate(data: Path, file: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["--data", str(data), "validate", str(file)])
    return status, out.getvalue() + err.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(document=turtle_documents())
def test_validate_never_crashes(
    small_data: Path, tmp_path_factory: pytest.TempPathFactory, document: str
) -> None:
    file = tmp_path_factory.mktemp("doc") / "fuzzed.ttl"
    file.write_text(document, encoding="utf-8", errors="surrogatepass")
    status, output = run_validate(small_data, file)
    assert status in (0, 1, 2), output
    assert CANARY not in output  # nothing read outside data/


def test_validate_as_a_process_exits_cleanly(small_data: Path, tmp_path: Path) -> None:
    """The real command on nasty input: a path out of the data folder, a bad offset, broken syntax."""
    nasty = PREFIX_LINES + "\n".join(
        [
            'mdr:source md:localFile "../../../etc/hostname" .',
            'mdr:other md:localFile "../canary.txt" .',
            "mdr:p oa:hasSource mdr:source ; oa:hasSelector mdr:q , mdr:r .",
            'mdr:q oa:exact "x" . mdr:r oa:start 0 ; oa:end 1 .',
        ]
    )
    mojibake = "\udcff".encode("utf-8", "surrogatepass").decode("latin-1")
    for document in (nasty, nasty + "\nmdr:broken md:x", mojibake):
        file = tmp_path / "nasty.ttl"
        file.write_text(document, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "mildip_ld", "--data", str(small_data), "validate", str(file)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode in (0, 1, 2)
        assert "Traceback" not in done.stderr, done.stderr
        assert CANARY not in done.stdout + done.stderr
