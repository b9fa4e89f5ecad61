"""Read in context: ``/read/{source}`` renders a source article from its passages, every sentence
anchored (``#l63-s2``, the passage IRI's last segment) and followed by the claims that cite it
(``md:statedIn``; hedged ones, whose ``md:modality`` is not ``md:stated``, marked with their
modality and hedge word) and the entities it mentions, each linked to its page; resource pages
link back to the sentence (:func:`in_context`). ``/source/{source}.txt`` is the source text itself,
served from the data folder only while its SHA-256 is the one the release records.

The article is plain text, one paragraph per line; a line that is one sentence without a final
``.``, ``!``, ``?`` or ``:`` is taken for a section heading, and one whose first sentence starts
after a two-character marker (``- ``) for a list item (the text has no other markup). A
passage's page shows its section heading and the previous and next sentence (:func:`context_of`).
Everything is read from the release's store by pattern scans and rendered through the render gate.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mildip_ld.release.store import store_for
from mildip_ld.server.files import file_response
from mildip_ld.server.render_gate import Rendered
from mildip_ld.site.describe import local_path
from mildip_ld.site.web import (
    gate_of,
    invalid_iri,
    not_found,
    page,
    release_of,
    root_path,
    templates,
)
from mildip_ld.vocab.namespaces import MD, NAMED_GRAPHS, OA, RESOURCE_BASE

router = APIRouter()

RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
DC_TITLE = ox.NamedNode("http://purl.org/dc/terms/title")
PASSAGE = ox.NamedNode(str(MD.Passage))
SOURCE_DOCUMENT = ox.NamedNode(str(MD.SourceDocument))
HAS_SOURCE, HAS_SELECTOR = ox.NamedNode(str(OA.hasSource)), ox.NamedNode(str(OA.hasSelector))
EXACT, START = ox.NamedNode(str(OA.exact)), ox.NamedNode(str(OA.start))
LINE = ox.NamedNode(str(MD.lineNumber))
STATED_IN, MENTIONED_IN = ox.NamedNode(str(MD.statedIn)), ox.NamedNode(str(MD.mentionedIn))
MODALITY, HEDGE_CUE = ox.NamedNode(str(MD.modality)), ox.NamedNode(str(MD.hedgeCue))
STATED = str(MD.stated)
LOCAL_FILE, SHA256 = ox.NamedNode(str(MD.localFile)), ox.NamedNode(str(MD.sha256))
ASSERTED = ox.NamedNode(str(NAMED_GRAPHS["asserted"]))
PROVENANCE = ox.NamedNode(str(NAMED_GRAPHS["provenance"]))
SOURCE_BASE = RESOURCE_BASE + "source/"
PASSAGE_BASE = RESOURCE_BASE + "passage/"
LIST_MARKER_CHARS = 2
SENTENCE_END = (".", "!", "?", ":", "”", '"')


@dataclass(frozen=True)
class Citation:
    """A claim citing a sentence, or an entity it mentions: label, page, and its hedge when hedged."""

    iri: str
    label: str
    href: str
    modality: str | None = None
    cue: str | None = None


@dataclass
class Sentence:
    iri: str
    anchor: str
    line: int
    text: str
    start: int | None = None
    """Offset of the sentence in the source text (its ``oa:TextPositionSelector``)."""
    claims: list[Citation] = field(default_factory=list)
    mentions: list[Citation] = field(default_factory=list)

    @property
    def href(self) -> str:
        """The passage's path on this server."""
        return local_path(self.iri) or self.iri


@dataclass
class Paragraph:
    line: int
    sentences: list[Sentence]
    heading: bool
    item: bool = False
    """A list item: its line begins with a two-character marker (``- ``) before its first sentence."""


@dataclass
class Article:
    iri: str
    name: str
    title: str
    paragraphs: list[Paragraph]
    by_iri: dict[str, Sentence]
    headings: dict[int, str]
    """Each line's section heading (the last heading line at or before it)."""

    @property
    def sentences(self) -> list[Sentence]:
        return [sentence for paragraph in self.paragraphs for sentence in paragraph.sentences]


def _one(
    store: ox.Store, subject: ox.NamedNode | ox.BlankNode, predicate: ox.NamedNode, graph: ox.NamedNode
) -> str | None:
    quads = store.quads_for_pattern(subject, predicate, None, graph)
    return next((quad.object.value for quad in quads if not isinstance(quad.object, ox.Triple)), None)


def _label(store: ox.Store, node: ox.NamedNode) -> str:
    return _one(store, node, RDFS_LABEL, ASSERTED) or node.value.rsplit("/", 1)[-1]


