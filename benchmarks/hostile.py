"""A catalogue of hostile requests: each tries to hurt the server, and says how it must be answered.

Used by the hostile-query tests (every request, one by one, under a short query time limit, with
/health watched alongside) and by the load test (the cheap ones, as a share of the traffic). A
request is sent with httpx, or as raw bytes on a socket when httpx refuses to send it (a URL
longer than 64 kB, a Content-Length that lies). Every address named here is on the loopback
interface or under the ``.invalid`` top-level domain, which never resolves (RFC 6761).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import httpx

from mildip_ld.vocab.namespaces import ASSERTED, INFERRED, PREFIXES

JSON = "application/sparql-results+json"
QUERY = "application/sparql-query"
UPDATE = "application/sparql-update"
TIME_LIMIT = ("time limit",)
"""What a query stopped at the time limit (503) is told."""
OUTSIDE = "http://sparql.endpoint.invalid/sparql"
"""An address outside this machine that can never be reached (``.invalid`` never resolves)."""
RDFS = str(PREFIXES["rdfs"])
MD = str(PREFIXES["md"])


@dataclass(frozen=True)
class Hostile:
    """One hostile request and the answer it must get.

    ``expect`` holds the acceptable statuses and ``says`` text of which one must appear in the
    answer (case-insensitive); ``slow`` marks the requests that run into the query time limit,
    ``token`` those sent with the update token, ``raw`` those sent as bytes on a socket.
    """

    name: str
    expect: tuple[int, ...]
    says: tuple[str, ...]
    method: str = "GET"
    path: str = "/sparql"
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    slow: bool = False
    token: bool = False
    raw: bytes | None = None
    never: tuple[str, ...] = ()
    """Text that must not appear in the answer."""

    @property
    def cheap(self) -> bool:
        """Answered at once, without a write: fit for the load test's mix."""
        return not (self.slow or self.token or self.raw)


def _get(
    name: str, query: str, expect: tuple[int, ...], says: tuple[str, ...], accept: str = JSON, **more
) -> Hostile:
    return Hostile(name, expect, says, params=(("query", query),), headers={"Accept": accept}, **more)


def _post(
    name: str, text: str, content_type: str, expect: tuple[int, ...], says: tuple[str, ...], **more
) -> Hostile:
    headers = {"Content-Type": content_type, "Accept": JSON, **more.pop("headers", {})}
    return Hostile(name, expect, says, method="POST", body=text.encode("utf-8"), headers=headers, **more)


def _raw(name: str, head: str, expect: tuple[int, ...], says: tuple[str, ...], body: bytes = b"") -> Hostile:
    return Hostile(name, expect, says, raw=head.replace("\n", "\r\n").encode("latin-1") + body)


def _cartesian() -> list[Hostile]:
    return [
        _get(
            "cartesian-count",
            "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }",
            (503,),
            TIME_LIMIT,
            slow=True,
        ),
        _get(
            "cartesian-group-by",
            "SELECT ?a (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f } GROUP BY ?a",
            (503,),
            TIME_LIMIT,
            slow=True,
        ),
        _get(
            "cartesian-order-by",
            "SELECT ?a ?d WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?a ?d LIMIT 1",
            (503,),
            ("time limit", "memory limit"),
            slow=True,
        ),
        _get("cartesian-stream", "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f }", (422,), ("more than",)),
        _get(
            "cartesian-construct",
            "CONSTRUCT { ?a ?b ?f } WHERE { ?a ?b ?c . ?d ?e ?f }",
            (422,),
            ("more than",),
            accept="text/turtle",
        ),
        _get(
            "describe-everything",
            "DESCRIBE ?s WHERE { ?s ?p ?o }",
            (200, 422),
            ("@prefix", "more than"),
            accept="text/turtle",
        ),  # the whole graph: refused if it holds more than the result limit
    ]


