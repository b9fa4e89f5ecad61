"""The SPARQL 1.1 Protocol's request side: turn an HTTP request into one operation, or refuse it.

Query via GET (``?query=``), POST form (``application/x-www-form-urlencoded``) or POST direct
(``application/sparql-query``); update via POST form (``update=``) or POST direct
(``application/sparql-update``); ``default-graph-uri`` / ``named-graph-uri`` (queries) and
``using-graph-uri`` / ``using-named-graph-uri`` (updates) may repeat.
A GET without a query asks for the service description.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from enum import Enum
from urllib.parse import parse_qsl

import pyoxigraph as ox
from fastapi import Request
from starlette.requests import ClientDisconnect

from mildip_ld.vocab.errors import MildipError

FORM = "application/x-www-form-urlencoded"
QUERY = "application/sparql-query"
UPDATE = "application/sparql-update"
FORM_OVERHEAD_BYTES = 16_384
"""Room for the other form fields (graph IRIs, format) beyond the query text itself."""


class Operation(Enum):
    QUERY = "query"
    UPDATE = "update"
    DESCRIPTION = "description"


class ProtocolError(MildipError):
    """A request the protocol does not allow; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, status, headers)


class ClientDisconnectedError(MildipError):
    """The client closed the connection before its whole body arrived: not a failure of the server,
    so it is counted and logged as one access-log line, never as an error."""

    status = 499


@dataclass
class SparqlRequest:
    """One SPARQL operation with its protocol parameters."""

    operation: Operation
    text: str = ""
    default_graphs: list[str] = field(default_factory=list)
    named_graphs: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    using_graphs: list[str] = field(default_factory=list)
    """An update's ``using-graph-uri``: the default graph its WHERE clauses read (as USING)."""
    using_named_graphs: list[str] = field(default_factory=list)
    """An update's ``using-named-graph-uri`` (as USING NAMED)."""

    @property
    def dataset_given(self) -> bool:
        """True when the request names its RDF dataset (which then replaces FROM / FROM NAMED)."""
        return bool(self.default_graphs or self.named_graphs)


def media_type_of(request: Request) -> str:
    """The request's Content-Type without parameters, lower-cased ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_utf8(request: Request) -> None:
    """Refuse with 415 a body whose Content-Type declares a charset other than UTF-8 (SPARQL
    requests and the RDF formats the Graph Store takes are UTF-8); the parameters are read by the
    standard library's MIME header parser."""
    header = Message()
    header["content-type"] = request.headers.get("content-type", "")
    charset = header.get_content_charset()
    if charset is not None and charset.replace("_", "-") not in ("utf-8", "utf8"):
        raise ProtocolError(
            415,
            f"the body is declared as charset={charset}; only UTF-8 is accepted: "
            f"send the text as UTF-8 (charset=utf-8, or no charset)",
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (checked before and while reading);
    :class:`ClientDisconnectedError` when the client hangs up before sending all of it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ProtocolError(413, f"the request body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ProtocolError(413, f"the request body is larger than the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientDisconnectedError("the client closed the connection before its body arrived") from None
    return b"".join(chunks)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as failure:
        raise ProtocolError(400, f"the request is not valid UTF-8: {failure}") from None


def parse_form(text: str) -> list[tuple[str, str]]:
    """``key=value&...`` pairs, percent-decoded as UTF-8 (refused with 400 when they are not)."""
    try:
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as failure:
        raise ProtocolError(400, f"a parameter is not valid UTF-8 once percent-decoded: {failure}") from None


def url_params(request: Request, max_url_bytes: int) -> list[tuple[str, str]]:
    """The query string's parameters: 414 past ``max_url_bytes``, 400 when not UTF-8."""
    raw: bytes = request.scope.get("query_string", b"")
    if len(raw) > max_url_bytes:
        raise ProtocolError(
            414,
            f"the URL's query string is {len(raw)} bytes; the limit is {max_url_bytes}: "
            f"send long queries with POST",
        )
    return parse_form(raw.decode("latin-1"))


def _iris(values: list[str], name: str) -> list[str]:
    for value in values:
        try:
            ox.NamedNode(value)
        except ValueError as failure:
            raise ProtocolError(400, f"{name} {value!r} is not an absolute IRI: {failure}") from None
    return values


def _build(operation: Operation, text: str, params: list[tuple[str, str]], max_bytes: int) -> SparqlRequest:
    values: dict[str, list[str]] = {}
    for key, value in params:
        values.setdefault(key, []).append(value)
    if len(text.encode("utf-8")) > max_bytes:
        raise ProtocolError(
            413, f"the {operation.value} is {len(text.encode('utf-8'))} bytes; the limit is {max_bytes}"
        )
    if operation is not Operation.DESCRIPTION and not text.strip():
        raise ProtocolError(400, f"the {operation.value} is empty")
    return SparqlRequest(
        operation,
        text,
        _iris(values.get("default-graph-uri", []), "default-graph-uri"),
        _iris(values.get("named-graph-uri", []), "named-graph-uri"),
        values.get("format", []),
        _iris(values.get("using-graph-uri", []), "using-graph-uri"),
        _iris(values.get("using-named-graph-uri", []), "using-named-graph-uri"),
    )


def _from_params(params: list[tuple[str, str]], max_bytes: int, allow_update: bool) -> SparqlRequest:
    """A GET query string or a POST form: exactly one of query= or update=."""
    queries = [value for key, value in params if key == "query"]
    updates = [value for key, value in params if key == "update"]
    if queries and updates:
        raise ProtocolError(400, "give either query= or update=, not both")
    if len(queries) > 1 or len(updates) > 1:
        raise ProtocolError(400, "give exactly one query= (or update=) parameter")
    if updates:
        if not allow_update:
            raise ProtocolError(405, "SPARQL Update must be sent with POST", {"Allow": "POST"})
        return _build(Operation.UPDATE, updates[0], params, max_bytes)
    if queries:
        return _build(Operation.QUERY, queries[0], params, max_bytes)
    return _build(Operation.DESCRIPTION, "", params, max_bytes)


async def read_request(request: Request, max_bytes: int, max_url_bytes: int) -> SparqlRequest:
    """Parse ``request`` (GET or POST to the endpoint) into a :class:`SparqlRequest`."""
    in_url = url_params(request, max_url_bytes)
    if request.method in ("GET", "HEAD"):
        return _from_params(in_url, max_bytes, allow_update=False)
    content_type = media_type_of(request)
    if content_type in (FORM, QUERY, UPDATE):
        require_utf8(request)
    if content_type == FORM:
        body = _decode(await read_body(request, max_bytes + FORM_OVERHEAD_BYTES))
        found = _from_params(in_url + parse_form(body), max_bytes, allow_update=True)
        if found.operation is Operation.DESCRIPTION:
            raise ProtocolError(400, "the form has neither a query= nor an update= field")
        return found
    if content_type in (QUERY, UPDATE):
        text = _decode(await read_body(request, max_bytes))
        operation = Operation.QUERY if content_type == QUERY else Operation.UPDATE
        return _build(operation, text, in_url, max_bytes)
    raise ProtocolError(
        415,
        f"unsupported Content-Type {content_type or '(none)'!r}; send {FORM} "
        f"(query= or update=), {QUERY} or {UPDATE}",
    )
