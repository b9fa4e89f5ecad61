"""``/explain?s=&p=&o=``: why a triple holds, as linked data and as a page.

An inferred triple is answered with its derivations down to asserted triples: the OWL 2 RL rule
(named and linked as in the W3C OWL 2 Profiles rule tables), the ontology axioms it applied and
its premises, each premise either asserted (with the source sentences behind it) or inferred (with
its own derivation, and a link to explain it alone); how firmly it holds (a badge when every
derivation rests on a hedged or forecast claim) and the sentences that support it, through every
derivation, as the release's derivations record says. An asserted triple is answered as asserted,
with its source passages, not explained. The representation follows ``Accept`` (``Vary: Accept``)
or ``?format=`` (``html``, ``ttl``, ``nt``, ``nq``, ``trig``, ``jsonld``, ``rdf``): HTML for
browsers, else the PROV-O explanation graph (see :meth:`Explanations.graph`) in every RDF format
the endpoint serves. Unknown triples answer 404, malformed parameters 400.

Statement IRIs (``…/id/statement/<hash>``, minted by :func:`mildip_ld.pipeline.derive.statement_iri` for
the ``rdf:Statement`` nodes of explanations) dereference here: 303 See Other to the explanation in
the representation ``Accept`` prefers; so do the IRIs of a statement's derivations
(``…/id/statement/<hash>/derivation``, and each rule application the derivations record names,
``…/derivation/<digest>``).

The record is read once per release, on first use (about a second, see
:mod:`mildip_ld.release.explanations`). The handlers parse their parameters on the event loop and render
through the render gate (:mod:`mildip_ld.server.render_gate`), in a thread: neither that computation nor
an answer blocks the event loop, and each answer is rendered once per release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import Response
from rdflib import BNode, Node
from rdflib.collection import Collection
from rdflib.namespace import OWL

from mildip_ld.pipeline.derive import RULES_SPEC, Derivation, Triple, statement_iri
from mildip_ld.release.explanations import (
    STATED_GRAPHS,
    BadTermError,
    Explanations,
    explain_path_of,
    explanations_for,
    parse_triple,
    statement_key,
)
from mildip_ld.release.store import store_for
from mildip_ld.server.render_gate import Rendered, answer
from mildip_ld.site.describe import Describer, Passage, Term
from mildip_ld.site.web import (
    SECURITY_HEADERS,
    gate_of,
    not_found_page,
    page,
    release_of,
    root_path,
    wants_html,
)
from mildip_ld.vocab.formats import (
    BY_EXTENSION,
    BY_NAME,
    FORMATS,
    HTML_PAGE,
    RdfFormat,
    Representation,
    negotiate_document,
    serialize,
)
from mildip_ld.vocab.namespaces import MD, RESOURCE_BASE
from mildip_ld.vocab.terms import to_oxigraph, to_oxigraph_quad

router = APIRouter()

MAX_DEPTH = 20
"""Steps deeper than this are not expanded on the page (derivations of the article are 4 deep)."""
MAX_SOURCES = 5
"""Passages shown per asserted step (the RDF answer carries them all)."""
MAX_DERIVATIONS = 10
"""Derivations of the explained triple shown in full (the RDF answer carries them all)."""
MAX_SENTENCES = 30
"""Supporting sentences quoted on the page (the RDF answer carries them all)."""
RULES = {
    "cax-sco": "an instance of a class is an instance of each of its superclasses",
    "prp-dom": "the subject of a property is an instance of the property's domain",
    "prp-rng": "the object of a property is an instance of the property's range",
    "prp-spo1": "what holds by a subproperty holds by its superproperty",
    "prp-spo2": "a chain of properties implies the property defined as that chain",
    "prp-inv1": "a property holds in reverse by its inverse",
    "prp-inv2": "a property holds in reverse by its inverse",
    "prp-symp": "a symmetric property holds in both directions",
    "prp-trp": "a transitive property carries over through an intermediate",
    "scm-sco": "a subclass of a subclass is a subclass",
    "scm-spo": "a subproperty of a subproperty is a subproperty",
    "scm-dom1": "a property's domain extends to the domain's superclasses",
    "scm-dom2": "a subproperty has the domain of its superproperty",
    "scm-rng1": "a property's range extends to the range's superclasses",
    "scm-rng2": "a subproperty has the range of its superproperty",
}
"""What each OWL 2 RL rule derives, in words (the W3C tables give it formally)."""


@dataclass
class Step:
    """One statement of a derivation tree, ready to show."""

    anchor: str
    iri: str
    subject: Term
    predicate: Term
    object: Term
    chain: list[Term] | None
    """The properties of a property chain axiom's list (shown instead of the list's blank node)."""
    role: str
    """``conclusion``, ``axiom`` or ``premise``."""
    depth: int
    kind: str
    """``inferred``, ``asserted`` or ``repeat`` (explained earlier on the page)."""
    why: str | None = None
    """This server's ``/explain`` path for an inferred statement."""
    graph: str | None = None
    """The named graph stating an asserted statement."""
    rule: str | None = None
    rule_href: str | None = None
    rule_text: str | None = None
    hedge: Term | None = None
    """The statement's modality when weaker than stated."""
    rule_hedge: Term | None = None
    """The derivation's modality (its weakest part's) when weaker than stated."""
    axioms: list[Step] = field(default_factory=list)
    premises: list[Step] = field(default_factory=list)
    sources: list[tuple[str, Passage]] = field(default_factory=list)
    more_sources: int = 0


