"""Browse: ``/browse/`` lists the dataset's kinds of things (actors, instruments, aims, outcomes,
challenges, geopolitical factors, regions, periods, technologies) with how many of each there are,
and ``/browse/{kind}`` shows one kind as its class tree (the ontology's subclasses, each with the
number of members it has, its subclasses' included) with every member under its own class and the
number of asserted statements that name it.

Members are the resources the asserted graph types with a class of the tree; the tree and labels
come from the ontology graph. Everything is read by bounded pattern scans of the release's store,
never user SPARQL, and rendered through the render gate (kept per release).
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mildip_ld.release.store import store_for
from mildip_ld.server.render_gate import Rendered
from mildip_ld.site.describe import local_path
from mildip_ld.site.web import gate_of, not_found, page, release_of, root_path, wants_json
from mildip_ld.vocab.namespaces import MD, NAMED_GRAPHS, RESOURCE_BASE

router = APIRouter()

KINDS: dict[str, tuple[str, str]] = {
    "actors": ("Actors by kind", "Actor"),
    "instruments": ("Instruments of military diplomacy, by the taxonomy", "MilitaryDiplomacyActivity"),
    "aims": ("Aims", "Aim"),
    "outcomes": ("Outcomes", "Outcome"),
    "challenges": ("Challenges", "Challenge"),
    "factors": ("Geopolitical factors", "GeopoliticalFactor"),
    "regions": ("Regions", "Region"),
    "periods": ("Historical periods", "HistoricalPeriod"),
    "technologies": ("Technologies", "Technology"),
}
"""The browsable kinds: path segment → (title, ontology class)."""
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
SUBCLASS_OF = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#subClassOf")
ASSERTED = ox.NamedNode(str(NAMED_GRAPHS["asserted"]))
ONTOLOGY_GRAPH = ox.NamedNode(str(NAMED_GRAPHS["ontology"]))


@dataclass
class Member:
    """A resource of a browsed kind: label, page and the asserted statements naming it."""

    iri: str
    label: str
    href: str
    statements: int


@dataclass
class ClassNode:
    """One class of a kind's tree: its direct members, subclasses and total (members included below)."""

    iri: str
    label: str
    href: str
    members: list[Member] = field(default_factory=list)
    children: list[ClassNode] = field(default_factory=list)
    total: int = 0


def _label(store: ox.Store, node: ox.NamedNode, graph: ox.NamedNode) -> str:
    labels = [
        quad.object.value
        for quad in store.quads_for_pattern(node, RDFS_LABEL, None, graph)
        if isinstance(quad.object, ox.Literal)
    ]
    english = [
        quad.object.value
        for quad in store.quads_for_pattern(node, RDFS_LABEL, None, graph)
        if isinstance(quad.object, ox.Literal) and quad.object.language == "en"
    ]
    return (english or labels or [node.value.rsplit("#", 1)[-1].rsplit("/", 1)[-1]])[0]


def _statements(store: ox.Store, node: ox.NamedNode) -> int:
    return sum(1 for _ in store.quads_for_pattern(node, None, None, ASSERTED)) + sum(
        1 for _ in store.quads_for_pattern(None, None, node, ASSERTED)
    )


