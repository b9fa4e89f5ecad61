"""The mention index: generated, current, and complete (no name in the text without its entry)."""

from __future__ import annotations

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, SKOS

from mildip_ld.pipeline.loader import ProjectData
from mildip_ld.pipeline.mentions import MENTIONS_FILE, generated_text, mention_index, name_pattern, normalise
from mildip_ld.vocab.config import Paths
from mildip_ld.vocab.namespaces import MD, MDR, OA

PASSAGE = "https://w3id.org/mildip/id/passage/military-diplomacy-in-russia/"


def _words(text: str) -> list[str]:
    """The text as lower-case words, apostrophes straightened (written apart from the generator)."""
    text = text.replace("\u2019", "'").lower()
    words, word = [], ""
    for char in text:
        if char.isalnum() or char in "-'":
            word += char
        else:
            if word:
                words.append(word)
            word = ""
    if word:
        words.append(word)
    return [w.removesuffix("'s").strip("'") for w in words]


def _names_phrase(passage_words: list[str], name: str) -> bool:
    target = _words(name)
    return any(passage_words[i : i + len(target)] == target for i in range(len(passage_words)))


def test_the_committed_index_is_the_generated_one(paths: Paths):
    assert (paths.assertions / MENTIONS_FILE).read_text(encoding="utf-8") == generated_text(paths)


def test_every_name_in_the_text_has_its_index_entry(project: ProjectData):
    """Scan every passage for every entity's label and alternative labels, word by word."""
    asserted, provenance = project.asserted.graph, project.provenance.graph
    entity_types = set(project.ontology.graph.transitive_subjects(RDFS.subClassOf, MD.Actor))
    for root in (MD.Aim, MD.Outcome, MD.Technology, MD.Region, MD.HistoricalPeriod, MD.GeopoliticalFactor):
        entity_types |= set(project.ontology.graph.transitive_subjects(RDFS.subClassOf, root))
    entities = {s for s, o in asserted.subject_objects(RDF.type) if o in entity_types}
    quotes = {
        p: _words(str(provenance.value(s, OA.exact)))
        for p in provenance.subjects(OA.hasSource, None)
        for s in provenance.objects(p, OA.hasSelector)
        if provenance.value(s, OA.exact) is not None
    }
    missing, found = [], 0
    for entity in entities:
        names = [str(n) for p in (RDFS.label, SKOS.altLabel) for n in asserted.objects(entity, p)]
        for passage, words in quotes.items():
            if any(_names_phrase(words, name) for name in names):
                found += 1
                if (entity, MD.mentionedIn, passage) not in asserted:
                    missing.append((entity, passage))
    assert not missing, missing[:10]
    assert found > 200


def test_russia_is_mentioned_in_every_sentence_that_names_it(project: ProjectData):
    asserted, provenance = project.asserted.graph, project.provenance.graph
    russia = name_pattern("Russia")
    naming = {
        p
        for p in provenance.subjects(OA.hasSource, None)
        for s in provenance.objects(p, OA.hasSelector)
        if russia.search(normalise(str(provenance.value(s, OA.exact) or "")))
    }
    assert len(naming) == 91
    assert set(asserted.objects(MDR["russia"], MD.mentionedIn)) >= naming


def test_names_match_whole_words_and_typographic_apostrophes():
    ontology = Graph()
    ontology.add((MD.State, RDFS.subClassOf, MD.Actor))
    data, provenance = Graph(), Graph()
    russia, nato = MDR["russia"], MDR["nato-expansion"]
    data.add((russia, RDF.type, MD.State))
    data.add((russia, RDFS.label, Literal("Russia", lang="en")))
    data.add((nato, RDF.type, MD.Actor))
    data.add((nato, SKOS.altLabel, Literal("NATO's expansion", lang="en")))
    texts = {
        "a": "Russia\u2019s allies.",
        "b": "The Russian military.",
        "c": "NATO\u2019s expansion began.",
        "d": "Prussia.",
    }
    for slug, text in texts.items():
        passage, selector = URIRef(PASSAGE + slug), URIRef(PASSAGE + slug + "#quote")
        provenance.add((passage, OA.hasSource, MDR["source/x"]))
        provenance.add((passage, OA.hasSelector, selector))
        provenance.add((selector, OA.exact, Literal(text)))
    index = mention_index(ontology, data, provenance)
    assert index[russia] == {URIRef(PASSAGE + "a")}
    assert index[nato] == {URIRef(PASSAGE + "c")}