def _paths() -> list[Hostile]:
    chain = "/".join(["rdfs:subClassOf"] * 2000)
    return [
        _get(
            "path-any-predicate-both-ways",
            "SELECT (COUNT(*) AS ?n) WHERE { ?a (!<urn:x:none>|^!<urn:x:none>)* ?b }",
            (503,),
            TIME_LIMIT,
            slow=True,
        ),
        # The zero-length path pairs every node of the default graph with itself: some 16,000 pairs on
        # the article graph since its derivations record is in the union (statement nodes are nodes),
        # which may run past the time limit on a loaded machine.
        _get(
            "path-both-ways-star",
            f"SELECT * WHERE {{ ?a (<{RDFS}subClassOf>|^<{RDFS}subClassOf>)* ?b }}",
            (200, 422, 503),
            ("bindings", "more than", *TIME_LIMIT),
            slow=True,
        ),
        _get(
            "path-nested-stars",
            f"SELECT (COUNT(*) AS ?n) WHERE {{ ?a ((<{MD}engagesWith>|^<{MD}engagesWith>)*"
            f"/(<{RDFS}subClassOf>|^<{RDFS}subClassOf>)*)* ?b }}",
            (200, 503),
            ('"n"', "time limit"),
            slow=True,
        ),
        _post(
            "path-2000-steps",
            f"PREFIX rdfs: <{RDFS}> ASK {{ ?s {chain} ?o }}",
            QUERY,
            (200, 503),
            ("boolean", "time limit"),
            slow=True,
        ),
    ]


def _values(max_results: int) -> list[Hostile]:
    numbers = " ".join(str(i) for i in range(30_000))
    # The query check parses VALUES at about 0.2 ms a value: blocks that fit the 2 s limit
    some = " ".join(str(i) for i in range(500))
    count = min(max_results + 100, 3_000)
    rows = " ".join(str(i) for i in range(count))
    many_rows = ((422,), ("more than",)) if max_results < count else ((200,), ("bindings",))
    return [
        _post(
            "values-over-the-size-limit",
            f"SELECT * WHERE {{ VALUES ?x {{ {numbers} }} }}",
            QUERY,
            (413,),
            ("limit",),
        ),
        _post(
            "values-times-everything",
            f"SELECT * WHERE {{ VALUES ?x {{ {some} }} ?s ?p ?o }}",
            QUERY,
            (422,),
            ("more than",),
        ),
        _post("values-many-rows", f"SELECT * WHERE {{ VALUES ?a {{ {rows} }} }}", QUERY, *many_rows),
    ]


def _regex() -> list[Hostile]:
    doubling = " ".join(f"BIND(CONCAT(?a{i}, ?a{i}) AS ?a{i + 1})" for i in range(40))
    return [
        _get(
            "regex-nested-quantifier",
            'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o FILTER regex(str(?o), "(a+)+$") }',
            (200,),
            ('"n"',),
        ),
        _get(
            "regex-exponential-repetition",
            'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o FILTER regex(str(?o), "((a{1000}){1000}){1000}") }',
            (200, 503),
            ('"n"', "time limit"),
            slow=True,
        ),
        _get(
            "regex-backreference",
            'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o FILTER regex(str(?o), "(a)\\\\1") }',
            (200,),
            ('"n"',),
        ),
        _get(
            "string-doubling",
            f'SELECT (STRLEN(?a40) AS ?n) WHERE {{ BIND("aaaaaaaaaaaaaaaa" AS ?a0) {doubling} }}',
            (503,),
            ("time limit", "memory limit"),
            slow=True,
        ),
    ]


