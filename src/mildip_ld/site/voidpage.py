"""``/void.html``: the dataset's VoID/DCAT description as a page for people (the same triples as
``/void``, grouped by what they describe, links followed to this server's pages). ``/void`` sends
a browser here (:func:`~mildip_ld.site.web.prefers_html`); RDF clients, and clients that accept anything
(``*/*``, no Accept), keep getting Turtle."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mildip_ld.release.store import store_for
from mildip_ld.server.render_gate import Rendered
from mildip_ld.site.describe import Describer
from mildip_ld.site.dumppages import VOID_FORMATS, _void
from mildip_ld.site.web import VOID_PAGE, gate_of, page, public_base, release_of, root_path

router = APIRouter()
MAX_VALUES = 12
"""Values of one property shown for one subject (class and property partitions run to hundreds);
the rest are counted, and the Turtle description has them all."""


def _inline(node: ox.BlankNode, described: dict[str, list[ox.Triple]], describer: Describer) -> str:
    """A blank node (a partition, a checksum) as one line of text: ``property value; …``."""
    parts = []
    for triple in described.get(str(node), []):
        value = triple.object
        text = "[…]" if isinstance(value, ox.BlankNode) else describer.term(value).text
        parts.append(f"{describer.term(triple.predicate).text} {text}")
    return "; ".join(sorted(parts))


def _void_page(release: Path, base: str, root: str) -> Rendered:
    """The VoID triples by named subject and property (one row per property, its values one a
    line, at most :data:`MAX_VALUES`); blank nodes (partitions, checksums) inline as text."""
    triples = list(ox.parse(_void(release, base, VOID_FORMATS[0]).body, ox.RdfFormat.TURTLE))
    describer = Describer(store_for(release))
    described: dict[str, list[ox.Triple]] = defaultdict(list)
    for triple in triples:
        described[str(triple.subject)].append(triple)
    groups = []
    for subject in sorted(name for name in described if not name.startswith("_:")):
        rows = []
        for triple in described[subject]:
            value = triple.object
            shown = (
                _inline(value, described, describer)
                if isinstance(value, ox.BlankNode)
                else describer.term(value)
            )
            rows.append((describer.term(triple.predicate), shown))
        rows.sort(key=lambda row: (row[0].text.lower(), str(getattr(row[1], "text", row[1])).lower()))
        by_property: dict[str, tuple[object, list[object]]] = {}
        for predicate, shown in rows:
            by_property.setdefault(predicate.value, (predicate, []))[1].append(shown)
        shown_rows = [
            (
                predicate,
                values
                if len(values) <= MAX_VALUES
                else [*values[:MAX_VALUES], f"… and {len(values) - MAX_VALUES} more (see the Turtle)"],
            )
            for predicate, values in by_property.values()
        ]
        groups.append((subject.strip("<>"), shown_rows))
    return page("void.html", {"groups": groups, "count": len(triples)}, root)


@router.api_route(VOID_PAGE, methods=["GET", "HEAD"], include_in_schema=False)
async def void_page(request: Request) -> Response:
    """The VoID description as HTML."""
    release, base, root = release_of(request).resolve(), public_base(request), root_path(request)
    return await gate_of(request).respond(
        request, "void", (str(release), "void.html", root), lambda: _void_page(release, base, root)
    )