class TreeBuilder:
    """Builds the derivation tree of a triple, each statement expanded once (later: a link up)."""

    def __init__(self, explanations: Explanations, describer: Describer) -> None:
        self.explanations, self.describer = explanations, describer
        self.seen: set[Triple] = set()

    def term(self, node: Node) -> Term:
        return self.describer.term(to_oxigraph(node))

    def chain(self, triple: Triple) -> list[Term] | None:
        if triple[1] != OWL.propertyChainAxiom or not isinstance(triple[2], BNode):
            return None
        return [self.term(step) for step in Collection(self.explanations.stated, triple[2])]

    def hedge(self, modality: Node) -> Term | None:
        return None if modality == MD.stated else self.term(modality)

    def step(self, triple: Triple, role: str = "conclusion", depth: int = 0) -> Step:
        derivation = self.explanations.derivation(triple)
        step = Step(
            anchor=f"st-{statement_key(triple)}",
            iri=str(statement_iri(triple)),
            subject=self.term(triple[0]),
            predicate=self.term(triple[1]),
            object=self.term(triple[2]),
            chain=self.chain(triple),
            role=role,
            depth=depth,
            kind="asserted" if derivation is None else "inferred",
            why=None if derivation is None else explain_path_of(triple),
            hedge=self.hedge(self.explanations.modality(triple)),
        )
        if triple in self.seen:
            step.kind = "repeat"
            return step
        self.seen.add(triple)
        if derivation is None:
            step.graph = next((g for g in STATED_GRAPHS if g in self.explanations.graphs_of(triple)), None)
            sources = self.explanations.sources(triple)
            step.sources = [
                (source.relation, self.describer.passage(str(source.passage)))
                for source in sources[:MAX_SOURCES]
            ]
            step.more_sources = max(0, len(sources) - MAX_SOURCES)
            return step
        self._derive(step, derivation, depth)
        return step

    def _derive(self, step: Step, derivation: Derivation, depth: int) -> None:
        step.rule, step.rule_href = derivation.rule, RULES_SPEC + derivation.rule
        step.rule_text, step.rule_hedge = RULES.get(derivation.rule), self.hedge(derivation.modality)
        if depth < MAX_DEPTH:
            step.axioms = [self.step(axiom, "axiom", depth + 1) for axiom in derivation.axioms]
            step.premises = [self.step(premise, "premise", depth + 1) for premise in derivation.premises]

    def others(self, triple: Triple) -> list[Step]:
        """The explained triple's further derivations (after the first), each expanded below it."""
        steps = []
        for number, derivation in enumerate(self.explanations.derivations_of(triple)[1:MAX_DERIVATIONS], 2):
            step = Step(
                anchor=f"st-{statement_key(triple)}-{number}",
                iri=str(statement_iri(triple)),
                subject=self.term(triple[0]),
                predicate=self.term(triple[1]),
                object=self.term(triple[2]),
                chain=None,
                role=f"derivation {number}",
                depth=0,
                kind="inferred",
                why=explain_path_of(triple),
            )
            self._derive(step, derivation, 0)
            steps.append(step)
        return steps


