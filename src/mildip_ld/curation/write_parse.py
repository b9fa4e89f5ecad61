"""The parse step of every write, run before the writer sees it, so that no document can hold the writer.

Each Graph Store body and each SPARQL Update is first parsed in a parser process of its own
(``python -m mildip_ld.curation.write_parse``, a :class:`~mildip_ld.engine.pool.WorkerPool` of one started
beside
the writer, over the same framed pipes), outside the writer's lock, under a time budget (the
process is killed past ``parse_timeout_s``) and an address-space cap (``parse_memory_mb``). A body
that passes reaches the writer as canonical N-Triples, which it reads again in linear time (with
:func:`parse_triples` too, so these rules hold for any caller of :mod:`mildip_ld.curation.commit`); an
update that passes is parsed again by the writer with the same rdflib parser and prefixes.

Before Oxigraph reads a document:

* XML (RDF/XML) is read by expat through defusedxml, refusing any DTD, entity declaration or
  external reference: Oxigraph's RDF/XML parser expands internal entities (a 1 KB "billion
  laughs" becomes gigabytes). Elements nested deeper than ``max_nesting`` are refused too: that
  parser's time grows with the square of the depth (10,000 levels, 460 KB: 4 s).
* JSON (JSON-LD) is read by Python's json module: nesting deeper than ``max_nesting`` is refused
  (Oxigraph's JSON-LD parser needs memory growing with the square of the depth, and 4,000 levels
  crash it), and so is a remote ``@context`` (an IRI, or an ``@import``; every one of a key given
  twice, since Oxigraph reads the first and Python's json the last), which Oxigraph would not
  load either: nothing is ever fetched.

What is left (quadratic cases of other shapes, documents that expand past memory) meets the
budget: the process is killed and the write answered 422 (time) or 413 (memory).
"""

from __future__ import annotations

import base64
import json
import sys
import xml.sax
import xml.sax.handler
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import defusedxml.sax
import pyoxigraph as ox
from defusedxml import DefusedXmlException

from mildip_ld.engine.worker import Reply, serve_jobs
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.settings import setting_default

N_TRIPLES = "application/n-triples"
XML_FORMATS = frozenset({ox.RdfFormat.RDF_XML})
JSON_FORMATS = frozenset({ox.RdfFormat.JSON_LD, ox.RdfFormat.STREAMING_JSON_LD})
DEFAULT_MAX_NESTING = setting_default("max_nesting")
"""The default of :attr:`~mildip_ld.vocab.settings.Settings.max_nesting`, for callers without settings."""


@dataclass(frozen=True)
class ParserConfig:
    """What the parser process is told at start."""

    memory_mb: int = 0
    nice: int = 0
    max_nesting: int = DEFAULT_MAX_NESTING


class ParseRefusedError(MildipError):
    """The document or update was not accepted; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status)


class _DepthLimit(xml.sax.handler.ContentHandler):
    """Counts the nesting of elements while expat reads them; refuses past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.depth = limit, 0

    def startElement(self, name: str, attrs: Any) -> None:  # noqa: N802 (SAX's name)
        self.depth += 1
        if self.depth > self.limit:
            raise ParseRefusedError(
                400,
                f"the XML document nests elements deeper than the limit of "
                f"{self.limit} levels; nothing was changed",
            )

    def endElement(self, name: str) -> None:  # noqa: N802 (SAX's name)
        self.depth -= 1


def check_xml(payload: bytes, max_nesting: int) -> None:
    """Refuse an XML document with a DTD, an entity declaration, an external reference, elements
    nested deeper than ``max_nesting``, or that is not well-formed (a real parse, by expat)."""
    try:
        defusedxml.sax.parseString(
            payload, _DepthLimit(max_nesting), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as refused:
        raise ParseRefusedError(
            400,
            f"RDF/XML with a DTD or entity declarations is not accepted "
            f"({refused}): write the entities out, or send Turtle or "
            f"N-Triples; nothing was changed",
        ) from None
    except xml.sax.SAXParseException as failure:
        raise ParseRefusedError(400, f"malformed RDF/XML document: {failure}") from None
    except ValueError as failure:  # an encoding expat cannot read (UTF-7: "multi-byte encodings ...")
        raise ParseRefusedError(400, f"malformed RDF/XML document: {failure}; send UTF-8") from None


class _Object(list[tuple[str, object]]):
    """A JSON object as the pairs of its text, duplicated keys included: Python's json keeps the
    last of a duplicated key, Oxigraph's JSON-LD parser the first, so each must be checked."""


def _remote_context(context: object) -> bool:
    """True when a JSON-LD ``@context`` value names a document to load (an IRI or an ``@import``)."""
    items = context if isinstance(context, list) and not isinstance(context, _Object) else [context]
    return any(
        isinstance(item, str) or (isinstance(item, _Object) and any(key == "@import" for key, _ in item))
        for item in items
    )


def check_json(payload: bytes, max_nesting: int) -> None:
    """Refuse a JSON-LD document nested deeper than ``max_nesting`` or with a remote ``@context``
    anywhere (scoped contexts included), or that is not JSON (a real parse, by Python's json)."""
    too_deep = ParseRefusedError(
        400,
        f"the JSON-LD document is nested deeper than the limit of {max_nesting} levels; nothing was changed",
    )
    try:  # numbers stay text: their value does not matter here, and long ones must not fail
        document = json.loads(
            payload, parse_int=str, parse_float=str, parse_constant=str, object_pairs_hook=_Object
        )
    except RecursionError:
        raise too_deep from None
    except ValueError as failure:  # not JSON, or not UTF-8/16/32
        raise ParseRefusedError(400, f"malformed JSON-LD document: {failure}") from None
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, _Object):
            if any(key == "@context" and _remote_context(context) for key, context in value):
                raise ParseRefusedError(
                    400,
                    "JSON-LD with a remote @context (an IRI or @import) is not "
                    "accepted: this server fetches nothing; put the context "
                    "in the document; nothing was changed",
                )
            children = [child for _, child in value]
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_nesting:
            raise too_deep
        pending += [(child, depth + 1) for child in children]


