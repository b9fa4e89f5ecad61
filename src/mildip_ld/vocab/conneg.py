"""Content negotiation for SPARQL answers: the ``format`` parameter, else the Accept header.

Accept headers are parsed by python-mimeparse (q-values, wildcards, several headers joined by
commas); media types are mapped to pyoxigraph's formats by their own ``from_media_type``, so
every answer is serialized by pyoxigraph in a format it knows.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import pyoxigraph as ox
from pyoxigraph import QueryResultsFormat as Results
from pyoxigraph import RdfFormat as Rdf

from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.formats import ANSWER_FORMATS, RESULTS_FORMATS, RdfFormat, ResultsFormat, negotiate


def _offers(formats: Sequence[RdfFormat | ResultsFormat]) -> tuple[str, ...]:
    """Each format's media type and aliases, least preferred first (mimeparse breaks ties in favour
    of the later one), so that ``*/*`` gets the first format of the registry."""
    return tuple(media for fmt in reversed(formats) for media in (*reversed(fmt.aliases), fmt.media_type))


RESULT_MEDIA_TYPES = _offers(RESULTS_FORMATS)
GRAPH_MEDIA_TYPES = _offers(ANSWER_FORMATS)

FORMAT_NAMES: dict[str, tuple[Results | None, Rdf | None]] = {
    **{fmt.name: (None, fmt.oxigraph) for fmt in ANSWER_FORMATS},
    **{fmt.name: (fmt.oxigraph, None) for fmt in RESULTS_FORMATS},
    # a name that fits both kinds of answer, and the names SPARQLWrapper sends in ``format``
    "json": (Results.JSON, Rdf.JSON_LD),
    "xml": (Results.XML, Rdf.RDF_XML),
    "json-ld": (None, Rdf.JSON_LD),
    "rdf+xml": (None, Rdf.RDF_XML),
}
"""``format`` values: the answer format for solutions/booleans and for graphs."""


class UnknownFormatError(MildipError, ValueError):
    """A ``format`` value that names no format."""

    status = 400


@dataclass(frozen=True)
class Choice:
    """The formats a request accepts: one for SELECT/ASK, one for CONSTRUCT/DESCRIBE (None: none)."""

    results: Results | None
    graph: Rdf | None
    asked: str
    """What the client asked for, to quote in a 406 message."""


def _best(accept: str, offers: tuple[str, ...]) -> str | None:
    """The offer the client prefers; the offers are listed default last, as mimeparse ranks ties."""
    return negotiate(accept, offers[::-1])


def negotiate_rdf(accept: str | None) -> Rdf | None:
    """The RDF format (graphs, service description) the Accept header prefers; None: none fits."""
    chosen = _best(accept or "*/*", GRAPH_MEDIA_TYPES)
    return Rdf.from_media_type(chosen) if chosen else None


def negotiate_results(accept: str | None) -> Results | None:
    """The SPARQL results format the Accept header prefers; None when none fits."""
    chosen = _best(accept or "*/*", RESULT_MEDIA_TYPES)
    return Results.from_media_type(chosen) if chosen else None


def _from_format_values(values: list[str]) -> Choice:
    for value in values:
        key = value.strip().lower()
        if key in FORMAT_NAMES:
            results, graph = FORMAT_NAMES[key]
            return Choice(results, graph, f"format={value}")
        if "/" in key:
            results, graph = Results.from_media_type(key), Rdf.from_media_type(key)
            if results or graph:
                return Choice(results, graph, f"format={value}")
    names = ", ".join(sorted(FORMAT_NAMES))
    raise UnknownFormatError(f"unknown format {', '.join(map(repr, values))}; use one of: {names}")


def choose(accept: str | None, format_values: list[str]) -> Choice:
    """Both answer formats for a request: ``format`` values win over the Accept header.

    Raises :class:`UnknownFormatError` when ``format`` values are given and none names a format.
    """
    if format_values:
        return _from_format_values(format_values)
    return _from_accept(accept)


@functools.lru_cache(maxsize=256)
def _from_accept(accept: str | None) -> Choice:
    """Both formats for an Accept header, remembered: clients send the same few headers again and
    again, and parsing them cost the server more than a small query (bounded, so odd headers
    cannot fill memory)."""
    return Choice(negotiate_results(accept), negotiate_rdf(accept), f"Accept: {accept or '*/*'}")


def prefers_json(accept: str | None) -> bool:
    """Whether the Accept header prefers ``application/json`` to plain text (for error details)."""
    return _best(accept or "text/plain", ("application/json", "text/plain")) == "application/json"


def media_type(fmt: Results | Rdf) -> str:
    """The Content-Type to answer with (UTF-8 stated for the text formats that lack it)."""
    value = fmt.media_type
    if value.startswith("text/") and "charset" not in value:
        value += "; charset=utf-8"
    return value


def offered(kind: str) -> str:
    """Human-readable list of the media types offered for ``results`` or ``graph`` answers."""
    formats = RESULTS_FORMATS if kind == "results" else ANSWER_FORMATS
    return ", ".join(fmt.media_type.split(";")[0] for fmt in formats)


def serialize_triples(triples: list[ox.Triple], fmt: Rdf, prefixes: dict[str, str]) -> bytes:
    """Serialize triples in ``fmt`` with pyoxigraph (into the default graph for dataset formats)."""
    items: list[ox.Triple] | list[ox.Quad] = triples
    if fmt.supports_datasets:
        items = [ox.Quad(t.subject, t.predicate, t.object) for t in triples]
    return ox.serialize(items, format=fmt, prefixes=prefixes) or b""