# --- representations --------------------------------------------------------------------------------


def _format(request: Request) -> Representation:
    """``?format=`` (an extension, a name or ``html``), else the Accept header (HTML when nothing fits)."""
    asked = request.query_params.get("format")
    if asked is None:
        return negotiate_document(request.headers.get("accept"), FORMATS)
    if asked == HTML_PAGE.name:
        return HTML_PAGE
    fmt = BY_EXTENSION.get(asked) or BY_NAME.get(asked)
    if fmt is None:
        offered = ", ".join(["html", *(f.extension for f in FORMATS)])
        raise BadTermError(f"unknown format {asked!r}: this endpoint offers {offered}")
    return fmt


def _alternates(root: str, path: str) -> str:
    links = [f'<{root}{path}&format=html>; rel="alternate"; type="{HTML_PAGE.media_type}"']
    links += [f'<{root}{path}&format={f.extension}>; rel="alternate"; type="{f.media_type}"' for f in FORMATS]
    return ", ".join(links)


def _rdf(explanations: Explanations, triple: Triple, fmt: RdfFormat, headers: dict[str, str]) -> Rendered:
    graph = explanations.graph(triple)
    quads = [to_oxigraph_quad(triple, ox.DefaultGraph()) for triple in graph]
    items = quads if fmt.datasets else [quad.triple for quad in quads]
    return Rendered(
        serialize(items, fmt),
        fmt.media_type,
        headers=tuple({"X-Content-Type-Options": "nosniff", **headers}.items()),
    )


def _error_page(html: bool, root: str, status: int, title: str, message: str) -> Rendered:
    """An error answer: an HTML page (``html``: for browsers) or plain text."""
    if html:
        return page("explain_error.html", {"title": title, "message": message}, root, status=status)
    return Rendered(
        f"{message}\n".encode(), "text/plain; charset=utf-8", status, tuple(SECURITY_HEADERS.items())
    )


def _explanation(
    release: Path, root: str, asked: Triple, chosen: Representation, negotiated: bool, html_errors: bool
) -> Rendered:
    """The explanation of ``asked`` (run in a render thread)."""
    explanations = explanations_for(release)
    triple = explanations.find(asked)
    if triple is None:
        text = " ".join(term.n3() for term in asked)
        return _error_page(
            html_errors,
            root,
            404,
            "Not in the graph",
            f"not in the graph: {text} is neither asserted nor inferred in this release, "
            f"so there is nothing to explain",
        )
    if not explanations.is_stated(triple) and explanations.derivation(triple) is None:
        return _error_page(
            html_errors,
            root,
            500,
            "No derivation",
            "this triple is inferred but no OWL 2 RL derivation of it was found (please report it)",
        )
    path = explain_path_of(triple)
    headers = {"Link": _alternates(root, path)}
    if negotiated:
        headers["Vary"] = "Accept"
    if isinstance(chosen, RdfFormat):
        return _rdf(explanations, triple, chosen, headers)
    describer = Describer(store_for(release))
    builder = TreeBuilder(explanations, describer)
    step = builder.step(triple)
    passages = explanations.supporting_passages(triple)
    formats = [(f.label, f"{path}&format={f.extension}", f.media_type) for f in FORMATS]
    return page(
        "explain.html",
        {
            "step": step,
            "others": builder.others(triple),
            "formats": formats,
            "rules_spec": RULES_SPEC,
            "derivations": len(explanations.derivations_of(triple)),
            "sentence_count": len(passages),
            "sentences": [describer.passage(str(passage)) for passage in passages[:MAX_SENTENCES]],
        },
        root,
        headers=headers,
    )


