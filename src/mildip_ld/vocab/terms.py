"""Conversions between rdflib terms (modelling, pySHACL) and Oxigraph terms (parsing, storing, querying)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyoxigraph as ox
from rdflib import BNode, Literal, Node, URIRef
from rdflib.namespace import XSD

OxTerm = ox.NamedNode | ox.BlankNode | ox.Literal


def to_oxigraph(term: Node) -> OxTerm:
    """The Oxigraph term for an rdflib term."""
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(str(term))
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)) if term.datatype else None)
    raise TypeError(f"not an RDF term: {term!r}")


def to_rdflib(term: OxTerm) -> Node:
    """The rdflib term for an Oxigraph term (plain strings stay plain, as rdflib's parser makes them)."""
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    if term.datatype.value == str(XSD.string):
        return Literal(term.value)
    return Literal(term.value, datatype=URIRef(term.datatype.value))


def rdflib_converter() -> Callable[[OxTerm], Node]:
    """:func:`to_rdflib` remembering each term it converted (for reading many quads that repeat
    IRIs: rdflib checks every IRI it builds, which dominates the time)."""
    seen: dict[OxTerm, Node] = {}

    def convert(term: OxTerm) -> Node:
        found = seen.get(term)
        if found is None:
            found = seen[term] = to_rdflib(term)
        return found

    return convert


def select(store: ox.Store, query: str, **options: Any) -> ox.QuerySolutions:
    """The solutions of a SELECT query on ``store`` (a TypeError for an ASK, CONSTRUCT or DESCRIBE)."""
    results = store.query(query, **options)
    if not isinstance(results, ox.QuerySolutions):
        raise TypeError(f"not a SELECT query: {query[:80]!r}")
    return results


def to_oxigraph_quad(triple: tuple[Node, Node, Node], graph: ox.NamedNode | ox.DefaultGraph) -> ox.Quad:
    """The Oxigraph quad for an rdflib triple in ``graph`` (a TypeError for a literal subject or a
    predicate that is not an IRI, which RDF does not allow)."""
    subject, predicate, obj = (to_oxigraph(term) for term in triple)
    if isinstance(subject, ox.Literal) or not isinstance(predicate, ox.NamedNode):
        raise TypeError(f"not an RDF triple: {triple!r}")
    return ox.Quad(subject, predicate, obj, graph)


def to_rdflib_triple(quad: ox.Quad | ox.Triple) -> tuple[Node, Node, Node]:
    """The rdflib triple of an Oxigraph quad or triple (a TypeError for RDF-star triple terms,
    which this project's data model does not have)."""
    subject, obj = quad.subject, quad.object
    if isinstance(subject, ox.Triple) or isinstance(obj, ox.Triple):
        raise TypeError(f"a triple term, which RDF 1.1 does not have: {quad}")
    return to_rdflib(subject), to_rdflib(quad.predicate), to_rdflib(obj)
