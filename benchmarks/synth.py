"""A seeded, deterministic generator of larger datasets that follow the ontology and pass the shapes.

It writes a data folder shaped like the project's own: synthetic source texts under ``sources/``
(each sentence states one engagement) with their passage descriptions, and under ``assertions/``
the states and the claim nodes citing those passages. ``mildip --data DIR build`` then runs the
whole pipeline on it; the ontology and shapes are the project's.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from rdflib.namespace import RDF, RDFS, XSD

from mildip_ld.pipeline.provenance import Passage, passage_iri, segment, sha256_of, source_iri
from mildip_ld.vocab.namespaces import MD, MDR, OA, PREFIXES

INSTRUMENTS = [
    ("JointExercise", "held a joint military exercise with"),
    ("BilateralDefenceAgreement", "signed a bilateral defence agreement with"),
    ("ArmsSale", "sold arms to"),
    ("MilitaryEducationExchange", "exchanged military students with"),
    ("SecurityDialogue", "held a security dialogue with"),
    ("IntelligenceSharing", "shared intelligence with"),
    ("TrainingMission", "sent a training mission to"),
    ("StrategicPartnership", "deepened a strategic partnership with"),
]
AIMS = {
    "strengthen-alliances": "strengthen its alliances",
    "regional-stability": "promote regional stability",
    "advance-national-interests": "advance its national interests",
    "enhance-geopolitical-influence": "enhance its geopolitical influence",
    "strengthen-bilateral-relations": "strengthen bilateral relations",
    "collective-security": "strengthen collective security",
}
REGIONS = ["eastern-europe", "central-asia", "asia-pacific"]
SENTENCES_PER_SOURCE = 200
TRIPLES_PER_SENTENCE = 20  # passage (12) + claim node (8 or 9) + a share of the states, measured


@dataclass(frozen=True)
class Engagement:
    """One synthetic claim: who did what with whom, for what aim, where, how firmly."""

    agent: int
    partner: int
    instrument: int
    aim: str
    region: str
    hedged: bool

    def sentence(self) -> str:
        """The sentence of the synthetic source that states it."""
        verb = INSTRUMENTS[self.instrument][1]  # past participles: "may have held" reads right
        modal = "may have " if self.hedged else ""
        region = self.region.replace("-", " ").title()
        return (
            f"Synthland {self.agent} {modal}{verb} Synthland {self.partner} in {region} to {AIMS[self.aim]}."
        )


def _engagements(rng: random.Random, count: int, states: int) -> Iterator[Engagement]:
    for _ in range(count):
        agent = rng.randrange(states)
        partner = (agent + 1 + rng.randrange(states - 1)) % states
        yield Engagement(
            agent,
            partner,
            rng.randrange(len(INSTRUMENTS)),
            rng.choice(sorted(AIMS)),
            rng.choice(REGIONS),
            rng.random() < 0.1,
        )


def _n(iri: str) -> ox.NamedNode:
    return ox.NamedNode(str(iri))


def _text(value: str, lang: str | None = None) -> ox.Literal:
    return ox.Literal(value, language=lang) if lang else ox.Literal(value)


def _passage_triples(slug: str, passage: Passage) -> list[ox.Triple]:
    node = passage_iri(slug, passage.slug)
    quote, position = _n(f"{node}#quote"), _n(f"{node}#position")
    node_ = _n(node)
    return [
        ox.Triple(node_, _n(RDF.type), _n(MD.Passage)),
        ox.Triple(node_, _n(RDF.type), _n(OA.SpecificResource)),
        ox.Triple(node_, _n(OA.hasSource), _n(source_iri(slug))),
        ox.Triple(node_, _n(MD.lineNumber), ox.Literal(str(passage.line), datatype=_n(XSD.positiveInteger))),
        ox.Triple(node_, _n(OA.hasSelector), quote),
        ox.Triple(node_, _n(OA.hasSelector), position),
        ox.Triple(node_, _n(RDFS.label), _text(f"{slug}, line {passage.line}")),
        ox.Triple(quote, _n(RDF.type), _n(OA.TextQuoteSelector)),
        ox.Triple(quote, _n(OA.exact), _text(passage.exact)),
        ox.Triple(position, _n(RDF.type), _n(OA.TextPositionSelector)),
        ox.Triple(
            position, _n(OA.start), ox.Literal(str(passage.start), datatype=_n(XSD.nonNegativeInteger))
        ),
        ox.Triple(position, _n(OA.end), ox.Literal(str(passage.end), datatype=_n(XSD.nonNegativeInteger))),
    ]


def _claim_triples(slug: str, passage: Passage, engagement: Engagement) -> list[ox.Triple]:
    node = _n(MDR[f"activity/{slug}-{passage.slug}"])
    instrument, _ = INSTRUMENTS[engagement.instrument]
    transfer = instrument == "ArmsSale"
    triples = [
        ox.Triple(node, _n(RDF.type), _n(MD[instrument])),
        ox.Triple(node, _n(RDFS.label), _text(passage.exact[:-1], "en")),
        ox.Triple(
            node, _n(MD.hasSupplier if transfer else MD.hasAgent), _n(MDR[f"synthland-{engagement.agent}"])
        ),
        ox.Triple(
            node,
            _n(MD.hasRecipient if transfer else MD.hasPartner),
            _n(MDR[f"synthland-{engagement.partner}"]),
        ),
        ox.Triple(node, _n(MD.servesAim), _n(MDR[f"aim/{engagement.aim}"])),
        ox.Triple(node, _n(MD.inRegion), _n(MDR[engagement.region])),
        ox.Triple(node, _n(MD.statedIn), _n(passage_iri(slug, passage.slug))),
        ox.Triple(node, _n(MD.modality), _n(MD.possible if engagement.hedged else MD.stated)),
    ]
    if engagement.hedged:
        triples.append(ox.Triple(node, _n(MD.hedgeCue), _text("may")))
    return triples


def _state_triples(index: int, mention: str) -> list[ox.Triple]:
    node = _n(MDR[f"synthland-{index}"])
    return [
        ox.Triple(node, _n(RDF.type), _n(MD.State)),
        ox.Triple(node, _n(RDFS.label), _text(f"Synthland {index}", "en")),
        ox.Triple(node, _n(MD.wikidataStatus), _n(MD.noCheckedItem)),
        ox.Triple(node, _n(MD.mentionedIn), _n(mention)),
    ]


def _write(triples: list[ox.Triple], file: Path) -> None:
    prefixes = {name: str(namespace) for name, namespace in PREFIXES.items()}
    ox.serialize(triples, str(file), ox.RdfFormat.TURTLE, prefixes=prefixes)


def synthesize(
    out: Path,
    triples: int,
    seed: int = 1,
    template: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> int:
    """Write a data folder of about ``triples`` triples (beyond ``template``'s) to ``out``; return sentences.

    ``template`` (the project's data folder) is copied first, so the synthetic claims can cite its
    aims and regions and the article stays part of the dataset.
    """
    rng = random.Random(seed)
    sentences = max(1, triples // TRIPLES_PER_SENTENCE)
    states = max(10, int(sentences**0.5))
    if out.exists():
        shutil.rmtree(out)
    if template is not None:
        shutil.copytree(template, out)
    (out / "sources").mkdir(parents=True, exist_ok=True)
    (out / "assertions").mkdir(parents=True, exist_ok=True)
    engagements = _engagements(rng, sentences, states)
    first_mention: dict[int, str] = {}
    sources = (sentences + SENTENCES_PER_SOURCE - 1) // SENTENCES_PER_SOURCE
    for number in range(sources):
        slug = f"synth-{seed}-{number:06d}"
        batch = [
            next(engagements)
            for _ in range(min(SENTENCES_PER_SOURCE, sentences - number * SENTENCES_PER_SOURCE))
        ]
        text_file = out / "sources" / f"{slug}.txt"
        text_file.write_text("\n".join(e.sentence() for e in batch), encoding="utf-8")
        passages = list(segment(text_file.read_text(encoding="utf-8")))
        source = _n(source_iri(slug))
        provenance = [
            ox.Triple(source, _n(RDF.type), _n(MD.SourceDocument)),
            ox.Triple(source, _n(RDFS.label), _text(f"Synthetic source {number}", "en")),
            ox.Triple(source, _n(MD.localFile), _text(f"sources/{slug}.txt")),
            ox.Triple(source, _n(MD.sha256), _text(sha256_of(text_file))),
        ]
        claims: list[ox.Triple] = []
        for passage, engagement in zip(passages, batch, strict=True):
            provenance += _passage_triples(slug, passage)
            claims += _claim_triples(slug, passage, engagement)
            for state in (engagement.agent, engagement.partner):
                first_mention.setdefault(state, str(passage_iri(slug, passage.slug)))
        _write(provenance, out / "sources" / f"{slug}.ttl")
        _write(claims, out / "assertions" / f"{slug}.ttl")
        if number % 50 == 0:
            progress(f"synth: source {number + 1}/{sources}")
    states_triples = [
        t for index, mention in sorted(first_mention.items()) for t in _state_triples(index, mention)
    ]
    _write(states_triples, out / "assertions" / f"synth-{seed}-states.ttl")
    return sentences
