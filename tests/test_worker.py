"""The query worker's answers, without a process: one serialization in the negotiated format, the
row limit enforced exactly whichever path an answer takes, and the typed job messages."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pyoxigraph as ox
import pytest

from mildip_ld.engine.messages import Answer, QueryJob, StatsJob, job_from
from mildip_ld.engine.pool import WorkerConfig
from mildip_ld.engine.worker import MIN_ROW_BYTES, RECOUNT_ROW_BYTES, execute, run_query
from mildip_ld.vocab.conneg import Results, media_type

FORMATS = [Results.JSON, Results.XML, Results.CSV, Results.TSV]
EX = "http://example.org/"


def _values(count: int) -> str:
    return " ".join(str(number) for number in range(count))


def _store(words: int = 30) -> ox.Store:
    store = ox.Store()
    graph = ox.NamedNode(f"{EX}graph")
    for number in range(words):
        text = f'word {number}\twith "quotes", a comma\nand a line <b>&amp;</b> é'
        store.add(ox.Quad(ox.NamedNode(f"{EX}s{number}"), ox.NamedNode(f"{EX}p"), ox.Literal(text), graph))
    return store


def _config(max_results: int) -> dict[str, Any]:
    """What a worker is told at start (:class:`WorkerConfig`), with this row limit."""
    return asdict(WorkerConfig("", max_results=max_results))


def _answer(store: ox.Store, text: str, fmt: Results, max_results: int) -> tuple[dict, bytes]:
    return run_query(store, QueryJob(text, results=media_type(fmt)), _config(max_results))


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda fmt: fmt.name)
def test_a_solution_takes_at_least_its_minimum_bytes(fmt: Results) -> None:
    """The bound the limit relies on: n solutions that bind nothing (the shortest there are) add at
    least ``MIN_ROW_BYTES`` each to the document, whatever the variables."""
    store = ox.Store()
    for names in ("", "?x", "?x ?y ?z"):
        select = f"SELECT {names or '*'} WHERE {{ VALUES ?i {{ {{}} }} }}"
        empty = len(store.query(f"SELECT {names or '*'} WHERE {{ FILTER(false) }}").serialize(format=fmt))
        for count in (1, 2, 7, 50):
            shortest = select.replace("{ {} }", "{ " + _values(count) + " }").replace(
                "VALUES ?i", "VALUES ?j"
            )
            size = len(store.query(shortest).serialize(format=fmt))
            assert size - empty >= MIN_ROW_BYTES[fmt] * count, (names, count)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda fmt: fmt.name)
def test_answers_are_the_engines_own_serialization(fmt: Results) -> None:
    """What the worker sends is byte for byte what pyoxigraph writes for the query (escaped tabs,
    newlines, quotes, markup), as the TSV round trip it replaces gave."""
    store = _store()
    text = f"SELECT ?s ?o WHERE {{ GRAPH ?g {{ ?s <{EX}p> ?o }} }} ORDER BY ?s"
    header, body = _answer(store, text, fmt, 1000)
    assert header["status"] == 200 and header["content_type"] == media_type(fmt)
    direct = store.query(text, use_default_graph_as_union=True).serialize(format=fmt)
    assert body == direct
    if fmt != Results.CSV:  # the old way: TSV, parsed back, serialized again
        tsv = store.query(text, use_default_graph_as_union=True).serialize(format=Results.TSV)
        assert body == ox.parse_query_results(tsv, Results.TSV).serialize(format=fmt)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda fmt: fmt.name)
def test_the_row_limit_holds_for_the_shortest_solutions(fmt: Results) -> None:
    """Solutions that bind nothing pack the most rows into the fewest bytes: at the limit they are
    answered, one past it is refused (counted past the size bound)."""
    store = ox.Store()
    for count, status in ((10, 200), (11, 422), (500, 422)):
        header, body = _answer(store, f"SELECT ?x WHERE {{ VALUES ?i {{ {_values(count)} }} }}", fmt, 10)
        assert header["status"] == status, count
        if status == 422:
            assert b"more than 10 solutions" in body
        else:
            assert body == store.query(f"SELECT ?x WHERE {{ VALUES ?i {{ {_values(count)} }} }}").serialize(
                format=fmt
            )


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda fmt: fmt.name)
def test_the_row_limit_holds_for_answers_past_the_recount_bound(fmt: Results) -> None:
    """Long solutions (past ``RECOUNT_ROW_BYTES`` each) stop the first serialization; the answer is
    then counted as TSV and converted: still the engine's bytes, and still refused past the limit."""
    store = ox.Store()
    big = f'REPLACE(STR(?i), "^.*$", "{"x" * (2 * RECOUNT_ROW_BYTES)}")'
    text = f"SELECT ?i (CONCAT({big}, STR(?i)) AS ?long) WHERE {{ VALUES ?i {{ {{}} }} }} ORDER BY ?i"
    within = text.replace("{ {} }", "{ 1 2 3 }")
    header, body = _answer(store, within, fmt, 3)
    assert header["status"] == 200 and header["content_type"] == media_type(fmt)
    assert body == store.query(within, use_default_graph_as_union=True).serialize(format=fmt)
    header, body = _answer(store, text.replace("{ {} }", "{ 1 2 3 4 }"), fmt, 3)
    assert header["status"] == 422 and b"more than 3 solutions" in body


def test_ask_and_graph_answers_are_unchanged() -> None:
    store = _store(3)
    header, body = _answer(store, "ASK { ?s ?p ?o }", Results.JSON, 10)
    assert header["status"] == 200 and json.loads(body) == {"head": {}, "boolean": True}
    job = QueryJob("CONSTRUCT WHERE { ?s ?p ?o }", graph="application/n-triples")
    header, body = run_query(store, job, _config(2))
    assert header["status"] == 422 and b"more than 2 triples" in body


def test_jobs_travel_as_typed_messages() -> None:
    job = QueryJob("ASK {}", results=media_type(Results.JSON), base_iri=EX, default_graphs=[EX])
    assert job_from(json.loads(json.dumps(job.message()))) == job
    assert job.dataset_given and not QueryJob("ASK {}").dataset_given
    assert job_from(StatsJob().message()) == StatsJob()
    for bad in ({"op": "drop"}, {"op": "query"}, {"op": "query", "text": "ASK {}", "union": True}):
        with pytest.raises(ValueError):
            job_from(bad)
        header, body = execute(ox.Store(), bad, _config(1))
        assert header["status"] == 400 and body
    assert Answer.of({"status": 200, "content_type": "t", "repeatable": True}, b"x") == Answer(
        200, "t", b"x", {"repeatable": True}
    )