def hedge_of(store: ox.Store, node: ox.NamedNode) -> tuple[str, str | None] | None:
    """(modality, hedge word) of a hedged claim (its ``md:modality`` is not ``md:stated``), else None."""
    modality = _one(store, node, MODALITY, ASSERTED)
    if modality is None or modality == STATED:
        return None
    return modality.rsplit("#", 1)[-1], _one(store, node, HEDGE_CUE, ASSERTED)


def hedges_of(store: ox.Store, iris: set[str]) -> dict[str, tuple[str, str | None]]:
    """The hedged claims among ``iris``, with their modality and hedge word."""
    found = {iri: hedge_of(store, ox.NamedNode(iri)) for iri in iris}
    return {iri: hedge for iri, hedge in found.items() if hedge is not None}


def _citation(store: ox.Store, node: ox.NamedNode) -> Citation:
    hedge = hedge_of(store, node)
    return Citation(
        node.value, _label(store, node), local_path(node.value) or node.value, *(hedge or (None, None))
    )


def _citing(store: ox.Store, predicate: ox.NamedNode, passage: ox.NamedNode) -> dict[str, ox.NamedNode]:
    quads = store.quads_for_pattern(None, predicate, passage, ASSERTED)
    return {quad.subject.value: quad.subject for quad in quads if isinstance(quad.subject, ox.NamedNode)}


def _is_heading(sentences: list[Sentence]) -> bool:
    return len(sentences) == 1 and not sentences[0].text.rstrip().endswith(SENTENCE_END)


def _mark_items(paragraphs: list[Paragraph]) -> None:
    """Mark the list items: a line whose first sentence starts two characters after the end of the
    line before it (the ``- `` marker, which no passage quotes)."""
    for before, paragraph in zip(paragraphs, paragraphs[1:], strict=False):
        last, first = before.sentences[-1], paragraph.sentences[0]
        if last.start is not None and first.start is not None and paragraph.line == before.line + 1:
            paragraph.item = first.start - (last.start + len(last.text) + 1) == LIST_MARKER_CHARS


def build_article(store: ox.Store, source: ox.NamedNode) -> Article:
    """The article ``source`` as paragraphs of sentences with their citations."""
    sentences: list[tuple[int, Sentence]] = []
    for quad in store.quads_for_pattern(None, HAS_SOURCE, source, PROVENANCE):
        passage = quad.subject
        if not isinstance(passage, ox.NamedNode):
            continue
        text, start = None, None
        for quad in store.quads_for_pattern(passage, HAS_SELECTOR, None, PROVENANCE):
            selector = quad.object
            if not isinstance(selector, ox.NamedNode | ox.BlankNode):
                continue
            text = text or _one(store, selector, EXACT, PROVENANCE)
            found = _one(store, selector, START, PROVENANCE)
            start = int(found) if found is not None else start
        line = _one(store, passage, LINE, PROVENANCE)
        if text is None or line is None:
            continue
        sentence = Sentence(passage.value, passage.value.rsplit("/", 1)[-1], int(line), text, start)
        claims = _citing(store, STATED_IN, passage)
        mentioned = _citing(store, MENTIONED_IN, passage)
        sentence.claims = [_citation(store, node) for _, node in sorted(claims.items())]
        sentence.mentions = sorted(
            (_citation(store, node) for node in mentioned.values()),
            key=lambda citation: citation.label.lower(),
        )
        sentences.append((start if start is not None else int(line) * 10_000, sentence))
    lines: dict[int, list[Sentence]] = defaultdict(list)
    for _, sentence in sorted(sentences, key=lambda pair: (pair[1].line, pair[0])):
        lines[sentence.line].append(sentence)
    paragraphs = [Paragraph(number, found, _is_heading(found)) for number, found in sorted(lines.items())]
    _mark_items(paragraphs)
    headings: dict[int, str] = {}
    current = ""
    for paragraph in paragraphs:
        if paragraph.heading:
            current = paragraph.sentences[0].text
        headings[paragraph.line] = current
    title = _one(store, source, DC_TITLE, PROVENANCE) or _label(store, source)
    by_iri = {sentence.iri: sentence for paragraph in paragraphs for sentence in paragraph.sentences}
    return Article(source.value, source.value[len(SOURCE_BASE) :], title, paragraphs, by_iri, headings)


@functools.lru_cache(maxsize=8)
def article_of(release: Path, name: str) -> Article | None:
    """The article ``/id/source/{name}`` of a release, once per release and process; None if none."""
    store = store_for(release)
    source = ox.NamedNode(SOURCE_BASE + name)
    if not any(True for _ in store.quads_for_pattern(source, RDF_TYPE, SOURCE_DOCUMENT, PROVENANCE)):
        return None
    return build_article(store, source)


