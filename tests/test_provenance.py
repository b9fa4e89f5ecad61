"""Passages: quotes match the source byte for byte, and every claim has a passage."""

from __future__ import annotations

import pytest
from rdflib import Literal, URIRef

from mildip_ld.pipeline.loader import ProjectData, oxigraph_copy
from mildip_ld.pipeline.provenance import check_quotes, segment, sha256_of, source_iri
from mildip_ld.vocab.namespaces import MD, OA

from .conftest import NO_SHARED, ROOT, SHARED

SOURCE = ROOT / "data" / "sources" / "military-diplomacy-in-russia.txt"
# The article's SHA-256, recorded when the copy was checked against the original (shared/source/).
CHECKSUMS = SOURCE.parent / "SHA256SUMS"
SHARED_SOURCE = SHARED / "source" / SOURCE.name


def test_project_copy_of_the_source_is_the_article_byte_for_byte(project: ProjectData):
    lines = CHECKSUMS.read_text().splitlines()
    recorded = {name: digest for digest, name in (line.split() for line in lines)}
    digest = sha256_of(SOURCE)
    assert recorded[SOURCE.name] == digest
    described = project.provenance.graph.value(source_iri(SOURCE.stem), MD.sha256)
    assert described == Literal(digest)


@pytest.mark.skipif(not SHARED_SOURCE.is_file(), reason=NO_SHARED)
def test_project_copy_of_the_source_is_identical_to_shared():
    assert SOURCE.read_bytes() == SHARED_SOURCE.read_bytes()


def test_every_quote_is_the_source_text_at_its_offsets(project: ProjectData):
    text = SOURCE.read_text(encoding="utf-8")
    graph = project.provenance.graph
    checked = 0
    for passage in graph.subjects(OA.hasSource, None):
        selectors = list(graph.objects(passage, OA.hasSelector))
        exact = next(graph.value(s, OA.exact) for s in selectors if graph.value(s, OA.exact) is not None)
        start = next(int(graph.value(s, OA.start)) for s in selectors if graph.value(s, OA.start) is not None)
        end = next(int(graph.value(s, OA.end)) for s in selectors if graph.value(s, OA.end) is not None)
        assert text[start:end] == str(exact), passage
        assert text[start:end].encode("utf-8") == str(exact).encode("utf-8")
        checked += 1
    assert checked == len(list(segment(text))) > 100
    assert check_quotes(oxigraph_copy(project.provenance), ROOT / "data") == []


def test_segmentation_covers_every_non_blank_line():
    text = SOURCE.read_text(encoding="utf-8")
    lines_with_passages = {p.line for p in segment(text)}
    assert lines_with_passages == {n for n, line in enumerate(text.split("\n"), 1) if line.strip()}


def test_every_claim_has_a_passage_and_a_modality(project: ProjectData):
    graph = project.asserted.graph
    claims = set(graph.subjects(MD.modality, None))
    assert claims, "no claims loaded"
    passages = set(project.provenance.graph.subjects(OA.hasSource, None))
    for claim in claims:
        stated_in = set(graph.objects(claim, MD.statedIn))
        assert stated_in, f"{claim} has no md:statedIn"
        assert stated_in <= passages, f"{claim} cites unknown passages {stated_in - passages}"


def test_every_described_resource_cites_a_passage(project: ProjectData):
    graph = project.asserted.graph
    for subject in set(graph.subjects()):
        assert isinstance(subject, URIRef), f"blank node {subject} in assertions"
        cited = set(graph.objects(subject, MD.statedIn)) | set(graph.objects(subject, MD.mentionedIn))
        assert cited, f"{subject} cites no passage"
