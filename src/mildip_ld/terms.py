"""Conversions between rdflib terms (modelling, pySHACL) and Oxigraph terms (parsing, storing, querying)."""

from __future__ import annotations

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
