"""Source documents and their passages: W3C Web Annotation selectors with code-point offsets.

A passage is one sentence, list item or heading of a source text. Its IRI is
``<resource base>passage/<source slug>/l<line>-s<sentence>``; it carries a TextQuoteSelector (the
exact text) and a TextPositionSelector (start and end offsets, in Unicode code points from the
start of the file, end exclusive), so ``text[start:end] == exact`` always holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, PROV, RDF, RDFS, XSD

from mildip_ld.vocab.namespaces import MD, MDR, OA, SCHEMA, bind_prefixes
from mildip_ld.vocab.terms import select

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")
LIST_MARKER = re.compile(r"^-\s+")


@dataclass(frozen=True)
class Passage:
    """A span of a source text, ``text[start:end] == exact``."""

    line: int
    sentence: int
    start: int
    end: int
    exact: str

    @property
    def slug(self) -> str:
        """The last segment of the passage IRI, e.g. ``l19-s2``."""
        return f"l{self.line}-s{self.sentence}"


def source_iri(slug: str) -> URIRef:
    """The IRI of the source document with this slug."""
    return MDR[f"source/{slug}"]


def passage_iri(source_slug: str, passage_slug: str) -> URIRef:
    """The IRI of a passage of a source document."""
    return MDR[f"passage/{source_slug}/{passage_slug}"]


def segment(text: str) -> Iterator[Passage]:
    """Split a source text into passages: each line, then each sentence of it.

    Lines are paragraphs, headings or list items (``- `` markers are left out of the passage).
    """
    offset = 0
    for line_number, line in enumerate(text.split("\n"), start=1):
        body_start = offset
        marker = LIST_MARKER.match(line)
        body = line[marker.end() :] if marker else line
        body_start += len(line) - len(body)
        cursor = 0
        pieces = SENTENCE_END.split(body) if body.strip() else []
        for sentence_number, piece in enumerate(pieces, start=1):
            position = body.index(piece, cursor)
            stripped = piece.strip()
            position += len(piece) - len(piece.lstrip())
            start = body_start + position
            yield Passage(line_number, sentence_number, start, start + len(stripped), stripped)
            cursor = position + len(stripped)
        offset += len(line) + 1


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def passages_graph(text_file: Path, slug: str, title: str, data_dir: Path) -> Graph:
    """Describe a source document and every passage of it as RDF (the provenance graph's content)."""
    text = text_file.read_text(encoding="utf-8")
    graph = bind_prefixes(Graph())
    graph.bind("p", MDR[f"passage/{slug}/"])
    source = source_iri(slug)
    graph.add((source, RDF.type, MD.SourceDocument))
    graph.add((source, RDF.type, SCHEMA.Article))
    graph.add((source, RDFS.label, Literal(title, lang="en")))
    graph.add((source, DCTERMS.title, Literal(title, lang="en")))
    graph.add((source, DCTERMS.language, Literal("en")))
    graph.add((source, DCTERMS.format, Literal("text/plain; charset=utf-8")))
    graph.add((source, MD.localFile, Literal(text_file.relative_to(data_dir).as_posix())))
    graph.add((source, MD.sha256, Literal(sha256_of(text_file))))
    for passage in segment(text):
        node = passage_iri(slug, passage.slug)
        quote, position = URIRef(f"{node}#quote"), URIRef(f"{node}#position")
        graph.add((node, RDF.type, MD.Passage))
        graph.add((node, RDF.type, OA.SpecificResource))
        graph.add((node, RDFS.label, Literal(f"{title}, line {passage.line}, sentence {passage.sentence}")))
        graph.add((node, OA.hasSource, source))
        graph.add((node, DCTERMS.isPartOf, source))
        graph.add((node, PROV.wasQuotedFrom, source))
        graph.add((node, MD.lineNumber, Literal(passage.line, datatype=XSD.positiveInteger)))
        graph.add((node, OA.hasSelector, quote))
        graph.add((node, OA.hasSelector, position))
        graph.add((quote, RDF.type, OA.TextQuoteSelector))
        graph.add((quote, OA.exact, Literal(passage.exact)))
        graph.add((position, RDF.type, OA.TextPositionSelector))
        graph.add((position, OA.start, Literal(passage.start, datatype=XSD.nonNegativeInteger)))
        graph.add((position, OA.end, Literal(passage.end, datatype=XSD.nonNegativeInteger)))
    return graph


@dataclass(frozen=True)
class QuoteMismatch:
    """A passage whose quote is not the text at its offsets in the source file."""

    passage: URIRef
    exact: str
    found: str
    start: int
    end: int


QUOTES_QUERY = """
    PREFIX oa: <http://www.w3.org/ns/oa#>
    PREFIX md: <https://w3id.org/mildip/ontology#>
    SELECT ?passage ?file ?exact ?start ?end WHERE {
      ?passage oa:hasSource ?source ; oa:hasSelector ?q , ?p .
      ?source md:localFile ?file .
      ?q oa:exact ?exact .
      ?p oa:start ?start ; oa:end ?end .
    }"""


def source_text(data_dir: Path, file: str) -> str | None:
    """The text of the source ``file`` (relative to ``data_dir``); None unless it is a readable
    UTF-8 file inside ``data_dir`` (a path written in the data must not read anything else)."""
    root = data_dir.resolve()
    path = (root / file).resolve()
    if not path.is_relative_to(root):
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def check_quotes(store: ox.Store, data_dir: Path) -> list[QuoteMismatch]:
    """Compare every passage's exact quote with the source file's text at its offsets.

    Offsets that are not integers are left to the shapes (which require integer datatypes); a
    source file that is missing, unreadable or outside ``data_dir`` matches no quote."""
    texts: dict[str, str | None] = {}
    mismatches = []
    for row in select(store, QUOTES_QUERY):
        file = row["file"].value
        if file not in texts:
            texts[file] = source_text(data_dir, file)
        try:
            start, end, exact = int(row["start"].value), int(row["end"].value), row["exact"].value
        except ValueError:
            continue
        text = texts[file]
        found = f"<no source file {file!r} in the data folder>" if text is None else text[start:end]
        if found != exact:
            mismatches.append(QuoteMismatch(URIRef(row["passage"].value), exact, found, start, end))
    return mismatches
