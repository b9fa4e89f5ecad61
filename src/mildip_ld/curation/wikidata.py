"""Wikidata links: read them from the graph, check them against a SPARQL endpoint, refresh the snapshot.

Links are ``skos:exactMatch <http://www.wikidata.org/entity/Q…>`` plus ``md:wikidataId "Q…"``.
The offline snapshot (``data/wikidata/snapshot.ttl``) uses Wikidata's own vocabulary (``rdfs:label``,
``schema:description``, ``wdt:P31`` instance of, ``wdt:P463`` member of), so the same query runs
against the Wikidata Query Service and against a local server loaded with the snapshot.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, PROV, RDF, RDFS, SKOS, XSD
from SPARQLWrapper import JSON, POST, SPARQLWrapper

from mildip_ld import __version__
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.namespaces import MD, WD, bind_prefixes

WIKIDATA_SPARQL = "https://query.wikidata.org/sparql"
WDT = Namespace("http://www.wikidata.org/prop/direct/")
USER_AGENT = f"mildip-ld/{__version__} (https://w3id.org/mildip; linked-data store for military diplomacy)"
SNAPSHOT_NODE = URIRef("https://w3id.org/mildip/id/dataset/wikidata-snapshot")

ITEMS_QUERY = """
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX schema: <http://schema.org/>
PREFIX wdt: <http://www.wikidata.org/prop/direct/>
SELECT ?item ?label ?description ?instanceOf ?memberOf WHERE {
  VALUES ?item { %s }
  ?item rdfs:label ?label . FILTER(LANG(?label) = "en")
  OPTIONAL { ?item schema:description ?description . FILTER(LANG(?description) = "en") }
  OPTIONAL { ?item wdt:P31 ?instanceOf }
  OPTIONAL { ?item wdt:P463 ?memberOf }
}"""
WIKIDATA_SCHEMA = Namespace("http://schema.org/")  # Wikidata uses http://schema.org/, not https


@dataclass(frozen=True)
class Link:
    """One of our resources and the Wikidata item it is linked to."""

    entity: URIRef
    qid: str
    label: str
    aliases: tuple[str, ...] = ()

    @property
    def item(self) -> URIRef:
        """The Wikidata entity IRI."""
        return WD[self.qid]

    def names(self) -> set[str]:
        """Our label and aliases, case-folded, to compare with Wikidata's label."""
        return {name.casefold() for name in (self.label, *self.aliases)}


@dataclass
class Item:
    """What a SPARQL endpoint says about one Wikidata item."""

    qid: str
    label: str
    description: str | None = None
    instance_of: set[str] = field(default_factory=set)
    member_of: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Finding:
    """A problem with one link."""

    link: Link
    problem: str

    def render(self) -> str:
        """One line: our IRI, the identifier, what is wrong."""
        return f"{self.link.entity} -> {self.link.qid}: {self.problem}"


class EndpointError(MildipError):
    """The SPARQL endpoint failed or timed out after every retry."""

    status = 502


def links_in(graph: Graph) -> list[Link]:
    """Every linked entity of ``graph``, sorted by identifier."""
    found = []
    for entity, qid in graph.subject_objects(MD.wikidataId):
        if not isinstance(entity, URIRef):
            continue  # the shapes require an IRI; a blank node has no page to link
        aliases = tuple(str(a) for a in graph.objects(entity, SKOS.altLabel))
        found.append(Link(entity, str(qid), str(graph.value(entity, RDFS.label) or ""), aliases))
    return sorted(found, key=lambda link: (int(link.qid[1:]), str(link.entity)))


