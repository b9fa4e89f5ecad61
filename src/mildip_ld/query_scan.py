"""A lexical scan of SPARQL text for the safety checks the engine cannot be told to make.

pyoxigraph calls any endpoint a ``SERVICE`` clause names (and fetches any ``LOAD`` IRI), and has
no hook to restrict either, so the text is scanned before the engine sees it (in the worker or
the writer process, not in the server: a 100 kB text takes about 0.1 s of Python, which would
stall the server's event loop): comments,
strings, IRIs and prefixed names are skipped as tokens (as the SPARQL grammar reads them), and the
keywords that remain are what the engine will see. The scan fails closed: a SERVICE whose
endpoint it cannot resolve to an allowed absolute IRI is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin

_TOKEN = re.compile(r"""
    (?P<iri><(?:[^<>"{}|^`\\\x00-\x20]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*>)
  | (?P<string>'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"
              |'(?:[^'\\\n\r]|\\.)*'|"(?:[^"\\\n\r]|\\.)*")
  | (?P<comment>\#[^\n\r]*)
  | (?P<var>[?$][\w\u00b7\u0300-\u036f\u203f-\u2040]+)
  | (?P<pname>(?:[^\W\d][\w.\-]*)?:(?:[\w.\-:%]|\\[_~.\-!$&'()*+,;=/?#@%])*)
  | (?P<word>[^\W\d]\w*)
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)

_OPENING, _CLOSING = frozenset("{(["), frozenset("})]")

_UNICODE_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind (iri, string, var, pname, word, other) and text."""

    kind: str
    text: str


def tokens(text: str) -> list[Token]:
    """The tokens of ``text``, without white space and comments."""
    found = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind not in ("space", "comment"):
            found.append(Token(kind, match.group()))
    return found


def _iri_value(token: Token) -> str:
    """An IRI token's IRI, with its \\u escapes decoded (as the SPARQL parser decodes them)."""
    return _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), token.text[1:-1])


@dataclass
class Scan:
    """What the text asks of the engine beyond reading the store."""

    services: list[str | None] = field(default_factory=list)
    """Endpoint IRI of each SERVICE clause; None when it is a variable or cannot be resolved."""
    has_dataset_clause: bool = False
    """A FROM or FROM NAMED clause is present (so the default graph is not the union)."""
    loads: int = 0
    """Number of LOAD operations (updates)."""
    depth: int = 0
    """Deepest nesting of ``{``, ``(`` and ``[`` (a parser recurses once per level)."""
    volatile: bool = False
    """A function whose value changes from one evaluation to the next is called (NOW, RAND, UUID...)."""

    @property
    def repeatable(self) -> bool:
        """Whether evaluating the text again on the same store gives the same answer: no SERVICE
        (another endpoint's data may change) and no volatile function."""
        return not self.services and not self.volatile


VOLATILE_FUNCTIONS = ("NOW", "RAND", "UUID", "STRUUID")


def _is_word(token: Token, *words: str) -> bool:
    return token.kind == "word" and token.text.upper() in words


def scan(text: str) -> Scan:
    """Scan a query or update text for SERVICE, FROM, LOAD, volatile functions and its nesting depth."""
    result = Scan()
    toks = tokens(text)
    prefixes: dict[str, str] = {}
    base: str | None = None

    def resolve(token: Token) -> str | None:
        if token.kind == "iri":
            iri = _iri_value(token)
            return urljoin(base, iri) if base else iri
        if token.kind == "pname":
            prefix, _, local = token.text.partition(":")
            namespace = prefixes.get(prefix)
            return None if namespace is None else namespace + re.sub(r"\\(.)", r"\1", local)
        return None

    level = 0
    for index, token in enumerate(toks):
        if token.kind == "other" and token.text in _OPENING:
            level += 1
            result.depth = max(result.depth, level)
            continue
        if token.kind == "other" and token.text in _CLOSING:
            level -= 1
            continue
        following = toks[index + 1:index + 4]
        if _is_word(token, "PREFIX") and len(following) >= 2 and following[0].kind == "pname" \
                and following[1].kind == "iri":
            prefixes[following[0].text[:-1]] = resolve(following[1]) or ""
        elif _is_word(token, "BASE") and following and following[0].kind == "iri":
            base = resolve(following[0])
        elif _is_word(token, "FROM"):
            result.has_dataset_clause = True
        elif _is_word(token, "LOAD"):
            result.loads += 1
        elif _is_word(token, *VOLATILE_FUNCTIONS):
            result.volatile = True
        elif _is_word(token, "SERVICE"):
            if following and _is_word(following[0], "SILENT"):
                following = following[1:]
            result.services.append(resolve(following[0]) if following else None)
    return result


def refused_services(found: Scan, allowlist: Iterable[str]) -> list[str]:
    """The SERVICE endpoints of ``found`` that are not allowed (unresolvable ones as ``?``)."""
    allowed = set(allowlist)
    return [service or "?" for service in found.services if service is None or service not in allowed]


def refusal(found: Scan, what: str, allowlist: Iterable[str], max_nesting: int) -> str | None:
    """Why the ``what`` (query or update) scanned as ``found`` must not run, or None when it may:
    brackets nested past ``max_nesting``, a LOAD, or a SERVICE not in ``allowlist``."""
    if found.depth > max_nesting:
        return f"the {what} nests brackets {found.depth} levels deep; the limit is {max_nesting}"
    if found.loads:
        return "LOAD is not allowed on this endpoint (it would fetch from the network)"
    refused = refused_services(found, allowlist)
    if refused:
        allowed = ", ".join(f"<{iri}>" for iri in allowlist)
        return (f"SERVICE {', '.join(refused)} is not allowed: federated queries may only call "
                f"{allowed or 'no endpoint (SERVICE is disabled here)'}")
    return None