def _services(loopback: str) -> list[Hostile]:
    host = loopback.split("//", 1)[1].split("/", 1)[0]
    port = host.rsplit(":", 1)[-1]
    escaped = loopback.replace(":", "\\u003A", 1)
    namespace, local = loopback.rsplit("/", 1)
    refused = (400,), ("not allowed",)
    return [
        _get("service-loopback", f"SELECT * WHERE {{ SERVICE <{loopback}> {{ ?s ?p ?o }} }}", *refused),
        _get(
            "service-localhost",
            f"SELECT * WHERE {{ SERVICE <http://localhost:{port}/sparql> {{ ?s ?p ?o }} }}",
            *refused,
        ),
        _get(
            "service-ipv6-loopback",
            f"SELECT * WHERE {{ SERVICE <http://[::1]:{port}/sparql> {{ ?s ?p ?o }} }}",
            *refused,
        ),
        _get("service-outside", f"SELECT * WHERE {{ SERVICE <{OUTSIDE}> {{ ?s ?p ?o }} }}", *refused),
        _get(
            "service-silent-by-prefix",
            f"PREFIX r: <{namespace}/> SELECT * {{ SERVICE SILENT r:{local} {{ ?s ?p ?o }} }}",
            *refused,
        ),
        _get(
            "service-escaped-iri",
            f"SELECT * WHERE {{ SERVICE <{escaped}> {{ ?s ?p ?o }} }}",
            (400,),
            ("not allowed", "could not be checked"),
        ),
        _get(
            "service-relative-to-base",
            f"BASE <{namespace}/> SELECT * WHERE {{ SERVICE <{local}> {{ ?s ?p ?o }} }}",
            *refused,
        ),
        _get(
            "service-variable",
            "SELECT * WHERE { VALUES ?e { <http://127.0.0.1:9/> } SERVICE ?e { ?s ?p ?o } }",
            *refused,
        ),
        _get("service-lower-case", f"select * where {{ service <{loopback}> {{ ?s ?p ?o }} }}", *refused),
    ]


def _updates(loopback: str) -> list[Hostile]:
    insert = f'INSERT DATA {{ GRAPH <{ASSERTED}> {{ <urn:x:evil> <{RDFS}label> "evil" }} }}'
    no_token = (403,), ("token", "read-only")
    return [
        _post("load-without-token", f"LOAD <{loopback}.ttl>", UPDATE, *no_token),
        _post("clear-all-without-token", "CLEAR ALL", UPDATE, *no_token),
        _post("drop-graph-without-token", f"DROP GRAPH <{ASSERTED}>", UPDATE, *no_token),
        _post("insert-without-token", insert, UPDATE, *no_token),
        _post(
            "insert-with-a-wrong-token", insert, UPDATE, *no_token, headers={"Authorization": "Bearer guess"}
        ),
        _post(
            "insert-with-basic-auth", insert, UPDATE, *no_token, headers={"Authorization": "Basic dGVzdA=="}
        ),
        Hostile("update-by-get", (405,), ("POST",), params=(("update", "DROP ALL"),)),
        _get("update-sent-as-query", "DROP ALL", (400,), ("malformed",)),
        _post("load-with-token", f"LOAD <{loopback}.ttl>", UPDATE, (400,), ("LOAD",), token=True),
        _post(
            "service-in-update-with-token",
            f"INSERT {{ GRAPH <{ASSERTED}> {{ ?s ?p ?o }} }} WHERE {{ SERVICE <{loopback}> {{ ?s ?p ?o }} }}",
            UPDATE,
            (400,),
            ("not allowed",),
            token=True,
        ),
        _post(
            "drop-inferred-with-token",
            f"DROP GRAPH <{INFERRED}>",
            UPDATE,
            (403,),
            ("cannot be written",),
            token=True,
        ),
        Hostile(
            "graph-store-put-without-token",
            (403,),
            ("token", "read-only"),
            method="PUT",
            path="/store",
            params=(("graph", str(ASSERTED)),),
            body=b"",
            headers={"Content-Type": "text/turtle"},
        ),
        Hostile(
            "graph-store-delete-without-token",
            (403,),
            ("token", "read-only"),
            method="DELETE",
            path="/store",
            params=(("graph", str(ASSERTED)),),
        ),
    ]


