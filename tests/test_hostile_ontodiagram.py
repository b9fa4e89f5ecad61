"""Attacks on the ontology's diagram: labels written to break out of the DOT source or the SVG, a
``dot`` that hangs or is missing (the diagram is refused with 503, never a 500 or a hung render)."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import pytest
from rdflib import Graph, Literal
from rdflib.namespace import OWL, RDF, RDFS

from mildip_ld.release.build import BuildReport
from mildip_ld.site import ontodiagram, pages
from mildip_ld.site.ontodiagram import DiagramUnavailableError, diagram_svg
from mildip_ld.vocab.namespaces import MD

HOSTILE_LABELS = [
    'a" ]; evil [label="pwned',
    "b\\N\\G\\l",
    "<<b>html</b>>",
    "c } digraph x { d",
    "</text><script>alert(1)</script>",
    "e -> f",
]


def hostile_graph() -> Graph:
    graph = Graph()
    for index, label in enumerate(HOSTILE_LABELS):
        cls = MD[f"C{index}"]
        graph.add((cls, RDF.type, OWL.Class))
        graph.add((cls, RDFS.label, Literal(label)))
        if index:
            graph.add((cls, RDFS.subClassOf, MD.C0))
    return graph


def test_labels_stay_labels():
    root = ET.fromstring(diagram_svg(hostile_graph(), ""))
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert sorted(texts) == sorted(HOSTILE_LABELS)  # each label whole, once: no node, edge or graph added
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    titles = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert "evil" not in titles and "x" not in titles


def test_a_missing_dot_is_a_503_naming_graphviz(
    built: BuildReport, monkeypatch: pytest.MonkeyPatch, tmp_path
):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DiagramUnavailableError, match="Graphviz"):
        diagram_svg(hostile_graph(), "")
    rendered = pages._diagram_rendered(built.release.resolve(), "")
    assert rendered.status == 503 and b"Graphviz" in rendered.body and rendered.cost is None


def test_a_dot_past_its_time_limit_is_abandoned(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ontodiagram, "DOT_TIMEOUT_S", 0.000_001)
    with pytest.raises(DiagramUnavailableError, match="could not lay out") as refused:
        diagram_svg(hostile_graph(), "")
    assert isinstance(refused.value.__cause__, subprocess.TimeoutExpired)
