"""The query page in a real browser: Debian's Chromium driven by Playwright (no browser download).

Opens ``/`` on a live server, types a query into Yasgui's editor, runs it, and reads the result
rows; picks an example query; reopens a shared link. Skipped when /usr/bin/chromium or the
playwright package is missing (CI installs Chromium in .ci/run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from mildip_ld.vocab.config import DEFAULT_PATHS
from mildip_ld.vocab.queries import named_queries
from tests.live_server import LiveServer, live_server  # noqa: F401 (fixture)

CHROMIUM = Path(os.environ.get("MILDIP_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
QUERY = (
    "PREFIX md: <https://w3id.org/mildip/ontology#>\n"
    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
    "SELECT ?state ?label WHERE { ?state a md:State ; rdfs:label ?label } ORDER BY ?label LIMIT 7"
)

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.server,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server: LiveServer) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []  # console errors and failed requests, CSP violations included
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.on("requestfailed", lambda request: page.problems.append(f"failed: {request.url}"))
    page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
    page.set_default_timeout(30_000)
    yield page
    context.close()


def run_query(page, text: str) -> None:
    """Replace the editor's text with ``text`` by typing it, and press the run button."""
    page.click(".CodeMirror")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)
    page.locator(".yasqe_queryButton:visible").click()


def test_type_a_query_run_it_and_see_rows(page, live_server: LiveServer):
    page.goto(f"{live_server.url}/")
    page.wait_for_selector(".CodeMirror")
    run_query(page, QUERY)
    page.wait_for_selector(".yasr tbody tr td a")
    rows = page.locator(".yasr tbody tr")
    assert rows.count() == 7
    assert page.locator(".CodeMirror .cm-keyword").count() > 0  # syntax highlighting
    first = page.locator(".yasr tbody tr").first.inner_text()
    assert "@en" in first
    link = page.locator(".yasr tbody tr td a").first.get_attribute("href")
    assert link.startswith(f"{live_server.url}/id/")  # resource links open this server's pages
    downloads = page.locator("#download-links a")
    assert downloads.count() == 4
    assert "format=csv" in page.locator('#download-links a[data-format="csv"]').get_attribute("href")
    assert not [p for p in page.problems if "favicon" not in p], page.problems


def test_result_link_opens_the_resource_page(page, live_server: LiveServer):
    page.goto(f"{live_server.url}/")
    page.wait_for_selector(".CodeMirror")
    run_query(page, QUERY)
    page.locator(".yasr tbody tr td a").first.click()
    page.wait_for_selector("h1")
    assert page.url.startswith(f"{live_server.url}/doc/") and page.url.endswith(".html")
    assert page.locator("#graph-asserted").count() == 1


def test_example_query_opens_in_a_tab_and_runs(page, live_server: LiveServer):
    examples = named_queries(DEFAULT_PATHS.queries)
    if not examples:
        pytest.skip("no example queries in queries/")
    chosen = next((q for q in examples if q.name == "csto-members"), examples[0])
    page.goto(f"{live_server.url}/")
    page.wait_for_selector(".CodeMirror")
    page.select_option("#examples", chosen.name)
    page.wait_for_function(
        "name => window.mildipYasgui.getTab().getQuery().includes(name)",
        arg=chosen.text.splitlines()[-1].strip(),
    )
    page.locator(".yasqe_queryButton:visible").click()
    page.wait_for_selector(".yasr tbody tr")
    assert page.locator(".yasr tbody tr").count() >= 1


def test_shared_link_reopens_the_same_query(page, live_server: LiveServer):
    page.goto(f"{live_server.url}/?query={quote(QUERY)}")
    page.wait_for_selector(".CodeMirror")
    assert page.evaluate("window.mildipYasgui.getTab().getQuery()") == QUERY
    share = page.locator("#share-link").get_attribute("href")
    fresh = page.context.new_page()
    fresh.goto(f"{live_server.url}{share}")
    fresh.wait_for_selector(".CodeMirror")
    assert fresh.evaluate("window.mildipYasgui.getTab().getQuery()") == QUERY


FAILING_QUERIES = [
    # (what fails, query, HTTP status, words of the server's message)
    ("syntax", "SELECT * WHERE { ?s ?p }", 400, "malformed query"),
    (
        "refused federated call",
        "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
        400,
        "SERVICE endpoint of this query is not allowed",
    ),
    ("too many results", "SELECT * WHERE { ?s ?p ?o }", 422, "more than"),
]


def script_errors(page) -> list[str]:
    return [problem for problem in page.problems if problem.startswith("script error")]


