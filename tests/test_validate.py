"""`mildip validate`: the shipped data conforms; each broken fixture is refused with a usable report."""

from __future__ import annotations

import builtins
import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mildip_ld.cli.main import main
from mildip_ld.pipeline.loader import load_project
from mildip_ld.pipeline.validate import validate_project
from mildip_ld.vocab.config import DEFAULT_PATHS

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
        [sys.executable, "-m", "mildip_ld", "validate", str(fixture)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert f"{fixture}:6: malformed Turtle" in run.stderr


def test_report_names_the_offending_value(capsys: pytest.CaptureFixture[str]):
    main(["validate", str(FIXTURES / "literal-for-iri.ttl")])
    assert 'value:      "China"' in capsys.readouterr().out


def _many_violations(file: Path, count: int) -> dict[str, int]:
    """A Turtle file of ``count`` exercises, each with a misspelt property (one violation each),
    one per line; returns the line of each exercise's IRI."""
    head = [
        "@prefix md: <https://w3id.org/mildip/ontology#> .",
        "@prefix mdr: <https://w3id.org/mildip/id/> .",
        "@prefix act: <https://w3id.org/mildip/id/activity/> .",
    ]
    body = [
        f"act:typo-{n} a md:JointExercise; md:hasAgent mdr:russia; md:hasPartnr mdr:china."
        for n in range(count)
    ]
    file.write_text("\n".join(head + body) + "\n", encoding="utf-8")
    return {f"https://w3id.org/mildip/id/activity/typo-{n}": len(head) + 1 + n for n in range(count)}


def test_locating_violations_reads_each_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file:line of every violation comes from one reading of each file, whatever their
    number (it was one reading per violation: 10^4 violations in 1 MB took minutes)."""
    data = tmp_path / "data"
    (data / "sources").mkdir(parents=True)
    (data / "assertions").mkdir()
    paths = replace(DEFAULT_PATHS, data=data)
    opened: list[str] = []
    real_open = io.open

    def counting_open(file, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 (open's own signature)
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(builtins, "open", counting_open)
    reads, violations = {}, {}
    for count in (400, 1600):  # each exercise breaks several shapes: 2,000 and 8,000 violations
        file = tmp_path / f"typos-{count}.ttl"
        lines = _many_violations(file, count)
        opened.clear()
        result = validate_project(load_project(paths, extra_files=[file]), data, paths.shapes)
        typos = [v for v in result.violations if "hasPartnr" in str(v.path)]
        assert len(typos) == count
        assert all(v.file == file and v.line == lines[str(v.focus)] for v in typos)
        reads[count], violations[count] = opened.count(str(file)), len(result.violations)
    assert violations[1600] == 4 * violations[400] >= 4 * 2000, violations
    assert reads[400] == reads[1600] <= 2, reads  # parsing it, and indexing its lines
