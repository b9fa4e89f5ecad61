"""`mildip validate`: the shipped data conforms; each broken fixture is refused with a usable report."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mildip_ld.cli import main

from .conftest import FIXTURES

# fixture -> (focus node as printed, path as printed or None, words the message must contain)
BROKEN = {
    "missing-passage": ("act:unsourced-exercise", "md:statedIn", "needs md:statedIn"),
    "wrong-range": ("act:exercise-with-a-region", "md:hasPartner", "points to an md:Actor"),
    "unknown-instrument": ("md:Teleportation", None, "Unknown class"),
    "quote-not-in-source": ("passage:military-diplomacy-in-russia/l99-s1", "oa:exact", "Quote not in source"),
    "literal-for-iri": ("act:exercise-with-a-string", "md:hasPartner", "by IRI"),
    "bad-offsets": (
        "passage:military-diplomacy-in-russia/l98-s1-position",
        "oa:start",
        "smaller than oa:end",
    ),
    "minted-elsewhere": (
        "<http://example.org/russia-exercise>",
        None,
        "minted under https://w3id.org/mildip/id/",
    ),
    "hedged-without-cue": ("act:russia-hedged-without-cue", None, "must quote its hedge word"),
    "unknown-modality": ("act:russia-certain-exercise", "md:modality", "exactly one md:modality"),
    "blank-node-claim": ("_:", None, "never as blank nodes"),
    "unknown-property": ("act:russia-typo-exercise", "md:hasPartnr", "Unknown property"),
    "wikidata-mismatch": ("mdr:atlantis", "md:wikidataId", "same Wikidata item"),
    "wrong-datatype": ("mdr:lemuria", "md:wikidataId", "bare Wikidata item identifier"),
    "membership-of-a-state": ("mship:belarus-china", "md:organization", "md:InternationalOrganization"),
    "entity-without-mention": ("mdr:ruritania", "md:mentionedIn", "mentionedIn"),
    "frequency-without-cue": ("act:russia-often-exercise", "md:frequency", "cue word"),
    "outcome-as-aim": ("act:russia-outcome-as-aim", "md:servesAim", "points to an md:Aim"),
}


def test_shipped_data_conforms(capsys: pytest.CaptureFixture[str]):
    assert main(["validate"]) == 0
    assert "conforms" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_fixture_is_reported_with_file_focus_path_and_message(
    name: str, capsys: pytest.CaptureFixture[str]
):
    fixture = FIXTURES / f"{name}.ttl"
    assert main(["validate", str(fixture)]) == 1
    report = capsys.readouterr().out
    focus, path, words = BROKEN[name]
    blocks = [b for b in report.split(f"{fixture}") if words in b]
    assert blocks, f"no violation saying {words!r} in:\n{report}"
    block = blocks[0]
    assert f"focus node: {focus}" in block
    if path:
        assert f"path:       {path}" in block
    assert "rule:" in block


def test_malformed_turtle_names_file_and_line_and_exits_2():
    fixture = FIXTURES / "malformed.ttl"
    run = subprocess.run(
        [sys.executable, "-m", "mildip_ld.cli", "validate", str(fixture)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert f"{fixture}:6: malformed Turtle" in run.stderr


def test_report_names_the_offending_value(capsys: pytest.CaptureFixture[str]):
    main(["validate", str(FIXTURES / "literal-for-iri.ttl")])
    assert 'value:      "China"' in capsys.readouterr().out