def class_tree(store: ox.Store, root: ox.NamedNode) -> ClassNode:
    """``root``'s subclass tree with every asserted member under the most specific of its classes."""
    subclasses: dict[str, list[ox.NamedNode]] = defaultdict(list)
    for quad in store.quads_for_pattern(None, SUBCLASS_OF, None, ONTOLOGY_GRAPH):
        if (
            isinstance(quad.subject, ox.NamedNode)
            and isinstance(quad.object, ox.NamedNode)
            and quad.subject != quad.object
        ):
            subclasses[quad.object.value].append(quad.subject)
    seen: set[str] = set()

    def node(cls: ox.NamedNode) -> ClassNode:
        seen.add(cls.value)
        tree = ClassNode(cls.value, _label(store, cls, ONTOLOGY_GRAPH), local_path(cls.value) or cls.value)
        tree.children = sorted(
            (node(sub) for sub in subclasses.get(cls.value, []) if sub.value not in seen),
            key=lambda child: child.label.lower(),
        )
        return tree

    tree = node(root)
    nodes: dict[str, ClassNode] = {}

    def index(tree: ClassNode, depth: int) -> None:
        nodes[tree.iri] = tree
        depths[tree.iri] = depth
        for child in tree.children:
            index(child, depth + 1)

    depths: dict[str, int] = {}
    index(tree, 0)
    placed: dict[str, str] = {}
    for cls in nodes:
        for quad in store.quads_for_pattern(None, RDF_TYPE, ox.NamedNode(cls), ASSERTED):
            member = quad.subject
            if isinstance(member, ox.NamedNode) and member.value.startswith(RESOURCE_BASE):
                if member.value not in placed or depths[cls] > depths[placed[member.value]]:
                    placed[member.value] = cls
    for iri, cls in placed.items():
        member = ox.NamedNode(iri)
        nodes[cls].members.append(
            Member(iri, _label(store, member, ASSERTED), local_path(iri) or iri, _statements(store, member))
        )

    def total(tree: ClassNode) -> int:
        tree.members.sort(key=lambda member: member.label.lower())
        tree.total = len(tree.members) + sum(total(child) for child in tree.children)
        return tree.total

    total(tree)
    return tree


@functools.lru_cache(maxsize=4)
def trees(release: Path) -> dict[str, ClassNode]:
    """Every kind's tree for a release (computed once per release and process, in a render thread)."""
    store = store_for(release)
    return {kind: class_tree(store, ox.NamedNode(str(MD[cls]))) for kind, (_, cls) in KINDS.items()}


def _as_dict(tree: ClassNode) -> dict:
    return {
        "class": tree.iri,
        "label": tree.label,
        "total": tree.total,
        "members": [member.__dict__ for member in tree.members],
        "subclasses": [_as_dict(child) for child in tree.children],
    }


def _json(value: object) -> Rendered:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Rendered(body, "application/json", headers=(("Vary", "Accept"),))


def _index(release: Path, root: str, as_json: bool) -> Rendered:
    kinds = [(kind, KINDS[kind][0], tree) for kind, tree in trees(release).items()]
    if as_json:
        return _json(
            [
                {"kind": kind, "title": title, "href": f"{root}/browse/{kind}", "total": tree.total}
                for kind, title, tree in kinds
            ]
        )
    return page("browse.html", {"kinds": kinds}, root, headers={"Vary": "Accept"})


def _kind(release: Path, root: str, kind: str, as_json: bool) -> Rendered:
    tree = trees(release)[kind]
    if as_json:
        return _json({"kind": kind, "title": KINDS[kind][0], **_as_dict(tree)})
    return page(
        "browse_kind.html",
        {"kind": kind, "title": KINDS[kind][0], "tree": tree, "kinds": KINDS},
        root,
        headers={"Vary": "Accept"},
    )


@router.api_route("/browse/", methods=["GET", "HEAD"], include_in_schema=False)
async def browse(request: Request) -> Response:
    """The kinds of things in the dataset, each with its count (HTML, or JSON by Accept or ?format)."""
    release, root, as_json = release_of(request).resolve(), root_path(request), wants_json(request)
    return await gate_of(request).respond(
        request, "browse", (str(release), "browse", as_json, root), lambda: _index(release, root, as_json)
    )


@router.api_route("/browse/{kind}", methods=["GET", "HEAD"], include_in_schema=False)
async def browse_kind(request: Request, kind: str) -> Response:
    """One kind: its class tree with counts and every member (HTML or JSON)."""
    if kind not in KINDS:
        return not_found(request, f"/browse/{kind}")
    release, root, as_json = release_of(request).resolve(), root_path(request), wants_json(request)
    return await gate_of(request).respond(
        request,
        "browse",
        (str(release), "browse", kind, as_json, root),
        lambda: _kind(release, root, kind, as_json),
    )
