"""Read in context: the article rendered with every passage anchored and the claims citing each
sentence (hedged ones marked), linked both ways with resource and passage pages; passage pages show
their section heading and neighbours; the source text is downloadable (only while unchanged)."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
import requests

from mildip_ld.release.build import BuildReport
from mildip_ld.release.store import open_store
from mildip_ld.site.article import article_of, in_context, source_file
from mildip_ld.vocab.config import DEFAULT_PATHS
from mildip_ld.vocab.namespaces import MD
from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
SOURCE = "military-diplomacy-in-russia"
PASSAGES = f"""PREFIX md: <{MD}> PREFIX oa: <http://www.w3.org/ns/oa#>
SELECT ?p WHERE {{ GRAPH ?g {{ ?p a md:Passage ;
  oa:hasSource <https://w3id.org/mildip/id/source/{SOURCE}> }} }}"""
CITATIONS = f"""PREFIX md: <{MD}>
SELECT ?claim ?passage ?modality WHERE {{ GRAPH ?g {{ ?claim md:statedIn ?passage .
  OPTIONAL {{ ?claim md:modality ?modality }} }} }}"""


def test_every_passage_is_in_the_article_once_in_reading_order(built: BuildReport):
    store = open_store(built.release)
    passages = {solution["p"].value for solution in store.query(PASSAGES)}
    article = article_of(built.release, SOURCE)
    listed = [sentence.iri for sentence in article.sentences]
    assert sorted(listed) == sorted(passages) and len(listed) == len(set(listed))
    lines = [sentence.line for sentence in article.sentences]
    assert lines == sorted(lines)
    text = Path(DEFAULT_PATHS.data, "sources", f"{SOURCE}.txt").read_text().splitlines()
    for paragraph in article.paragraphs:  # the sentences of a line are that line of the source, in order
        line = text[paragraph.line - 1]
        assert paragraph.item == line.startswith("- ")
        assert (
            " ".join(sentence.text for sentence in paragraph.sentences).split()
            == line.removeprefix("- ").split()
        )
    headings = [p.sentences[0].text for p in article.paragraphs if p.heading]
    assert "Historical Context of Military Diplomacy in Russia" in headings and len(headings) >= 5


def test_each_sentence_lists_the_claims_citing_it_hedged_ones_marked(built: BuildReport):
    article = article_of(built.release, SOURCE)
    citations = list(open_store(built.release).query(CITATIONS))
    hedged = 0
    for solution in citations:
        sentence = article.by_iri[solution["passage"].value]
        claim = next(c for c in sentence.claims if c.iri == solution["claim"].value)
        modality = solution["modality"].value if solution["modality"] is not None else None
        if modality is not None and modality != str(MD.stated):
            hedged += 1
            assert claim.modality == modality.rsplit("#", 1)[-1]
        else:
            assert claim.modality is None
    assert hedged >= 10 and len(citations) > 100


def test_the_article_page_and_resource_pages_link_both_ways(live_server: LiveServer):
    page = requests.get(f"{live_server.url}/read/{SOURCE}", headers=HTML, timeout=30)
    assert page.status_code == 200
    anchors = set(re.findall(r'<div class="sentence" id="([^"]+)"', page.text))
    assert len(anchors) > 100
    assert page.text.count('class="badge hedged"') >= 10
    assert '<a href="/id/russia">Russia</a>' in page.text  # mentioned entities link to their pages
    russia = requests.get(f"{live_server.url}/doc/russia.html", headers=HTML, timeout=30).text
    links = re.findall(rf'href="/read/{SOURCE}#([^"]+)">read in context', russia)
    assert links and set(links) <= anchors | set(re.findall(r'<h2 class="section" id="([^"]+)"', page.text))


def test_a_passage_page_shows_its_section_and_neighbours(live_server: LiveServer):
    page = requests.get(f"{live_server.url}/doc/passage/{SOURCE}/l5-s3.html", headers=HTML, timeout=30).text
    assert "Section: <strong>Historical Context of Military Diplomacy in Russia</strong>" in page
    assert f'rel="prev" href="/id/passage/{SOURCE}/l5-s2"' in page
    assert f'rel="next" href="/id/passage/{SOURCE}/l6-s1"' in page  # the next line's first sentence
    assert f'href="/read/{SOURCE}#l5-s3"' in page
    first = requests.get(f"{live_server.url}/doc/passage/{SOURCE}/l1-s1.html", headers=HTML, timeout=30).text
    assert 'rel="prev"' not in first and 'rel="next"' in first


def test_the_source_text_is_downloadable(live_server: LiveServer):
    answer = requests.get(f"{live_server.url}/source/{SOURCE}.txt", timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert answer.content == Path(DEFAULT_PATHS.data, "sources", f"{SOURCE}.txt").read_bytes()
    listing = requests.get(f"{live_server.url}/read/", headers=HTML, timeout=30).text
    assert f'href="/source/{SOURCE}.txt"' in listing
    assert 'href="/read/"' in requests.get(f"{live_server.url}/dumps/", headers=HTML, timeout=30).text


@pytest.mark.parametrize(
    "path",
    ["/source/..%2Fassertions%2Factors.txt", "/source/nothing.txt", "/read/nothing", "/read/..%2F..%2Fetc"],
)
def test_nothing_else_is_served_as_a_source(live_server: LiveServer, path: str):
    assert requests.get(live_server.url + path, headers=HTML, timeout=30).status_code == 404


def test_a_changed_source_text_is_not_served(built: BuildReport, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(DEFAULT_PATHS.data / "sources", data / "sources")
    assert source_file(built.release, data, SOURCE) is not None
    changed = data / "sources" / f"{SOURCE}.txt"
    changed.write_text(changed.read_text() + "An added sentence.\n")
    assert hashlib.sha256(changed.read_bytes()).hexdigest()  # a different text
    assert source_file(built.release, data, SOURCE) is None


def test_in_context_paths():
    assert in_context(f"https://w3id.org/mildip/id/passage/{SOURCE}/l3-s1") == f"/read/{SOURCE}#l3-s1"
    assert in_context("https://w3id.org/mildip/id/russia") is None