@pytest.mark.parametrize(
    ("kind", "text", "status", "words"), FAILING_QUERIES, ids=[q[0] for q in FAILING_QUERIES]
)
def test_a_failing_query_shows_its_status_and_message(
    page, live_server: LiveServer, kind, text, status, words
):
    page.goto(f"{live_server.url}/")
    page.wait_for_selector(".CodeMirror")
    run_query(page, text)
    error = page.wait_for_selector(".yasr .query-error")
    shown = error.inner_text()
    assert f"HTTP {status}" in shown, shown
    assert words in shown, shown
    assert error.get_attribute("role") == "alert"
    assert not script_errors(page), page.problems


def test_an_unreachable_server_is_said_in_the_result_pane(page, live_server: LiveServer):
    page.goto(f"{live_server.url}/")
    page.wait_for_selector(".CodeMirror")
    page.route(f"{live_server.url}/sparql", lambda route: route.abort())
    run_query(page, QUERY)
    shown = page.wait_for_selector(".yasr .query-error").inner_text()
    assert "could not be reached" in shown, shown
    assert not script_errors(page), page.problems


def test_the_editor_does_not_take_the_focus_and_tab_leaves_it(page, live_server: LiveServer):
    page.goto(f"{live_server.url}/")
    page.wait_for_selector(".CodeMirror")
    in_editor = "document.activeElement.matches('.CodeMirror textarea')"  # the editor's text input
    assert not page.evaluate(in_editor)  # nothing grabbed the focus on load
    page.click(".CodeMirror")
    assert page.evaluate(in_editor)
    page.keyboard.press("Tab")
    assert not page.evaluate(in_editor)  # Tab moved on: no keyboard trap
    page.click(".CodeMirror")
    page.keyboard.press("Shift+Tab")
    assert not page.evaluate(in_editor)
    assert "\t" not in page.evaluate("window.mildipYasgui.getTab().getQuery()")  # no tab typed instead


LONGEST_QUOTES = (
    "PREFIX oa: <http://www.w3.org/ns/oa#>\n"
    "SELECT ?quote WHERE { ?selector oa:exact ?quote } ORDER BY DESC(STRLEN(?quote)) LIMIT 3"
)


def test_quotes_are_shown_in_full_and_wrap_between_words(page, live_server: LiveServer):
    page.goto(f"{live_server.url}/")
    page.wait_for_selector(".CodeMirror")
    run_query(page, LONGEST_QUOTES)
    page.wait_for_selector(".yasr tbody tr td")
    cells = page.evaluate("""() => Array.from(document.querySelectorAll('.yasr tbody tr td:last-child div'))
        .map(d => ({text: d.innerText, overflows: d.scrollWidth > d.clientWidth + 1,
                    breaks: getComputedStyle(d).wordBreak, ellipsis: getComputedStyle(d).textOverflow}))""")
    assert len(cells) == 3
    for cell in cells:
        assert len(cell["text"]) > 150  # the longest quotes, in full (not cut to an ellipsis)
        assert not cell["overflows"], cell
        assert cell["breaks"] != "break-all" and cell["ellipsis"] != "ellipsis", cell


SCREENSHOTS = DEFAULT_PATHS.build / "screenshots"


def test_an_analysts_path_search_entity_sentence_explanation(page, live_server: LiveServer):
    """Search a word, open an entity, read its sentence in the article, open a derived fact's
    explanation; a screenshot of each step is written under build/screenshots/ for review."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_server.url}/browse/")
    page.fill("#site-search-q", "CSTO")
    page.press("#site-search-q", "Enter")
    page.wait_for_selector("ol.search-results")
    assert page.locator("ol.search-results mark").first.inner_text() == "CSTO"
    page.screenshot(path=str(SCREENSHOTS / "1-search.png"), full_page=True)

    page.locator('a.hit-title[href="/id/csto"]').click()
    page.wait_for_selector("h1")
    assert (
        page.url.endswith("/doc/csto.html")
        and "Collective Security Treaty Organization" in page.locator("h1").inner_text()
    )
    page.screenshot(path=str(SCREENSHOTS / "2-entity.png"))

    reading = page.locator("a.in-context").first
    anchor = reading.get_attribute("href").split("#")[1]
    reading.click()
    page.wait_for_selector(f"#{anchor}")
    assert "/read/military-diplomacy-in-russia" in page.url
    sentence = page.locator(f"#{anchor}")
    assert sentence.is_visible() and page.evaluate("document.querySelector(':target').id") == anchor
    page.screenshot(path=str(SCREENSHOTS / "3-sentence-in-context.png"))

    page.go_back()
    page.wait_for_selector("#graph-inferred")
    page.locator("#graph-inferred a.why").first.click()
    page.wait_for_selector("li.step")
    assert page.locator("li.step-inferred").count() >= 1 and page.locator("a.rule").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "4-explanation.png"), full_page=True)
    assert not script_errors(page), page.problems
    assert all(
        (SCREENSHOTS / name).stat().st_size > 10_000
        for name in ("1-search.png", "2-entity.png", "3-sentence-in-context.png", "4-explanation.png")
    )