def _batches(items: list[Link], size: int) -> Iterator[list[Link]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class WikidataClient:
    """Fetches items from a SPARQL endpoint with SPARQLWrapper: batched, timed out, retried."""

    endpoint: str = WIKIDATA_SPARQL
    timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 1.0
    batch_size: int = 50
    sleep: Callable[[float], None] = time.sleep

    def _query(self, text: str) -> dict:
        wrapper = SPARQLWrapper(self.endpoint, agent=USER_AGENT)
        wrapper.setMethod(POST)
        wrapper.setQuery(text)
        wrapper.setReturnFormat(JSON)
        wrapper.setTimeout(int(max(1, self.timeout_s)))
        last_error: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                return wrapper.queryAndConvert()  # type: ignore[return-value]
            except Exception as error:  # SPARQLWrapper raises URLError, socket timeouts, HTTP errors
                last_error = error
                if attempt < self.retries:
                    self.sleep(self.backoff_s * 2**attempt)
        raise EndpointError(f"{self.endpoint} failed after {self.retries + 1} attempt(s): {last_error}")

    def fetch(self, links: list[Link]) -> dict[str, Item]:
        """The items of ``links`` that the endpoint knows, by identifier."""
        items: dict[str, Item] = {}
        for batch in _batches(links, self.batch_size):
            values = " ".join(f"<{link.item}>" for link in batch)
            for row in self._query(ITEMS_QUERY % values)["results"]["bindings"]:
                qid = row["item"]["value"].rsplit("/", 1)[-1]
                item = items.setdefault(qid, Item(qid, row["label"]["value"]))
                if "description" in row:
                    item.description = row["description"]["value"]
                if "instanceOf" in row:
                    item.instance_of.add(row["instanceOf"]["value"].rsplit("/", 1)[-1])
                if "memberOf" in row:
                    item.member_of.add(row["memberOf"]["value"].rsplit("/", 1)[-1])
        return items


def check(links: list[Link], items: dict[str, Item]) -> list[Finding]:
    """Compare our links with what the endpoint says: missing items and labels that do not match."""
    findings = []
    for link in links:
        item = items.get(link.qid)
        if item is None:
            findings.append(
                Finding(link, "no such item with an English label (deleted, merged or mistyped?)")
            )
        elif item.label.casefold() not in link.names():
            findings.append(
                Finding(
                    link,
                    f"label mismatch: Wikidata says {item.label!r}, "
                    f"we say {link.label!r} (aliases: {', '.join(link.aliases) or 'none'})",
                )
            )
    return findings


def snapshot_graph(items: Iterable[Item], retrieved: date, source: str) -> Graph:
    """The offline snapshot of ``items`` in Wikidata's vocabulary, with its retrieval date and source."""
    graph = bind_prefixes(Graph())
    graph.bind("wdt", WDT)
    graph.bind("wschema", WIKIDATA_SCHEMA)
    graph.add((SNAPSHOT_NODE, RDF.type, PROV.Entity))
    graph.add(
        (SNAPSHOT_NODE, RDFS.label, Literal("Snapshot of the Wikidata items linked by mildip-ld", lang="en"))
    )
    graph.add((SNAPSHOT_NODE, DCTERMS.date, Literal(retrieved.isoformat(), datatype=XSD.date)))
    graph.add((SNAPSHOT_NODE, PROV.wasDerivedFrom, URIRef(source) if "://" in source else Literal(source)))
    for item in sorted(items, key=lambda i: int(i.qid[1:])):
        node = WD[item.qid]
        graph.add((node, RDFS.label, Literal(item.label, lang="en")))
        graph.add((node, DCTERMS.isPartOf, SNAPSHOT_NODE))
        if item.description:
            graph.add((node, WIKIDATA_SCHEMA.description, Literal(item.description, lang="en")))
        for qid in sorted(item.instance_of):
            graph.add((node, WDT.P31, WD[qid]))
        for qid in sorted(item.member_of):
            graph.add((node, WDT.P463, WD[qid]))
    return graph


def items_in_snapshot(graph: Graph) -> dict[str, Item]:
    """Read a snapshot back into items (the same shape the endpoint returns)."""
    items = {}
    for node in graph.subjects(DCTERMS.isPartOf, SNAPSHOT_NODE):
        qid = str(node).rsplit("/", 1)[-1]
        description = graph.value(node, WIKIDATA_SCHEMA.description)
        items[qid] = Item(
            qid,
            str(graph.value(node, RDFS.label)),
            str(description) if description else None,
            {str(o).rsplit("/", 1)[-1] for o in graph.objects(node, WDT.P31)},
            {str(o).rsplit("/", 1)[-1] for o in graph.objects(node, WDT.P463)},
        )
    return items


def write_mapping_csv(links: list[Link], file: Path) -> None:
    """Our IRI, the Wikidata identifier and entity IRI, and our label, one row per link."""
    with file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["iri", "wikidata_id", "wikidata_iri", "label"])
        for link in links:
            writer.writerow([str(link.entity), link.qid, str(link.item), link.label])


def write_quickstatements(links: list[Link], file: Path) -> None:
    """QuickStatements (v1, tab-separated): each item gets P2888 (exact match) = our IRI."""
    lines = [f'{link.qid}\tP2888\t"{link.entity}"' for link in links]
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
