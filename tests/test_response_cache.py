"""The response cache of ``GET /sparql``: what it keeps, what it never keeps, and when it forgets.

Unit tests of the LRU and of the check that tells repeatable queries apart; then real servers
over HTTP: the same request gets the same bytes marked ``hit``; another Accept, Origin or
``format`` is another entry; volatile queries, errors and POSTs are never kept; a write (a new
release) is seen at once; ``MILDIP_RESPONSE_CACHE_MB=0`` turns it off.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from mildip_ld.engine.query_safety import check
from mildip_ld.release.build import BuildReport
from mildip_ld.server.metrics import Metrics
from mildip_ld.server.response_cache import ENTRY_OVERHEAD_BYTES, Entry, ResponseCache
from mildip_ld.vocab.namespaces import ASSERTED, MDR
from tests.live_server import LiveServer, build_dir_of, live_server, serve, update_server  # noqa: F401

LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
JSON_RESULTS = "application/sparql-results+json"
CACHE = "x-mildip-cache"


def _entry(size: int) -> Entry:
    return Entry(200, [], b"x" * size)


def test_least_recently_used_answers_are_evicted_past_the_budget() -> None:
    each = ENTRY_OVERHEAD_BYTES + len("r") + 1 + 100  # overhead, release, query string, body
    cache = ResponseCache(8 * each, Metrics())
    for name in "abc":
        cache.put(("r", name.encode(), ()), _entry(100))
    assert cache.get(("r", b"a", ())) is not None  # a is now the most recently used
    for name in "defghi":  # one more than the budget holds: b, the least recently used, goes
        cache.put(("r", name.encode(), ()), _entry(100))
    assert cache.size == 8 * each
    assert cache.get(("r", b"b", ())) is None and cache.get(("r", b"a", ())) is not None
    cache.put(("r", b"big", ()), _entry(101))  # more than an eighth of the budget
    assert cache.get(("r", b"big", ())) is None
    cache.clear()
    assert cache.size == 0 and cache.get(("r", b"a", ())) is None


def test_long_keys_count_against_the_budget() -> None:
    """Many tiny answers to long query strings cannot hold more than the budget."""
    cache = ResponseCache(2**20, Metrics())
    for number in range(1000):
        cache.put(("r", f"{number:016,}".encode() * 500, (b"accept:" + b"x" * 1000,)), _entry(2))
    assert cache.size <= 2**20 and len(cache.entries) < 1000


def _metric(exposition: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", exposition, re.M)
    assert found is not None, name
    return float(found.group(1))


def test_hit_ratio_and_bytes_are_in_the_metrics() -> None:
    metrics = Metrics()
    cache = ResponseCache(2**20, metrics)
    cache.put(("r", b"a", ()), _entry(100))
    cache.put(("r", b"b", ()), _entry(300))
    for name in b"aabxa":  # 4 hits, 1 miss
        cache.get(("r", bytes([name]), ()))
    exposition = metrics.exposition()[0].decode()
    assert _metric(exposition, "mildip_response_cache_hit_ratio") == 0.8
    assert _metric(exposition, "mildip_response_cache_bytes") == cache.size > 400
    assert _metric(exposition, 'mildip_response_cache_lookups_total\\{outcome="miss"\\}') == 1
    cache.clear()
    assert _metric(metrics.exposition()[0].decode(), "mildip_response_cache_bytes") == 0


def test_the_served_metrics_follow_hits_and_misses(live_server: LiveServer) -> None:
    """Over HTTP: a new query is a miss, the same again a hit; the kept bytes grow by its answer."""
    before = httpx.get(f"{live_server.url}/metrics").text
    query = f"SELECT ?label WHERE {{ <{MDR.russia}> <{LABEL}> ?label }} # {uuid.uuid4()}"
    answers = [
        httpx.get(live_server.sparql, params={"query": query}, headers={"Accept": JSON_RESULTS})
        for _ in range(3)
    ]
    assert [answer.headers[CACHE] for answer in answers] == ["miss", "hit", "hit"]
    after = httpx.get(f"{live_server.url}/metrics").text
    hits = 'mildip_response_cache_lookups_total\\{outcome="hit"\\}'
    misses = 'mildip_response_cache_lookups_total\\{outcome="miss"\\}'
    assert _metric(after, hits) - _metric(before, hits) == 2
    assert _metric(after, misses) - _metric(before, misses) >= 1
    total = _metric(after, hits) + _metric(after, misses)
    assert _metric(after, "mildip_response_cache_hit_ratio") == pytest.approx(_metric(after, hits) / total)
    grown = _metric(after, "mildip_response_cache_bytes") - _metric(before, "mildip_response_cache_bytes")
    assert grown >= len(answers[0].content) + ENTRY_OVERHEAD_BYTES


@pytest.mark.parametrize(
    "query, repeatable",
    [
        ("SELECT * WHERE { ?s ?p ?o }", True),
        ("SELECT (NOW() AS ?t) WHERE {}", False),
        ("SELECT (rand() AS ?r) WHERE {}", False),
        ("SELECT (UUID() AS ?u) (STRUUID() AS ?v) WHERE {}", False),
        ("SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }", False),
        ('SELECT * WHERE { ?s ?p "NOW()" } # RAND()', True),  # in a string or a comment: not a call
        ("PREFIX ex: <http://example.org/> SELECT * WHERE { ?s ex:now ?o }", True),
    ],
)
def test_check_tells_repeatable_queries(query: str, repeatable: bool) -> None:
    assert check(query, "query").repeatable is repeatable


# --- over HTTP ------------------------------------------------------------------------------------


def _get(
    server: LiveServer, query: str, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    answer = httpx.get(
        server.sparql,
        params={"query": query, **params},
        headers={"Accept": JSON_RESULTS} | (headers or {}),
        timeout=30,
    )
    assert answer.status_code < 500, answer.text
    return answer


def _fresh(label: str) -> str:
    """A query no other test sends, so that its first answer is a miss."""
    return f"SELECT ?label WHERE {{ <{MDR.russia}> <{LABEL}> ?label }} # {label} {uuid.uuid4()}"


def _hits(server: LiveServer) -> float:
    metrics = httpx.get(f"{server.url}/metrics").text
    found = re.search(r'^mildip_response_cache_lookups_total\{outcome="hit"\} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def _answered(server: LiveServer) -> float:
    metrics = httpx.get(f"{server.url}/metrics").text
    found = re.search(
        r'^mildip_http_requests_total\{method="GET",route="/sparql",status="200"\} (\S+)$', metrics, re.M
    )
    return float(found.group(1)) if found else 0.0


@pytest.mark.server
def test_the_same_request_gets_the_kept_answer(live_server: LiveServer) -> None:
    query = _fresh("same")
    hits, answered = _hits(live_server), _answered(live_server)
    first, second = _get(live_server, query), _get(live_server, query)
    assert (first.headers[CACHE], second.headers[CACHE]) == ("miss", "hit")
    assert second.content == first.content
    assert second.json()["results"]["bindings"][0]["label"]["value"] == "Russia"
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers["x-content-type-options"] == "nosniff"
    assert _hits(live_server) == hits + 1
    assert _answered(live_server) == answered + 2  # the hit is counted like the miss


@pytest.mark.server
def test_accept_origin_and_format_are_part_of_the_key(live_server: LiveServer) -> None:
    query = _fresh("vary")
    assert _get(live_server, query).headers[CACHE] == "miss"
    csv = _get(live_server, query, {"Accept": "text/csv"})
    assert csv.headers[CACHE] == "miss" and csv.headers["content-type"].startswith("text/csv")
    assert _get(live_server, query, {"Accept": "text/csv"}).text == csv.text
    xml = _get(live_server, query, format="xml")
    assert xml.headers[CACHE] == "miss" and "sparql-results+xml" in xml.headers["content-type"]
    origin = {"Origin": "https://example.org"}
    cross = _get(live_server, query, origin)
    assert cross.headers[CACHE] == "miss" and cross.headers["access-control-allow-origin"] == "*"
    again = _get(live_server, query, origin)
    assert again.headers[CACHE] == "hit" and again.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-origin" not in _get(live_server, query).headers


@pytest.mark.server
def test_a_compressed_answer_is_kept_as_sent_and_apart_from_the_plain_one(live_server: LiveServer) -> None:
    """The cache keeps what the client got after compression, keyed by Accept-Encoding: a hit for
    a gzip client is the gzip bytes (not compressed again), a plain client gets plain bytes."""
    query = f"SELECT * WHERE {{ ?s ?p ?o }} LIMIT 300 # {uuid.uuid4()}"
    answers = {
        encoding: [_get(live_server, query, {"Accept-Encoding": encoding}) for _ in range(2)]
        for encoding in ("gzip", "identity")
    }
    for encoding, (first, second) in answers.items():
        assert (first.headers[CACHE], second.headers[CACHE]) == ("miss", "hit"), encoding
        assert first.headers.get("content-encoding") == second.headers.get("content-encoding")
        assert second.content == first.content
    assert answers["gzip"][1].headers["content-encoding"] == "gzip"
    assert "content-encoding" not in answers["identity"][1].headers
    assert answers["gzip"][1].json() == answers["identity"][1].json()
    assert "Accept-Encoding" in answers["gzip"][1].headers["vary"]


@pytest.mark.server
def test_volatile_queries_errors_and_posts_are_never_kept(live_server: LiveServer) -> None:
    volatile = "SELECT (STRUUID() AS ?u) WHERE {} # " + str(uuid.uuid4())
    first, second = _get(live_server, volatile), _get(live_server, volatile)
    assert CACHE not in first.headers and CACHE not in second.headers
    assert first.json()["results"]["bindings"] != second.json()["results"]["bindings"]
    broken = "SELECT WHERE { oops " + str(uuid.uuid4())
    assert [_get(live_server, broken).status_code for _ in range(2)] == [400, 400]
    assert CACHE not in _get(live_server, broken).headers
    query = _fresh("post")
    posted = [
        httpx.post(live_server.sparql, data={"query": query}, headers={"Accept": JSON_RESULTS})
        for _ in range(2)
    ]
    assert all(answer.status_code == 200 and CACHE not in answer.headers for answer in posted)


@pytest.mark.server
def test_a_write_is_seen_at_once(update_server: LiveServer) -> None:
    subject = f"urn:x:cache-{uuid.uuid4()}"
    ask = f"ASK {{ <{subject}> ?p ?o }}"
    assert _get(update_server, ask).json()["boolean"] is False
    assert _get(update_server, ask).headers[CACHE] == "hit"
    insert = f'INSERT DATA {{ GRAPH <{ASSERTED}> {{ <{subject}> <{LABEL}> "cached?" }} }}'
    written = httpx.post(
        update_server.sparql,
        data={"update": insert},
        headers={"Authorization": "Bearer test-token"},
        timeout=60,
    )
    assert written.status_code == 204, written.text
    after = _get(update_server, ask)
    assert after.json()["boolean"] is True and after.headers[CACHE] == "miss"


@pytest.fixture(scope="module")
def uncached_server(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve(
        build_dir_of(built), tmp_path_factory.mktemp("logs") / "uncached.log", response_cache_mb="0"
    )


@pytest.mark.server
def test_a_zero_budget_turns_the_cache_off(uncached_server: LiveServer) -> None:
    query = _fresh("off")
    answers = [_get(uncached_server, query) for _ in range(2)]
    assert all(CACHE not in answer.headers for answer in answers)
    assert answers[0].content == answers[1].content
    assert "mildip_response_cache" not in httpx.get(f"{uncached_server.url}/metrics").text
