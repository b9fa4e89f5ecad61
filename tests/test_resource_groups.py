"""Resource pages grouped by property: each statement with the sentence that states it inline, a
hedged badge on hedged claims, long groups collapsed and paged (every value reachable), and the
largest page of the dataset under 150 KiB."""

from __future__ import annotations

import re
from urllib.parse import quote

import requests
from rdflib import Dataset, URIRef

from mildip_ld.vocab.namespaces import MD, NAMED_GRAPHS, RESOURCE_BASE
from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)
from tests.test_pages import minted_iris

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
MAX_PAGE_BYTES = 150 * 1024
HEDGED_CLAIM = "challenge/economic-challenges"  # md:modality md:possible, md:hedgeCue "can"


def test_the_largest_resource_page_is_under_150_kib(live_server: LiveServer, dataset: Dataset):
    session = requests.Session()
    sizes = {}
    for iri in sorted(minted_iris(dataset)):
        answer = session.get(f"{live_server.url}/doc/{quote(iri[len(RESOURCE_BASE) :])}.html", timeout=60)
        assert answer.status_code == 200, iri
        sizes[iri] = len(answer.content)
    for path in ("/ontology.html", "/read/military-diplomacy-in-russia", "/browse/instruments", "/void.html"):
        sizes[path] = len(session.get(live_server.url + path, timeout=60).content)
    largest = max(sizes, key=sizes.get)
    assert sizes[largest] < MAX_PAGE_BYTES, (largest, sizes[largest])
    assert sizes[RESOURCE_BASE + "russia"] > 50_000  # the biggest subject still shows a lot


def test_statements_are_grouped_by_property_with_the_sentence_inline(live_server: LiveServer):
    text = requests.get(f"{live_server.url}/doc/russia.html", headers=HTML, timeout=60).text
    asserted = text[text.index('id="graph-asserted"') : text.index('id="graph-inferred"')]
    headings = re.findall(r'<section class="property-group">\s*<h4>(.*?)</h4>', asserted, re.S)
    assert len(headings) == len(set(headings)) >= 5  # one group per property and side
    assert '<q class="sentence">Military diplomacy in Russia has evolved as a significant tool' in asserted


def test_a_hedged_claim_carries_its_badge(live_server: LiveServer):
    text = requests.get(
        f"{live_server.url}/doc/activity/russian-military-diplomacy.html", headers=HTML, timeout=60
    ).text
    claim = text.index(f'href="/id/{HEDGED_CLAIM}"')
    badge = '<span class="badge hedged" title="hedged by “can”">possible: can</span>'
    assert badge in text[claim : claim + 400]
    stated = requests.get(f"{live_server.url}/doc/russia.html", headers=HTML, timeout=60).text
    assert stated.count('class="badge hedged"') < stated.count("<li>")  # stated claims carry none


def test_long_groups_are_collapsed_and_paged_to_the_last_value(live_server: LiveServer, dataset: Dataset):
    text = requests.get(f"{live_server.url}/doc/russia.html", headers=HTML, timeout=60).text
    assert '<details class="more-values">' in text
    links = re.findall(r'href="(/doc/russia\.html\?side=in&amp;property=[^"]+&amp;graph=asserted)"', text)
    assert links
    link = links[0].replace("&amp;", "&")
    predicate = URIRef(requests.utils.unquote(re.search(r"property=([^&]+)", link).group(1)))
    asserted = dataset.graph(NAMED_GRAPHS["asserted"])
    expected = {str(s) for s in asserted.subjects(predicate, URIRef(RESOURCE_BASE + "russia"))}
    seen: set[str] = set()
    number = 1
    while True:
        page = requests.get(f"{live_server.url}{link}&page={number}", headers=HTML, timeout=60)
        assert page.status_code == 200
        values = re.findall(r'<ul class="values group-page">(.*?)</ul>', page.text, re.S)[0]
        found = {RESOURCE_BASE + path for path in re.findall(r'<li><a href="/id/([^"]+)">', values)}
        assert found and not found & seen
        seen |= found
        if 'rel="next"' not in page.text:
            break
        number += 1
    assert seen == expected and number >= 2
    assert f"of {len(expected)}" in page.text


def test_bad_group_parameters_are_400(live_server: LiveServer):
    for query in (
        "side=sideways&property=x",
        "side=in&property=not%20an%20iri",
        f"side=in&property={quote(str(MD.hasAgent))}&graph=nowhere",
        f"side=in&property={quote(str(MD.hasAgent))}&page=0",
    ):
        answer = requests.get(f"{live_server.url}/doc/russia.html?{query}", headers=HTML, timeout=60)
        assert answer.status_code == 400, query
        assert "must be" in answer.text
