"""Browse pages: a page per kind (actors by kind, instruments by the taxonomy, aims, outcomes,
challenges, factors, regions, periods, technologies) listing its members under their classes with
counts, reachable from the navigation of every page."""

from __future__ import annotations

import re

import pyoxigraph as ox
import pytest
import requests

from mildip_ld.release.build import BuildReport
from mildip_ld.release.store import open_store
from mildip_ld.site.browse import KINDS, ClassNode, class_tree
from mildip_ld.vocab.namespaces import MD, NAMED_GRAPHS
from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def members(tree: ClassNode) -> list[str]:
    below = [iri for child in tree.children for iri in members(child)]
    return [member.iri for member in tree.members] + below


def check_totals(tree: ClassNode) -> None:
    assert tree.total == len(tree.members) + sum(child.total for child in tree.children)
    for child in tree.children:
        check_totals(child)


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_member_is_listed_once_and_the_counts_add_up(built: BuildReport, kind: str):
    store = open_store(built.release)
    cls = MD[KINDS[kind][1]]
    tree = class_tree(store, ox.NamedNode(str(cls)))
    listed = members(tree)
    assert len(listed) == len(set(listed)) and tree.total == len(listed) > 0
    check_totals(tree)
    # the same members the reasoner says are of the class (asserted or inferred types), as SPARQL counts them
    typed = {
        solution["m"].value
        for solution in store.query(
            f"SELECT DISTINCT ?m WHERE {{ {{ GRAPH <{NAMED_GRAPHS['asserted']}> {{ ?m a <{cls}> }} }} UNION "
            f"{{ GRAPH <{NAMED_GRAPHS['inferred']}> {{ ?m a <{cls}> }} }} "
            f"FILTER(STRSTARTS(STR(?m), 'https://w3id.org/mildip/id/')) }}"
        )
    }
    assert set(listed) == typed


def test_instruments_follow_the_taxonomy(built: BuildReport):
    tree = class_tree(open_store(built.release), ox.NamedNode(str(MD.MilitaryDiplomacyActivity)))
    labels = {child.label for child in tree.children}
    assert len(tree.children) >= 4 and all(
        child.children or child.members for child in tree.children if child.total
    )
    assert any("exercise" in label.lower() for label in labels) or any(
        "exercise" in grandchild.label.lower() for child in tree.children for grandchild in child.children
    )


def test_browse_is_in_the_navigation_and_lists_every_kind(live_server: LiveServer):
    home = requests.get(f"{live_server.url}/", headers=HTML, timeout=30)
    assert '<a href="/browse/">Browse</a>' in home.text
    index = requests.get(f"{live_server.url}/browse/", headers=HTML, timeout=30)
    assert index.status_code == 200
    for kind in KINDS:
        assert f'href="/browse/{kind}"' in index.text
    listing = requests.get(f"{live_server.url}/browse/", params={"format": "json"}, timeout=30).json()
    assert [entry["kind"] for entry in listing] == list(KINDS)
    assert all(entry["total"] > 0 for entry in listing)


def test_a_kind_page_links_its_members_with_counts(live_server: LiveServer):
    answer = requests.get(f"{live_server.url}/browse/actors", headers=HTML, timeout=30)
    assert answer.status_code == 200
    assert '<a href="/id/russia">Russia</a>' in answer.text
    counts = [int(n) for n in re.findall(r'<span class="count"[^>]*>(\d+)</span>', answer.text)]
    as_json = requests.get(
        f"{live_server.url}/browse/actors", headers={"Accept": "application/json"}, timeout=30
    ).json()
    assert counts[0] == as_json["total"] >= 10
    russia = requests.get(f"{live_server.url}/id/russia", headers=HTML, timeout=30)
    assert russia.status_code == 200


def test_an_unknown_kind_is_404(live_server: LiveServer):
    assert requests.get(f"{live_server.url}/browse/nothing", headers=HTML, timeout=30).status_code == 404