def in_context(passage_iri: str) -> str | None:
    """This server's path of a passage's sentence in its article (``/read/{source}#{anchor}``)."""
    if not passage_iri.startswith(PASSAGE_BASE):
        return None
    source, _, anchor = passage_iri[len(PASSAGE_BASE) :].rpartition("/")
    return f"/read/{source}#{anchor}" if source and anchor else None


templates.env.filters["in_context"] = in_context


@dataclass(frozen=True)
class PassageContext:
    """Where a passage stands in its article: section heading, neighbours, link to the sentence."""

    heading: str
    previous: Sentence | None
    next: Sentence | None
    href: str


def context_of(release: Path, passage_iri: str) -> PassageContext | None:
    """The context of a passage (None when ``passage_iri`` is not a passage of a served article)."""
    href = in_context(passage_iri)
    if href is None:
        return None
    article = article_of(release, passage_iri[len(PASSAGE_BASE) :].rpartition("/")[0])
    if article is None or passage_iri not in article.by_iri:
        return None
    sentences = article.sentences
    index = next(i for i, sentence in enumerate(sentences) if sentence.iri == passage_iri)
    return PassageContext(
        article.headings.get(sentences[index].line, ""),
        sentences[index - 1] if index > 0 else None,
        sentences[index + 1] if index + 1 < len(sentences) else None,
        href,
    )


def _reading(root: str, article: Article, has_text: bool) -> Rendered:
    return page("article.html", {"a": article, "has_text": has_text}, root)


def source_file(release: Path, data_dir: Path, name: str) -> Path | None:
    """The source text of ``/id/source/{name}`` in the data folder, when its SHA-256 is the release's."""
    store = store_for(release)
    source = ox.NamedNode(SOURCE_BASE + name)
    relative, digest = _one(store, source, LOCAL_FILE, PROVENANCE), _one(store, source, SHA256, PROVENANCE)
    if relative is None or digest is None:
        return None
    folder = data_dir.resolve()
    candidate = (folder / relative).resolve()
    if not candidate.is_relative_to(folder) or not candidate.is_file():
        return None
    return candidate if hashlib.sha256(candidate.read_bytes()).hexdigest() == digest else None


def sources_of(release: Path) -> list[tuple[str, str]]:
    """(name, title) of every source document of a release."""
    store = store_for(release)
    found = [
        quad.subject
        for quad in store.quads_for_pattern(None, RDF_TYPE, SOURCE_DOCUMENT, PROVENANCE)
        if isinstance(quad.subject, ox.NamedNode) and quad.subject.value.startswith(SOURCE_BASE)
    ]
    titles = {node.value: _one(store, node, DC_TITLE, PROVENANCE) or _label(store, node) for node in found}
    return sorted((iri[len(SOURCE_BASE) :], title) for iri, title in titles.items())


def _sources_page(release: Path, data_dir: Path, root: str) -> Rendered:
    sources = [
        (name, title, source_file(release, data_dir, name) is not None) for name, title in sources_of(release)
    ]
    return page("sources.html", {"sources": sources}, root)


def _plain_name(name: str) -> bool:
    """Whether ``name`` can name a source: one path segment that makes a valid IRI."""
    return bool(name) and "/" not in name and invalid_iri(SOURCE_BASE + name) is None


@router.api_route("/read/", methods=["GET", "HEAD"], include_in_schema=False)
async def sources(request: Request) -> Response:
    """The source documents: each to read in context, and its text to download."""
    release, root = release_of(request).resolve(), root_path(request)
    data_dir = request.app.state.settings.data_dir
    return await gate_of(request).respond(
        request, "article", (str(release), "read/", root), lambda: _sources_page(release, data_dir, root)
    )


@router.api_route("/read/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def read(request: Request, name: str) -> Response:
    """The article, every sentence anchored, with the claims citing it and the entities it mentions."""
    release, root = release_of(request).resolve(), root_path(request)
    article = article_of(release, name) if _plain_name(name) else None
    if article is None:
        return not_found(request, f"/read/{name}")
    has_text = source_file(release, request.app.state.settings.data_dir, name) is not None
    return await gate_of(request).respond(
        request,
        "article",
        (str(release), "read", name, has_text, root),
        lambda: _reading(root, article, has_text),
    )


@router.api_route("/source/{name}.txt", methods=["GET", "HEAD"], include_in_schema=False)
async def source_text(request: Request, name: str) -> Response:
    """The source text, as the data folder has it, when it is the text the release quotes."""
    release = release_of(request).resolve()
    found = source_file(release, request.app.state.settings.data_dir, name) if _plain_name(name) else None
    if found is None:
        return not_found(
            request, f"/source/{name}.txt", "not a source of this release, or its text changed since"
        )
    return file_response(request, found, "text/plain; charset=utf-8")
