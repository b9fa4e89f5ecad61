"""The ontology's diagram: its classes with their subclass edges and its object properties as
edges from domain to range, laid out by Graphviz ``dot`` as SVG (``/ontology.svg``, shown on the
ontology's page).

Why Graphviz, at render time: ``dot`` is the maintained layout engine for layered directed graphs
(Debian's ``graphviz``); the ``graphviz`` Python package writes the DOT source, quoting and escaping
every name and label, and ``dot`` runs here with a time limit (that package's ``pipe`` has none),
so no coordinates are computed by this module. The diagram is a view of the release's ontology
graph like the page itself, so it is drawn where the page is drawn: through the render gate, once
per release and mount point, then kept in the gate's cache (a release built before this module
gets its diagram too). A JavaScript renderer (WebVOWL's) would put a layout engine and the whole
ontology in every browser, for a picture that is the same for everyone.

The SVG is shown with ``<img>`` (the pages' Content-Security-Policy has ``object-src 'none'``,
and an image runs no script); opened by itself it links each class to its documentation.
"""

from __future__ import annotations

import subprocess

import graphviz
from rdflib import BNode, Graph, URIRef
from rdflib.namespace import OWL, RDFS

from mildip_ld.site.ontodoc import Reader, superclasses
from mildip_ld.vocab.errors import MildipError

DOT_TIMEOUT_S = 30.0
"""Beyond this, the layout is abandoned (``dot`` lays out the project's ontology in a tenth of a second)."""


class DiagramUnavailableError(MildipError):
    """Graphviz ``dot`` is not installed, or failed: the page is served without its diagram."""

    status = 503


def diagram_source(graph: Graph, root: str) -> graphviz.Digraph:
    """The DOT graph of the ontology: a node per class (the ontology's, and the external classes its
    axioms name, drawn dashed), a subclass edge (hollow arrow) per ``rdfs:subClassOf``, a labelled
    edge from each domain class to each range class of every object property (union members each;
    of a property and its inverse, only the first is drawn). The subclass edges alone decide the
    layers (property edges are drawn with ``constraint=false``), so the taxonomy reads left to right."""
    read = Reader(graph)
    classes = set(read.terms(OWL.Class))
    dot = graphviz.Digraph(
        "ontology",
        graph_attr={"rankdir": "LR", "fontname": "sans-serif", "ranksep": "0.6", "nodesep": "0.15"},
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": "#eef3fb",
            "fontname": "sans-serif",
            "fontsize": "11",
        },
        edge_attr={"fontname": "sans-serif", "fontsize": "9", "color": "#666677"},
    )
    drawn: dict[URIRef, str] = {}

    def node(cls: URIRef) -> str:
        """The node of ``cls`` (drawn on first use), named ``c<n>``: the package reads a ``:`` in a
        node name as a port, so IRIs cannot be names."""
        if cls not in drawn:
            name = drawn[cls] = f"c{len(drawn)}"
            ref = read.iri_ref(cls)
            if ref.external:
                dot.node(name, graphviz.escape(ref.text), style="rounded,dashed", fillcolor="white")
            else:
                label = read.text(cls, RDFS.label) or ref.text
                dot.node(name, graphviz.escape(label), URL=graphviz.escape(f"{root}{ref.href}"))
        return drawn[cls]

    for cls in sorted(classes, key=str):
        node(cls)
    for parent, children in sorted(superclasses(graph, classes).items()):
        for child in sorted(children):
            dot.edge(node(child), node(parent), arrowhead="onormal", color="#333344")
    shown: set[URIRef] = set()
    for prop in read.terms(OWL.ObjectProperty):
        inverses = set(graph.objects(prop, OWL.inverseOf)) | set(graph.subjects(OWL.inverseOf, prop))
        pairs = [
            (domain, range_)
            for domain in _named(read, graph.objects(prop, RDFS.domain))
            for range_ in _named(read, graph.objects(prop, RDFS.range))
        ]
        if not pairs or inverses & shown:
            continue
        shown.add(prop)
        label = graphviz.escape(read.curie(str(prop)))
        for domain, range_ in pairs:
            dot.edge(
                node(domain), node(range_), label=label, style="dashed", arrowsize="0.6", constraint="false"
            )
    return dot


def _named(read: Reader, values) -> list[URIRef]:
    """The named classes of domain or range values: the value itself, or a union's members."""
    named: list[URIRef] = []
    for value in values:
        if isinstance(value, URIRef):
            named.append(value)
        elif isinstance(value, BNode):
            named += [m for m in read.members(value, OWL.unionOf) or () if isinstance(m, URIRef)]
    return sorted(set(named) - {RDFS.Resource, OWL.Thing})


def diagram_svg(graph: Graph, root: str) -> bytes:
    """The diagram laid out by ``dot``, as SVG; :class:`DiagramUnavailableError` without Graphviz."""
    source = diagram_source(graph, root).source.encode("utf-8")
    try:
        done = subprocess.run(
            ["dot", "-Tsvg"], input=source, capture_output=True, timeout=DOT_TIMEOUT_S, check=True
        )
    except FileNotFoundError as error:
        raise DiagramUnavailableError("the ontology diagram needs Graphviz (dot is not installed)") from error
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        raise DiagramUnavailableError(f"Graphviz dot could not lay out the ontology: {error}") from error
    return done.stdout