@router.api_route("/explain", methods=["GET", "HEAD"], include_in_schema=False)
async def explain(request: Request) -> Response:
    """Why ``(s, p, o)`` holds: its derivation down to asserted triples and their source sentences."""
    params = request.query_params
    try:
        chosen = _format(request)
        asked = parse_triple(params.get("s"), params.get("p"), params.get("o"))
    except BadTermError as failure:
        return answer(
            request, _error_page(wants_html(request), root_path(request), 400, "Bad request", str(failure))
        )
    release, root = release_of(request).resolve(), root_path(request)
    negotiated, html_errors = "format" not in params, wants_html(request)
    name = chosen.name
    key = (str(release), "explain", tuple(term.n3() for term in asked), name, negotiated, html_errors, root)
    return await gate_of(request).respond(
        request, "explain", key, lambda: _explanation(release, root, asked, chosen, negotiated, html_errors)
    )


@router.api_route("/id/statement/{key}", methods=["GET", "HEAD"], include_in_schema=False)
async def statement(request: Request, key: str) -> Response:
    """A statement IRI: 303 See Other to its explanation, in the representation Accept prefers."""
    return await _to_explanation(request, key)


@router.api_route("/id/statement/{key}/derivation", methods=["GET", "HEAD"], include_in_schema=False)
async def statement_derivation(request: Request, key: str) -> Response:
    """An inferred statement's derivations: 303 See Other to the explanation."""
    return await _to_explanation(request, key, derivation="")


@router.api_route("/id/statement/{key}/derivation/{digest}", methods=["GET", "HEAD"], include_in_schema=False)
async def statement_derivation_by_digest(request: Request, key: str, digest: str) -> Response:
    """One recorded derivation (a rule application of the derivations graph): 303 See Other to the
    explanation of the statement it derived, which shows it."""
    return await _to_explanation(request, key, derivation=digest)


def _redirect(
    release: Path, root: str, key: str, derivation: str | None, chosen: Representation, html_errors: bool
) -> Rendered:
    """The 303 to the explanation of statement ``key``, or 404 (run in a render thread); with
    ``derivation`` (a digest, or "" for any), only when the statement is inferred and, for a digest,
    the record holds that derivation."""
    explanations = explanations_for(release)
    triple = explanations.statements.get(key)
    iri = f"{RESOURCE_BASE}statement/{key}"
    known = triple is not None and (
        derivation is None
        or (
            explanations.derivation(triple) is not None
            and (not derivation or f"{iri}/derivation/{derivation}" in explanations.derivation_iris(triple))
        )
    )
    if triple is None or not known:
        suffix = "" if derivation is None else "/derivation" + (f"/{derivation}" if derivation else "")
        return not_found_page(html_errors, root, iri + suffix)
    location = explain_path_of(triple) + (
        f"&format={chosen.extension}" if isinstance(chosen, RdfFormat) else ""
    )
    return Rendered(b"", None, 303, (("Location", root + location), ("Vary", "Accept")))


async def _to_explanation(request: Request, key: str, derivation: str | None = None) -> Response:
    """303 to the explanation of statement ``key`` (see :func:`_redirect`), through the render gate."""
    release, root = release_of(request).resolve(), root_path(request)
    chosen = negotiate_document(request.headers.get("accept"), FORMATS)
    html_errors = wants_html(request)
    name = chosen.name
    return await gate_of(request).respond(
        request,
        "explain",
        (str(release), "statement", key, derivation, name, html_errors, root),
        lambda: _redirect(release, root, key, derivation, chosen, html_errors),
    )
