"""SHACL validation (pySHACL) of the project's data, with a report a person can act on.

The validated graph is the union of the provenance and asserted graphs, with the ontology mixed
in (so ``sh:class`` follows ``rdfs:subClassOf``). Two more kinds of check report in the same form:

- violation queries, ``shapes/sparql/*.rq`` (the ODK pattern: every row is a violation). They
  hold the checks that join across the whole graph; pySHACL would re-parse a SHACL-SPARQL
  constraint once per focus node, which costs seconds even on the article graph;
- quotes against the source files, which SHACL cannot read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from pyshacl import validate as pyshacl_validate
from rdflib import BNode, Graph, Literal, Node, URIRef
from rdflib.namespace import RDF, NamespaceManager, split_uri

from mildip_ld.pipeline.loader import LoadedGraph, ProjectData, oxigraph_copy
from mildip_ld.pipeline.provenance import check_quotes
from mildip_ld.vocab.namespaces import OA, SH, bind_prefixes
from mildip_ld.vocab.queries import NamedQuery, named_queries
from mildip_ld.vocab.terms import OxTerm, select, to_rdflib

QUOTE_RULE = "quote matches source (mildip_ld.pipeline.provenance.check_quotes)"


def violation_queries(shapes_dir: Path) -> list[NamedQuery]:
    """The violation queries under ``shapes/sparql/``: every row they return is a violation."""
    return named_queries(shapes_dir / "sparql")


@dataclass(frozen=True)
class Violation:
    """One problem: where it is, what node, which path and value, which rule, and the message."""

    file: Path | None
    line: int | None
    focus: Node | None
    path: Node | None
    value: Node | None
    rule: str
    message: str
    severity: str = "Violation"

    def render(self, short: Callable[[Node], str] = str) -> str:
        """One human-readable block: ``file:line: severity: message`` then the details."""
        where = f"{self.file}:{self.line}" if self.file and self.line else str(self.file or "<data>")
        lines = [
            f"{where}: {self.severity}: {self.message}",
            f"    focus node: {short(self.focus) if self.focus is not None else '(none)'}",
        ]
        if self.path is not None:
            lines.append(f"    path:       {short(self.path)}")
        if self.value is not None:
            lines.append(f"    value:      {short(self.value)}")
        lines.append(f"    rule:       {self.rule}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating the project's data."""

    violations: list[Violation]
    triples_validated: int

    @property
    def conforms(self) -> bool:
        """True when nothing violates the shapes."""
        return not any(v.severity == "Violation" for v in self.violations)


class FlatNamespaceManager(NamespaceManager):
    """CURIEs for bound namespaces only, without rdflib's namespace trie.

    rdflib's ``normalizeUri`` inserts every namespace it meets into a trie, at a cost that grows
    with the trie; pySHACL names the nodes of every intermediate result (``sh:or``, qualified
    shapes), so with one namespace per source (passage IRIs) validation became quadratic:
    229 s at 10^6 triples.
    """

    def normalizeUri(self, rdfTerm: str) -> str:  # noqa: N802, N803 (rdflib's name)
        """``prefix:name`` when the IRI's namespace is bound, else ``<IRI>``."""
        try:
            namespace, name = split_uri(rdfTerm)
        except ValueError:
            return f"<{rdfTerm}>"
        prefix = self.store.prefix(URIRef(namespace))
        return f"<{rdfTerm}>" if prefix is None else f"{prefix}:{name}"


def data_graph(project: ProjectData) -> Graph:
    """The union of provenance and asserted data, as validated and inferred over."""
    union = Graph()
    union += project.provenance.graph
    union += project.asserted.graph
    return union


def _locate(node: Node | None, sources: list[LoadedGraph]) -> tuple[Path | None, int | None]:
    if node is None:
        return None, None
    for loaded in sources:
        if node in loaded.origin:
            return loaded.where(node)
    for loaded in sources:
        if loaded.knows(node):
            return loaded.where(node)
    return None, None


