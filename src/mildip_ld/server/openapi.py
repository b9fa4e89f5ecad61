"""The OpenAPI description of the routes that read their parameters themselves (``/sparql``, ``/store``).

Their handlers parse the request by hand (the protocols allow repeated parameters, three body
types and graph IRIs as parameters), so FastAPI cannot infer the parameters and bodies: they are
declared here, for clients and for schemathesis, which fuzzes the server from this description.
"""

from __future__ import annotations

from typing import Any

TEXT = {"schema": {"type": "string"}}
IRIS = {"type": "array", "items": {"type": "string"}}
AUTHORIZATION = {
    "name": "Authorization",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Bearer <update token>: needed for SPARQL Update and Graph Store writes",
}

_DATASET = [
    {"name": "default-graph-uri", "in": "query", "required": False, "schema": IRIS, "explode": True},
    {"name": "named-graph-uri", "in": "query", "required": False, "schema": IRIS, "explode": True},
]
_FORMAT = {
    "name": "format",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "json, xml, csv, tsv, turtle, ntriples, jsonld, rdfxml, trig, nquads, n3",
}
_REFUSALS = {
    "403": "A write without the token, or to a graph that cannot be written",
    "406": "No acceptable answer format",
    "413": "Body over its size limit, or a write whose parse needed more than its memory",
    "414": "Query string over the URL limit: use POST",
    "415": "Unsupported Content-Type",
    "503": "A time or memory limit was reached, or every worker stayed busy",
}


def _answers(ok: str, content: tuple[str, ...], **more: str) -> dict[str, Any]:
    """The responses: 200 with ``content`` types, 204 for writes, the common refusals and ``more``
    (keyed ``s400`` for 400...)."""
    described = {
        "204": "Written: the new release is served",
        **_REFUSALS,
        **{key.removeprefix("s"): text for key, text in more.items()},
    }
    return {
        "200": {"description": ok, "content": {media: TEXT for media in content}},
        **{status: {"description": text} for status, text in sorted(described.items())},
    }


_SPARQL_ANSWERS = _answers(
    "Results, a graph, or the service description (without a query)",
    ("application/sparql-results+json", "text/turtle"),
    s400="Malformed request; SERVICE or LOAD refused",
    s422="Answer over the result limit, an update the shapes refuse, or one "
    "whose parse ran past its time budget",
)

SPARQL: dict[str, dict[str, Any]] = {
    "GET": {
        "parameters": [
            {"name": "query", "in": "query", "required": False, "schema": {"type": "string"}},
            *_DATASET,
            _FORMAT,
        ],
        "responses": _SPARQL_ANSWERS,
    },
    "POST": {
        "parameters": [*_DATASET, _FORMAT, AUTHORIZATION],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "query": {"type": "string"},
                            "update": {"type": "string"},
                            "default-graph-uri": IRIS,
                            "named-graph-uri": IRIS,
                            "format": {"type": "string"},
                        },
                    }
                },
                "application/sparql-query": TEXT,
                "application/sparql-update": TEXT,
            },
        },
        "responses": _SPARQL_ANSWERS,
    },
}
"""``openapi_extra`` of ``GET /sparql`` and ``POST /sparql``."""

_GRAPH = [
    {
        "name": "graph",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "IRI of a named graph",
    },
    {
        "name": "default",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "allowEmptyValue": True,
        "description": "present (empty): the default graph",
    },
]
_RDF_BODY = {
    "required": True,
    "content": {
        "text/turtle": TEXT,
        "application/n-triples": TEXT,
        "application/rdf+xml": TEXT,
        "application/ld+json": TEXT,
    },
}
_STORE_ANSWERS = _answers(
    "The graph",
    ("text/turtle", "application/n-triples"),
    s400="No graph named, or not an IRI; malformed RDF, RDF/XML with a DTD or "
    "entities, JSON-LD with a remote @context, nesting over the limit",
    s404="No such graph",
    s422="The graph is over the result limit, the write violates the shapes, or its "
    "parse ran past its time budget",
)

GRAPH_STORE: dict[str, dict[str, Any]] = {
    "GET": {"parameters": _GRAPH, "responses": _STORE_ANSWERS},
    "HEAD": {"parameters": _GRAPH, "responses": _STORE_ANSWERS},
    "PUT": {"parameters": [*_GRAPH, AUTHORIZATION], "requestBody": _RDF_BODY, "responses": _STORE_ANSWERS},
    "POST": {"parameters": [*_GRAPH, AUTHORIZATION], "requestBody": _RDF_BODY, "responses": _STORE_ANSWERS},
    "DELETE": {"parameters": [*_GRAPH, AUTHORIZATION], "responses": _STORE_ANSWERS},
}
"""``openapi_extra`` of each ``/store`` method."""
