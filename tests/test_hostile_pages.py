"""Attacks on the pages through the render gate (:mod:`mildip_ld.server.render_gate`), on real servers:
VoID with a new Host header each time is rendered once and names none of them; a render past the
concurrency bound, or past its time limit, is refused with 503 and Retry-After (and the render is
kept when it ends); a kept page is the page rendered; a new release empties the cache."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mildip_ld.release.build import BuildReport
from mildip_ld.release.dumps import DUMPS_DIR
from mildip_ld.vocab.settings import PUBLIC_URL
from tests.live_server import LiveServer, build_dir_of, serve
from tests.test_release_follow import _add_mark, _publish_copy

pytestmark = pytest.mark.server

HTML = {"Accept": "text/html"}


def _copy_without_dumps(built: BuildReport, folder: Path) -> Path:
    """A copy of the build whose release has no dumps yet: its first listing or VoID generates them
    (about two seconds), the slowest render there is."""
    copy = folder / "build"
    shutil.copytree(build_dir_of(built), copy, symlinks=True)
    for release in (copy / "releases").iterdir():
        shutil.rmtree(release / DUMPS_DIR, ignore_errors=True)
    return copy


@pytest.fixture(scope="module")
def fresh(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with the default render settings on a copy of the build the tests publish into, but
    for a time limit that fits generating the dumps (the derivations record's take some 10 s)."""
    folder = tmp_path_factory.mktemp("gate")
    yield from serve(_copy_without_dumps(built, folder), folder / "fresh.log", render_timeout_s="60")


@pytest.fixture(scope="module")
def narrow(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One render at a time, none waiting, each awaited at most half a second."""
    folder = tmp_path_factory.mktemp("narrow")
    yield from serve(
        _copy_without_dumps(built, folder),
        folder / "narrow.log",
        render_concurrency="1",
        render_queue="0",
        render_timeout_s="0.5",
    )


def renders(server: LiveServer, what: str, outcome: str) -> float:
    """The server's ``mildip_render_total{what, outcome}``."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mildip_render_total" and sample.labels == {"what": what, "outcome": outcome}:
                return sample.value
    return 0.0


def eventually(check: Callable[[], httpx.Response], seconds: float = 60.0) -> httpx.Response:
    """``check()`` again until it answers 200 (at most ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_void_with_twenty_host_headers_is_rendered_once(fresh: LiveServer) -> None:
    bodies = set()
    with httpx.Client(base_url=fresh.url, timeout=60) as client:
        for number in range(20):
            answer = client.get("/.well-known/void", headers={"Host": f"attacker-{number}.example:666"})
            assert answer.status_code == 200, answer.text
            assert b"attacker" not in answer.content and b":666" not in answer.content
            bodies.add(answer.content)
    assert len(bodies) == 1
    assert f"<{PUBLIC_URL}sparql>".encode() in next(iter(bodies))  # the public_url setting's
    assert renders(fresh, "void", "rendered") == 1
    assert renders(fresh, "void", "hit") + renders(fresh, "void", "shared") == 19


def test_a_kept_page_is_the_page_rendered(fresh: LiveServer) -> None:
    before = renders(fresh, "resource", "rendered")
    first = httpx.get(f"{fresh.url}/doc/russia.html", timeout=60)
    second = httpx.get(f"{fresh.url}/doc/russia.html", timeout=60)
    assert renders(fresh, "resource", "rendered") == before + 1 and renders(fresh, "resource", "hit") >= 1
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and "<h1>Russia</h1>" in first.text
    assert {k: v for k, v in first.headers.items() if k != "date"} == {
        k: v for k, v in second.headers.items() if k != "date"
    }
    assert "default-src 'self'" in second.headers["content-security-policy"]
    again = httpx.get(
        f"{fresh.url}/doc/russia.html", headers={"If-None-Match": first.headers["etag"]}, timeout=60
    )
    assert again.status_code == 304 and again.content == b""


def test_the_largest_page_is_bounded_and_links_to_all_its_statements(fresh: LiveServer) -> None:
    page = httpx.get(f"{fresh.url}/doc/russia.html", timeout=60)
    assert page.status_code == 200 and len(page.content) < 300_000  # was 628 KB with all 860 statements
    assert 'class="more"' in page.text and 'href="/doc/russia.ttl"' in page.text
    full = httpx.get(f"{fresh.url}/doc/russia.nt", timeout=60)
    assert full.text.count("\n") > 800  # the RDF document has every statement


def test_graph_store_reads_are_rendered_once(fresh: LiveServer) -> None:
    url = f"{fresh.url}/store?graph=https://w3id.org/mildip/graph/ontology"
    answers = [
        httpx.get(url, headers={"Accept": "text/turtle", "Host": f"h{n}.example"}, timeout=60)
        for n in range(3)
    ]
    assert all(answer.status_code == 200 for answer in answers)
    assert len({answer.content for answer in answers}) == 1
    assert renders(fresh, "graph_store", "rendered") == 1


def test_past_its_time_limit_a_render_is_refused_then_kept(narrow: LiveServer) -> None:
    slow = httpx.get(f"{narrow.url}/dumps/", timeout=60)  # generates the dumps: seconds, limit 0.5 s
    assert slow.status_code == 503 and slow.headers["retry-after"] == "1"
    assert "longer than the 0.5 s limit" in slow.text
    assert renders(narrow, "dumps", "timeout") == 1
    # the render goes on and keeps its slot: a second render is refused at once, not queued
    refused = httpx.get(f"{narrow.url}/doc/china.html", timeout=60)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "busy" in refused.text
    assert renders(narrow, "resource", "busy") == 1
    # once it ends, its answer is kept: the listing is served without another render
    assert eventually(lambda: httpx.get(f"{narrow.url}/dumps/", timeout=60)).status_code == 200
    assert renders(narrow, "dumps", "rendered") == 1
    assert eventually(lambda: httpx.get(f"{narrow.url}/doc/china.html", timeout=60)).status_code == 200


def test_refusals_never_delay_health(narrow: LiveServer) -> None:
    answer = httpx.get(f"{narrow.url}/health", timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_a_new_release_empties_the_cache(fresh: LiveServer) -> None:
    void = httpx.get(f"{fresh.url}/void", timeout=60)
    page = httpx.get(f"{fresh.url}/doc/russia.html", timeout=60)
    assert void.status_code == page.status_code == 200
    rendered = renders(fresh, "void", "rendered"), renders(fresh, "resource", "rendered")

    _publish_copy(fresh.build_dir, "29990201T000000000000Z", _add_mark)  # one more quad

    new_void = httpx.get(f"{fresh.url}/void", timeout=60)
    new_page = httpx.get(f"{fresh.url}/doc/russia.html", timeout=60)
    assert renders(fresh, "void", "rendered") == rendered[0] + 1
    assert renders(fresh, "resource", "rendered") == rendered[1] + 1
    assert new_void.content != void.content  # the counts of the new release
    assert new_page.content == page.content  # the same data about Russia, rendered again