def parse_triples(
    payload: bytes, media_type: str | None, base_iri: str | None, max_nesting: int = DEFAULT_MAX_NESTING
) -> bytes:
    """The triples of a Graph Store body as canonical N-Triples, after the checks of its format.

    Raises :class:`ParseRefusedError`: 415 for a format that is not RDF, 400 for a refused or
    malformed document, or one that holds named graphs.
    """
    fmt = ox.RdfFormat.from_media_type(media_type or "")
    if fmt is None:
        raise ParseRefusedError(
            415, f"cannot read {media_type!r}; send Turtle, N-Triples, RDF/XML, JSON-LD or N3"
        )
    if fmt in XML_FORMATS:
        check_xml(payload, max_nesting)
    elif fmt in JSON_FORMATS:
        check_json(payload, max_nesting)
    default_graph = ox.DefaultGraph()

    def triples() -> Iterator[ox.Triple]:
        for quad in ox.parse(payload, format=fmt, base_iri=base_iri):
            if quad.graph_name != default_graph:
                raise ParseRefusedError(
                    400,
                    f"the {fmt.name} document holds named graphs; a Graph Store "
                    f"request writes the triples of one graph",
                )
            if isinstance(quad.subject, ox.Triple) or isinstance(quad.object, ox.Triple):
                raise ParseRefusedError(
                    400,
                    f"the {fmt.name} document holds a quoted triple (RDF-star "
                    f"<< >>), which the store's data model does not have; "
                    f"nothing was changed",
                )
            yield quad.triple

    try:
        return ox.serialize(triples(), format=ox.RdfFormat.N_TRIPLES) or b""
    except (SyntaxError, ValueError) as failure:
        raise ParseRefusedError(400, f"malformed {fmt.name} document: {failure}") from None


def parse_update(text: str, namespaces: dict[str, Any], base_iri: str | None = None) -> None:
    """Parse and translate ``text`` as the writer's rdflib will (with the release's ``namespaces``
    as predefined prefixes, relative IRIs against ``base_iri``); raise a 400 :class:`ParseRefusedError`
    when it cannot."""
    from rdflib.plugins.sparql.processor import prepareUpdate

    try:
        prepareUpdate(text, initNs=namespaces, base=base_iri)
    except RecursionError:
        raise ParseRefusedError(400, "malformed update: nested too deeply") from None
    except MemoryError:
        raise
    except Exception as failure:  # rdflib raises pyparsing's and its own unrelated types
        reason = " ".join(str(failure).split())
        raise ParseRefusedError(400, f"malformed update: {reason}") from None


JSON = "application/json"


def refusal_reply(status: int, message: str, violations: list[dict[str, str | None]] | None = None) -> Reply:
    """A refused write: status and a JSON body with the message and the violations."""
    body = json.dumps({"message": message, "violations": violations or []})
    return {"status": status, "content_type": JSON}, body.encode("utf-8")


def _start(_: dict[str, Any]) -> dict[str, Any]:
    """The prefixes a release's dataset predefines for updates (as
    :func:`~mildip_ld.release.build.load_release`
    binds them), with rdflib's SPARQL parser imported before answering "ready"."""
    from rdflib import Dataset
    from rdflib.plugins.sparql import processor  # noqa: F401

    from mildip_ld.vocab.namespaces import bind_prefixes

    return dict(bind_prefixes(Dataset()).namespaces())


def execute(namespaces: dict[str, Any], job: dict[str, Any], config: dict[str, Any]) -> Reply:
    """Parse one write job: a Graph Store body (answered 200 with its N-Triples) or an update
    (answered 204); a refusal is answered as the writer answers one."""
    try:
        if job.get("op") == "graph":
            body = parse_triples(
                base64.b64decode(job["payload"]),
                job.get("media_type"),
                job.get("graph"),
                config["max_nesting"],
            )
            return {"status": 200, "content_type": N_TRIPLES}, body
        if job.get("op") == "update":
            parse_update(job["text"], namespaces, job.get("base_iri"))
            return {"status": 204, "content_type": None}, b""
    except ParseRefusedError as refused:
        return refusal_reply(refused.status, refused.message)
    except MemoryError:
        return refusal_reply(
            413,
            f"the document needs more than the {config.get('memory_mb')} MiB that a "
            f"parse may use (MILDIP_PARSE_MEMORY_MB); nothing was changed",
        )
    return refusal_reply(400, f"unknown job {job.get('op')!r}")


def main() -> int:
    """The parser process's loop."""
    return serve_jobs(_start, execute)


if __name__ == "__main__":
    sys.exit(main())