def _sizes(host: str) -> list[Hostile]:
    query_40k = "ASK {}" + " " * 40_000
    return [
        _post("enormous-body", "ASK {}" + " " * 200_000, QUERY, (413,), ("limit",)),
        _raw(
            "enormous-declared-length",
            f"POST /sparql HTTP/1.1\nHost: {host}\nContent-Type: {QUERY}\nContent-Length: 10000000000\n\n",
            (413,),
            ("limit",),
            b"ASK {}",
        ),
        _raw(
            "enormous-url",
            f"GET /sparql?query={query_40k.replace(' ', '+')} HTTP/1.1\nHost: {host}\n\n",
            (414,),
            ("POST",),
        ),
        _raw(
            "enormous-request-line",
            f"GET /sparql?query=ASK+%7B%7D{'+' * 1_000_000} HTTP/1.1\nHost: {host}\n\n",
            (400, 414),
            ("invalid", "POST"),
        ),
        Hostile(
            "enormous-form",
            (413,),
            ("limit",),
            method="POST",
            body=b"query=" + b"+" * 300_000,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        Hostile(
            "graph-store-body-over-the-limit",
            (413,),
            ("limit",),
            method="PUT",
            path="/store",
            params=(("graph", str(ASSERTED)),),
            body=b"#" * 2_000_000,
            headers={"Content-Type": "text/turtle"},
            token=True,
        ),
    ]


def _encodings() -> list[Hostile]:
    return [
        Hostile(
            "invalid-utf8-body",
            (400,),
            ("UTF-8",),
            method="POST",
            body=b'ASK { FILTER("\xff\xfe") }',
            headers={"Content-Type": QUERY},
        ),
        Hostile("invalid-utf8-url", (400,), ("UTF-8",), path="/sparql?query=ASK%20%7B%7D%FF%FE"),
        Hostile(
            "invalid-utf8-form",
            (400,),
            ("UTF-8",),
            method="POST",
            body=b"query=ASK+%7B%7D%C3%28",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        _post("nul-byte", "ASK { \x00 }", QUERY, (400,), ("malformed",)),
    ]


def _nesting() -> list[Hostile]:
    return [
        _post(
            "nested-groups",
            "SELECT * WHERE " + "{" * 5000 + " ?s ?p ?o " + "}" * 5000,
            QUERY,
            (400,),
            ("nests",),
        ),
        _post(
            "nested-parentheses",
            "ASK { FILTER(" + "(" * 5000 + "true" + ")" * 5000 + ") }",
            QUERY,
            (400,),
            ("nests",),
        ),
        _post(
            "nested-subqueries",
            "SELECT * " + "{ SELECT * " * 150 + "{}" + "}" * 150,
            QUERY,
            (400,),
            ("nests",),
        ),
        _post(
            "negation-chain",
            "ASK { FILTER(" + "!" * 90_000 + "true) }",
            QUERY,
            (400,),
            ("could not be checked",),
        ),  # Oxigraph reads !!…, the SPARQL 1.1 grammar does not
        _post(
            "conjunction-chain",
            "ASK { FILTER(" + "true && " * 12_000 + "true) }",
            QUERY,
            (200, 503),
            ("boolean", "time limit"),
            slow=True,
        ),  # the check parses ~1 ms per term
        _post(
            "addition-chain",
            "ASK { FILTER(" + "1+" * 45_000 + "1 > 0) }",
            QUERY,
            (200, 503),
            ("boolean", "time limit"),
            slow=True,
        ),
    ]


def _protocol() -> list[Hostile]:
    ask = "ASK {}"
    return [
        Hostile(
            "query-and-update",
            (400,),
            ("either",),
            method="POST",
            body=b"query=ASK+%7B%7D&update=CLEAR+ALL",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        Hostile("two-queries", (400,), ("exactly one",), params=(("query", ask), ("query", ask))),
        _post("unknown-content-type", ask, "text/x-evil", (415,), ("unsupported",)),
        Hostile(
            "accept-nothing-offered",
            (406,),
            ("acceptable",),
            params=(("query", ask),),
            headers={"Accept": "image/png"},
        ),
        Hostile(
            "default-graph-not-an-iri",
            (400,),
            ("IRI",),
            params=(("query", ask), ("default-graph-uri", "not an iri")),
        ),
        Hostile(
            "graph-store-two-graphs",
            (400,),
            ("exactly one",),
            path="/store",
            params=(("graph", str(ASSERTED)), ("default", "")),
        ),
    ]


def _paths_on_disk() -> list[Hostile]:
    return [
        Hostile("dump-path-traversal", (404,), ("not found",), path="/dumps/..%2Fmanifest.json"),
        Hostile("dump-dot-dot", (404,), ("not found",), path="/dumps/%2e%2e%2f%2e%2e%2fpyproject.toml"),
        Hostile("static-path-traversal", (404,), ("not found",), path="/static/..%2f..%2fsettings.py"),
        Hostile("query-file-traversal", (404,), ("not found",), path="/queries/..%2f..%2fpyproject.toml.rq"),
        Hostile("resource-path-traversal", (404,), ("not found",), path="/doc/%2e%2e/%2e%2e/etc/passwd"),
        Hostile(
            "script-in-query-page",
            (200,),
            ("yasgui",),
            path="/",
            never=("<script>alert(1)",),
            params=(("query", "<script>alert(1)</script>"),),
            headers={"Accept": "text/html"},
        ),
    ]


def catalogue(
    loopback: str = "http://127.0.0.1:9/sparql", host: str = "127.0.0.1", max_results: int = 10_000
) -> list[Hostile]:
    """Every hostile request. ``loopback`` is a SPARQL URL on this machine that SERVICE and LOAD
    name (a recorder in the tests, so that a request that got through would be seen); ``host`` is
    the Host header of the raw requests; ``max_results`` the server's result limit."""
    return [
        *_cartesian(),
        *_paths(),
        *_values(max_results),
        *_regex(),
        *_services(loopback),
        *_updates(loopback),
        *_sizes(host),
        *_encodings(),
        *_nesting(),
        *_protocol(),
        *_paths_on_disk(),
    ]


@dataclass(frozen=True)
class Answer:
    """What the server answered: status and body text (status 0: the connection closed first)."""

    status: int
    text: str


def send_raw(host: str, port: int, data: bytes, timeout: float) -> Answer:
    """Send raw bytes and read the answer's status line and body until the server closes or stops."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        try:
            connection.sendall(data)
        except (BrokenPipeError, ConnectionResetError):  # the server answered and closed early
            pass
        chunks = []
        try:
            while chunk := connection.recv(65536):
                chunks.append(chunk)
                head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(body) >= length:
                    break
        except (TimeoutError, ConnectionResetError):
            pass
    answer = b"".join(chunks).decode("utf-8", "replace")
    status = answer.split(" ", 2)[1] if answer.startswith("HTTP/") else "0"
    return Answer(int(status), answer.partition("\r\n\r\n")[2])


def send(
    client: httpx.Client, base: str, hostile: Hostile, token: str | None = None, timeout: float = 60
) -> Answer:
    """Send ``hostile`` to the server at ``base`` (with ``token`` when it wants one)."""
    if hostile.raw is not None:
        url = httpx.URL(base)
        return send_raw(url.host, url.port or 80, hostile.raw, timeout)
    headers = dict(hostile.headers)
    if hostile.token and token:
        headers["Authorization"] = f"Bearer {token}"
    answer = client.request(
        hostile.method,
        base + hostile.path,
        params=list(hostile.params) or None,
        content=hostile.body,
        headers=headers,
        timeout=timeout,
    )
    return Answer(answer.status_code, answer.text)


def acceptable(hostile: Hostile, answer: Answer) -> bool:
    """Whether ``answer`` is one ``hostile`` may get: an expected status and an expected phrase."""
    text = answer.text.lower()
    return (
        answer.status in hostile.expect
        and any(phrase.lower() in text for phrase in hostile.says)
        and not any(phrase.lower() in text for phrase in hostile.never)
    )
