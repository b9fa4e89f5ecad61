"""Reuse: a second source about another country builds with the ontology and shapes unchanged, and
the named queries answer across both countries through the shared concepts and actors."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pyoxigraph as ox
import pytest

from mildip_ld.pipeline.mentions import MENTIONS_FILE, generated_text
from mildip_ld.pipeline.provenance import passages_graph, sha256_of
from mildip_ld.release.build import BuildReport, build
from mildip_ld.release.store import open_store
from mildip_ld.vocab.config import Paths
from mildip_ld.vocab.queries import named_queries

from .conftest import FIXTURES, ROOT

SECOND = FIXTURES / "second-source"
SLUG = "military-diplomacy-in-the-united-states"
QUERIES = {q.name: q for q in named_queries(ROOT / "queries")}


@pytest.fixture(scope="module")
def two_sources(paths: Paths, tmp_path_factory: pytest.TempPathFactory) -> tuple[Paths, BuildReport]:
    """The project's data plus the second source (its text, passages, claims and mention index)."""
    root: Path = tmp_path_factory.mktemp("two-sources")
    data = root / "data"
    shutil.copytree(paths.data, data)
    text = data / "sources" / f"{SLUG}.txt"
    shutil.copy(SECOND / text.name, text)
    passages_graph(text, SLUG, "Military diplomacy in the United States", data).serialize(
        data / "sources" / f"{SLUG}.ttl", format="turtle"
    )
    shutil.copy(SECOND / "claims-united-states.ttl", data / "assertions" / "claims-united-states.ttl")
    both = replace(paths, data=data, build=root / "build")
    (data / "assertions" / MENTIONS_FILE).write_text(generated_text(both), encoding="utf-8")
    return both, build(both)


def rows(store: ox.Store, name: str) -> list[dict[str, str]]:
    solutions = store.query(QUERIES[name].text, use_default_graph_as_union=True)
    variables = [v.value for v in solutions.variables]
    return [{v: (s[v].value if s[v] is not None else None) for v in variables} for s in solutions]


def test_the_second_source_uses_the_ontology_and_shapes_unchanged(
    paths: Paths, two_sources: tuple[Paths, BuildReport]
):
    both, report = two_sources
    assert (both.ontology, both.shapes) == (paths.ontology, paths.shapes)
    assert sha256_of(both.ontology) == sha256_of(ROOT / "ontology" / "mildip.ttl")
    assert report.counts["asserted"] > 0


def test_queries_answer_for_both_countries(two_sources: tuple[Paths, BuildReport]):
    store = open_store(two_sources[1].release)
    first = ROOT / "data" / "sources" / "military-diplomacy-in-russia.txt"
    texts = [first.read_text(encoding="utf-8"), (SECOND / f"{SLUG}.txt").read_text(encoding="utf-8")]
    ends = {}
    for row in rows(store, "aims-and-outcomes-by-end"):
        ends.setdefault((row["endLabel"], row["how"]), set()).add(row["agentLabel"])
    # what each country is said to achieve lines up under the same shared concepts
    assert {"Russia", "United States"} <= ends[("capability and interoperability", "outcome")]
    assert {"Russia", "United States"} <= ends[("alliances and partnerships", "outcome")]
    assert "United States" in ends[("trust and understanding", "aim")]
    members = {(r["memberLabel"], r["organizationLabel"]) for r in rows(store, "memberships")}
    assert {("United States", "NATO"), ("Russia", "Collective Security Treaty Organization")} <= members
    countered = {r["factorLabel"]: r["ofActorLabel"] for r in rows(store, "countered-factors")}
    assert countered["Chinese influence"] == "China" and "Western influence" in countered
    by_region = {(r["agentLabel"], r["regionLabel"]) for r in rows(store, "partners-by-region")}
    assert {("United States", "Asia-Pacific"), ("Russia", "Asia-Pacific")} <= by_region
    ship_visits = [r for r in rows(store, "instrument-taxonomy") if r["label"] == "ship visit"]
    assert [int(r["activities"]) for r in ship_visits] == [1]
    for row in rows(store, "outcomes-by-instrument") + rows(store, "frequency-qualified"):
        assert any(row["quote"] in text for text in texts)


def test_the_mention_index_covers_the_second_source(two_sources: tuple[Paths, BuildReport]):
    store = open_store(two_sources[1].release)
    passage = f"https://w3id.org/mildip/id/passage/{SLUG}/l3-s1"
    mentioned = {
        row["e"].value
        for row in store.query(
            f"SELECT ?e WHERE {{ ?e <https://w3id.org/mildip/ontology#mentionedIn> <{passage}> }}",
            use_default_graph_as_union=True,
        )
    }
    assert mentioned == {"https://w3id.org/mildip/id/united-states", "https://w3id.org/mildip/id/ukraine"}