def _rule_name(shapes: Graph, shape: Node | None, component: Node | None) -> str:
    """The named shape that raised a result, with the constraint component that failed.

    A result from an anonymous property shape is named after the node shape holding it.
    """
    names = shapes.namespace_manager
    owner = shape
    if isinstance(shape, BNode):
        owner = next(shapes.subjects(SH.property, shape), shape)
    parts = [names.normalizeUri(owner) if isinstance(owner, URIRef) else "anonymous shape"]
    if isinstance(component, URIRef):
        parts.append(f"({names.normalizeUri(component)})")
    return " ".join(parts)


def _shacl_violations(report: Graph, shapes: Graph, sources: list[LoadedGraph]) -> list[Violation]:
    violations = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        focus = report.value(result, SH.focusNode)
        severity = report.value(result, SH.resultSeverity)
        message = report.value(result, SH.resultMessage)
        shape = report.value(result, SH.sourceShape)
        component = report.value(result, SH.sourceConstraintComponent)
        rule = _rule_name(shapes, shape, component)
        file, line = _locate(focus, sources)
        violations.append(
            Violation(
                file=file,
                line=line,
                focus=focus,
                path=report.value(result, SH.resultPath),
                value=report.value(result, SH.value),
                rule=rule,
                message=str(message) if message else f"violates {component}",
                severity=str(severity).rsplit("#", 1)[-1] if severity else "Violation",
            )
        )
    return violations


def _quote_violations(store: ox.Store, data_dir: Path, sources: list[LoadedGraph]) -> list[Violation]:
    violations = []
    for mismatch in check_quotes(store, data_dir):
        file, line = _locate(mismatch.passage, sources)
        violations.append(
            Violation(
                file=file,
                line=line,
                focus=mismatch.passage,
                path=OA.exact,
                value=Literal(mismatch.exact),
                rule=QUOTE_RULE,
                message=(
                    f"Quote not in source: the source has {mismatch.found!r} at offsets "
                    f"{mismatch.start}-{mismatch.end}, not the quoted text."
                ),
            )
        )
    return violations


def _term(term: OxTerm | None) -> Node | None:
    return None if term is None else to_rdflib(term)


def _query_violations(
    store: ox.Store, queries: list[NamedQuery], sources: list[LoadedGraph]
) -> list[Violation]:
    violations = []
    for query in queries:
        rule = f"shapes/sparql/{query.name}.rq ({query.header.get('title', query.name)})"
        for row in select(store, query.text):
            focus = to_rdflib(row["this"])
            file, line = _locate(focus, sources)
            violations.append(
                Violation(
                    file=file,
                    line=line,
                    focus=focus,
                    path=_term(row["path"]),
                    value=_term(row["value"]),
                    rule=rule,
                    message=query.header.get("message", query.question),
                )
            )
    return violations


def validate_project(project: ProjectData, data_dir: Path, shapes_dir: Path) -> ValidationResult:
    """Validate provenance + assertions against the shapes, the violation queries and the sources.

    SHACL runs with pySHACL on an rdflib union of the data; the violation queries and the quote
    check run on an Oxigraph copy of the same files (ten times faster than rdflib's SPARQL).
    """
    graph = data_graph(project)
    graph.namespace_manager = FlatNamespaceManager(graph, bind_namespaces="core")
    bind_prefixes(graph)
    size = len(graph)
    _, report, _ = pyshacl_validate(
        graph,
        shacl_graph=project.shapes.graph,
        ont_graph=project.ontology.graph,
        inference="none",
        abort_on_first=False,
        allow_warnings=True,
        advanced=True,
        inplace=True,  # the union is a fresh copy: let pySHACL mix the ontology in without another
    )
    del graph
    sources = [project.asserted, project.provenance]
    store = oxigraph_copy(project.provenance, project.asserted, project.ontology)
    violations = (
        _shacl_violations(report, project.shapes.graph, sources)
        + _query_violations(store, violation_queries(shapes_dir), sources)
        + _quote_violations(store, data_dir, sources)
    )
    # two constraints of one shape (e.g. sh:class and sh:nodeKind) may say the same thing
    unique = list({(v.file, v.focus, v.path, v.value, v.message): v for v in violations}.values())
    unique.sort(key=lambda v: (str(v.file), v.line or 0, str(v.focus), str(v.path)))
    return ValidationResult(unique, size)
