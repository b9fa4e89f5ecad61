"""What a SPARQL query or update asks of the engine beyond reading the store, read from a real parse.

pyoxigraph calls any endpoint a ``SERVICE`` clause names (and fetches any ``LOAD`` IRI) and has no
hook to restrict either, so each text is first parsed by rdflib's SPARQL 1.1 grammar (pyparsing)
and the verdict (:class:`Verdict`) is read from the parse tree: the SERVICE endpoints (resolved
against BASE and PREFIX), the LOADs, the nesting depth, FROM clauses and the calls whose value
changes between evaluations. The check runs in the worker or writer process, never in the server:
rdflib takes milliseconds for a lookup and seconds for a 100 kB text (then the query time limit
stops it like any expensive query), which would stall the server's event loop.

It fails closed: a text the grammar cannot read (Oxigraph reads more, e.g. RDF-star or ``\\u``
escapes inside strings and IRIs), a SERVICE whose endpoint is a variable or cannot be resolved to
an allowed absolute IRI, or a text too deep for the parser's recursion is refused
(:func:`refusal`). Where rdflib's reading of the same text could differ from Oxigraph's, the text
is made to agree or is refused, because a SERVICE hidden from the check is called by the engine:

- rdflib's ``parseQuery`` expands ``\\u`` escapes in the whole text before parsing (SPARQL 1.0);
  Oxigraph only inside strings and IRIs, so ``"a\\u0022 …"`` would close a string for one and not
  for the other. The grammar is run on the raw text instead: an escape is then a parse error.
- Oxigraph ends a ``#`` comment at CR as well as LF, rdflib at LF only; so CR is read as LF
  (both are white space anywhere else, and excluded from short strings and IRIs by both).
- rdflib's action for ServiceGraphPattern searches the whole text again for each SERVICE clause
  (to keep its source text for rdflib's own evaluator): 100 clauses in 1.7 kB took 27 s, nested
  ones more. That action is replaced by one that keeps the parsed clause without the text;
  nothing in these processes evaluates SERVICE with rdflib.

One more change to rdflib's grammar objects, for speed only: every element tries the comment
expression ``"#" + rest_of_line`` before it matches, which was half of the parse time; it is
replaced by :class:`_Comment`, which matches the same text (``#`` up to the next LF) in one step.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Literal, cast
from urllib.parse import urljoin

from pyparsing import ParseBaseException, ParseException, ParserElement, ParseResults, Token
from rdflib.plugins.sparql import parser
from rdflib.plugins.sparql.parserutils import Comp, CompValue
from rdflib.term import URIRef

Kind = Literal["query", "update"]

NESTING = frozenset({"GroupGraphPatternSub", "SubSelect", "ConditionalOrExpression"})
"""Parse-tree nodes that are one level of nesting: a ``{…}`` group or subquery, an expression (each
sits in its own ``(…)``); and a ``(…)`` path inside a path (:data:`PATH`). Blank-node lists and
collections are flattened by rdflib: the parser's recursion budget (:data:`FRAMES_PER_LEVEL`)
bounds them instead."""

PATH = "PathAlternative"

VOLATILE_FUNCTIONS = frozenset({"Builtin_NOW", "Builtin_RAND", "Builtin_UUID", "Builtin_STRUUID"})

FRAMES_PER_LEVEL = 50
"""Python frames rdflib's parser needs per level of nesting, at most (measured: 41 for nested
function calls, 37 for parentheses, 26 for groups, 13 for subqueries and blank-node lists)."""

RECURSION_BASE = 2000
"""Frames the parse needs besides the nesting (and the caller's own frames)."""

CHAIN_FRAMES = 18_000
"""Frames for chains the grammar also reads by recursion: about 11 per triple pattern of a group
and 13 per operation of an update, so some 1,500 of either. A larger budget would let a text nested
thousands of levels deep hold the parser for seconds before it is refused."""

CACHED_TEXT_CHARS = 4096
"""Verdicts of texts up to this long are kept (:func:`check`): lookups repeat, long texts rarely."""

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_LOCAL_ESCAPE = re.compile(r"\\(.)")


def _service_without_source_text(instring: str, loc: int, tokens: ParseResults) -> CompValue:
    """rdflib's ServiceGraphPattern result, without its search of the whole text (see above)."""
    stand_in = cast(Comp, SimpleNamespace(name="Service", evalfn=None))  # what postParse reads of a Comp
    found = Comp.postParse(stand_in, instring, loc, tokens)
    found.name = "ServiceGraphPattern"
    return found


setattr(parser.ServiceGraphPattern, "postParse", _service_without_source_text)  # noqa: B010


class _Comment(Token):
    """A ``#`` comment up to the next LF (or the end): rdflib's ``"#" + rest_of_line``, in one step."""

    def __init__(self) -> None:
        super().__init__()
        self.errmsg = "Expected a comment"

    def parseImpl(self, instring: str, loc: int, do_actions: bool = True) -> tuple[int, list[str]]:  # noqa: N802
        if not instring.startswith("#", loc):
            raise ParseException(instring, loc, self.errmsg, self)
        end = instring.find("\n", loc)
        return (len(instring) if end < 0 else end), []


def _elements(*roots: ParserElement) -> Iterator[ParserElement]:
    """Every element of a grammar, each once (the grammar is a graph: it recurses)."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        element = stack.pop()
        if id(element) not in seen:
            seen.add(id(element))
            yield element
            stack.extend(element.recurse())


_COMMENT = _Comment()
for _element in _elements(parser.Query, parser.UpdateUnit):
    _element.ignoreExprs = [_COMMENT for _ in _element.ignoreExprs]


@dataclass(frozen=True)
class Verdict:
    """What a text asks of the engine beyond reading the store."""

    services: tuple[str | None, ...] = ()
    """Endpoint IRI of each SERVICE clause; None when it is a variable or cannot be resolved."""
    loads: int = 0
    """Number of LOAD operations (updates)."""
    depth: int | None = 0
    """Deepest nesting (:data:`NESTING`); None when the text is too deep for the parser's recursion
    (:func:`prepare`)."""
    has_dataset_clause: bool = False
    """A FROM or FROM NAMED clause is present (so the default graph is not the union)."""
    volatile: bool = False
    """NOW, RAND, UUID or STRUUID is called."""
    custom_functions: bool = False
    """A function is called by its IRI (``xsd:integer(?x)``, ``<http://…>(?x)``): the engine
    implements only some (the XSD casts) and refuses the query when it does not know one."""
    unreadable: str | None = None
    """Why the grammar could not read the text (the parser's message, with line:column); None when
    it could."""

    @property
    def repeatable(self) -> bool:
        """Whether evaluating the text again on the same store gives the same answer: it was read,
        has no SERVICE (another endpoint's data may change) and no volatile call."""
        return self.unreadable is None and self.depth is not None and not self.services and not self.volatile


def check(text: str, kind: Kind, base_iri: str | None = None) -> Verdict:
    """The verdict on ``text``, a query or an update (relative IRIs resolved against ``base_iri``)."""
    if len(text) <= CACHED_TEXT_CHARS:
        return _cached_check(text, kind, base_iri)
    return _check(text, kind, base_iri)


def _check(text: str, kind: Kind, base_iri: str | None) -> Verdict:
    grammar = parser.Query if kind == "query" else parser.UpdateUnit
    try:
        tree = grammar.parse_string(text.replace("\r", "\n"), parse_all=True)
    except ParseBaseException as failure:
        where = f"{failure.lineno}:{failure.col}"
        return Verdict(unreadable=f"error at {where}: {failure.msg}, found {failure.found}")
    except RecursionError:
        return Verdict(depth=None)
    if kind == "query":
        prologue, body = tree
        parts = [(prologue, body)]
    else:
        update = tree[0]
        parts = list(zip(update.prologue or [], update.request or [], strict=False))
    return _read(parts, base_iri)


_cached_check = lru_cache(maxsize=1024)(_check)


def _read(parts: list[tuple[Any, Any]], base_iri: str | None) -> Verdict:
    """The verdict on parsed ``(prologue, operation)`` pairs; prologues accumulate, as in an update.
    (A missing parameter of a :class:`CompValue` is None as an attribute; its ``get`` gives the key.)"""
    prefixes: dict[str, str | None] = {}
    base = base_iri
    services: list[str | None] = []
    loads, depth, dataset, volatile, functions = 0, 0, False, False, False
    for prologue, operation in parts:
        for declaration in prologue:
            iri = _absolute(str(declaration["iri"]), base)
            if declaration.name == "Base":
                base = iri
            else:
                prefixes[declaration.prefix or ""] = iri
        for node, level in _nodes(operation):
            depth = max(depth, level)
            if node.name == "ServiceGraphPattern":
                services.append(_endpoint(node["term"], prefixes, base))
            elif node.name == "Load":
                loads += 1
            elif node.name == "DatasetClause":
                dataset = True
            elif node.name in VOLATILE_FUNCTIONS:
                volatile = True
            elif node.name == "Function":
                functions = True
    return Verdict(tuple(services), loads, depth, dataset, volatile, functions)


def _nodes(tree: Any) -> Iterator[tuple[CompValue, int]]:
    """Every node of a parse tree with its nesting level, in text order, without recursion (trees
    may be deep)."""
    stack: list[tuple[Any, int, bool]] = [(tree, 0, False)]
    while stack:
        node, level, in_path = stack.pop()
        if isinstance(node, CompValue):
            level += node.name in NESTING or (node.name == PATH and in_path)
            in_path = in_path or node.name == PATH
            yield node, level
            stack.extend((child, level, in_path) for child in reversed(dict.values(node)))
        elif isinstance(node, (list, tuple, ParseResults)):
            stack.extend((child, level, in_path) for child in reversed(node))


def _absolute(iri: str, base: str | None) -> str | None:
    """``iri`` resolved against ``base``; None when it is relative and cannot be resolved (no base,
    or a base whose scheme ``urljoin`` does not resolve as RFC 3986 does)."""
    if _SCHEME.match(iri):
        return iri
    if base is None or not base.lower().startswith(("http://", "https://")):
        return None
    return urljoin(base, iri)


def _endpoint(term: Any, prefixes: dict[str, str | None], base: str | None) -> str | None:
    """The absolute IRI a SERVICE clause names; None for a variable or what cannot be resolved."""
    if isinstance(term, CompValue) and term.name == "pname":
        namespace = prefixes.get(term.prefix or "")
        local = _LOCAL_ESCAPE.sub(r"\1", str(term.localname or ""))
        return None if namespace is None else namespace + local
    if isinstance(term, URIRef):
        return _absolute(str(term), base)
    return None


def refusal(verdict: Verdict, what: str, allowlist: Iterable[str], max_nesting: int) -> str | None:
    """Why the ``what`` (query or update) judged ``verdict`` must not run, or None when it may:
    unreadable, nested past ``max_nesting``, a LOAD, a SERVICE in an update (updates are evaluated
    by rdflib, whose SERVICE client this module's grammar change leaves without the clause's text,
    and which has no time limit of its own), or a SERVICE not in ``allowlist``. A refused SERVICE
    gets the same words whatever endpoint it names (nothing is called to decide)."""
    if verdict.unreadable is not None:
        return (
            f"malformed {what}: the {what} could not be checked ({verdict.unreadable}); this "
            f"endpoint refuses what its SPARQL 1.1 checker cannot read, even syntax its engine "
            f"accepts (RDF-star, \\u escapes in strings and IRIs)"
        )
    if verdict.depth is None or verdict.depth > max_nesting:
        if verdict.depth is None:
            return (
                f"the {what} nests groups, expressions or paths, or chains triple patterns or "
                f"operations, deeper than the checker can follow; the limit is {max_nesting} levels "
                f"(and some 1,500 triple patterns in one group)"
            )
        return (
            f"the {what} nests groups, expressions or paths {verdict.depth} levels deep; the limit "
            f"is {max_nesting}"
        )
    if verdict.loads:
        return "LOAD is not allowed on this endpoint (it would fetch from the network)"
    if what == "update" and verdict.services:
        return (
            "SERVICE is not allowed in an update on this endpoint: query the other endpoint, then "
            "write what it answered"
        )
    allowed = list(allowlist)
    if any(service is None or service not in allowed for service in verdict.services):
        endpoints = ", ".join(f"<{iri}>" for iri in allowed) or "no endpoint (SERVICE is disabled here)"
        return (
            f"a SERVICE endpoint of this {what} is not allowed (a variable one never is): "
            f"federated queries may only call {endpoints}"
        )
    return None


def prepare(max_nesting: int) -> None:
    """Make this process ready to check texts nested ``max_nesting`` levels deep: raise its recursion
    limit (only for a thread with a big stack, such as the workers' and the writer's job thread),
    and parse once, since pyparsing readies the whole grammar on its first parse (about a second)."""
    needed = RECURSION_BASE + FRAMES_PER_LEVEL * max_nesting + CHAIN_FRAMES
    sys.setrecursionlimit(max(sys.getrecursionlimit(), needed))
    _check("ASK {}", "query", None)
    _check("CLEAR DEFAULT", "update", None)
