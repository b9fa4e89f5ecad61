"""The `mildip` command line: --help everywhere, and the analyst commands on a real build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mildip_ld.cli.main import main, parser
from mildip_ld.release.build import BuildReport

MILDIP = Path(sys.executable).parent / "mildip"  # the console script installed beside this Python
SUBCOMMANDS = sorted(parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "command", [[str(MILDIP)], [sys.executable, "-m", "mildip_ld"]], ids=["console-script", "python-m"]
)
def test_console_script_help_lists_every_subcommand(command: list[str]):
    run = subprocess.run([*command, "--help"], capture_output=True, text=True, check=True)
    assert run.stdout.startswith("usage: mildip")
    for name in SUBCOMMANDS:
        assert name in run.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert "usage: mildip" in capsys.readouterr().out


def _build_dir(built: BuildReport) -> str:
    return str(built.release.parent.parent)


def test_explain_an_inferred_membership_down_to_its_sentence(built: BuildReport, capsys):
    assert main(["--build-dir", _build_dir(built), "explain", "mdr:belarus", "md:memberOf", "mdr:csto"]) == 0
    out = capsys.readouterr().out
    assert "[prp-spo2]" in out and "[prp-inv1]" in out
    assert "stated in passage:military-diplomacy-in-russia/l19-s1" in out
    assert "Collective Security Treaty Organization (CSTO), comprising countries such as Belarus" in out


def test_explain_an_asserted_triple_says_asserted(built: BuildReport, capsys):
    assert main(["--build-dir", _build_dir(built), "explain", "mdr:russia", "rdfs:label", '"Russia"@en']) == 0
    assert "[asserted]" in capsys.readouterr().out


def test_explain_a_triple_not_in_the_graph_exits_1(built: BuildReport, capsys):
    assert main(["--build-dir", _build_dir(built), "explain", "mdr:russia", "md:memberOf", "mdr:nato"]) == 1


def test_explain_as_turtle_is_prov(built: BuildReport, capsys):
    main(
        [
            "--build-dir",
            _build_dir(built),
            "explain",
            "mdr:russia",
            "md:engagesWith",
            "mdr:india",
            "--format",
            "turtle",
        ]
    )
    out = capsys.readouterr().out
    assert "prov:wasGeneratedBy" in out and "md:RuleApplication" in out


def test_query_runs_a_named_query(built: BuildReport, capsys):
    assert main(["--build-dir", _build_dir(built), "query", "csto-members"]) == 0
    assert "Tajikistan" in capsys.readouterr().out


def test_commands_needing_a_build_say_so(tmp_path: Path, capsys):
    assert main(["--build-dir", str(tmp_path / "nothing"), "query", "csto-members"]) == 2
    assert "run `mildip build` first" in capsys.readouterr().err


def test_a_bad_server_setting_names_the_setting_and_where_it_comes_from(
    built: BuildReport, capsys, monkeypatch: pytest.MonkeyPatch
):
    build_dir = str(built.release.parent.parent)
    assert main(["--build-dir", build_dir, "serve", "--processes", "0"]) == 2
    said = capsys.readouterr().err
    assert "setting processes = 0: Input should be greater than or equal to 1" in said
    assert "--processes or MILDIP_PROCESSES" in said and "Traceback" not in said
    monkeypatch.setenv("MILDIP_WORKERS", "many")
    assert main(["--build-dir", build_dir, "serve"]) == 2
    assert "setting workers = 'many'" in capsys.readouterr().err


def test_a_bad_connection_limit_names_its_real_flag(
    built: BuildReport, capsys, monkeypatch: pytest.MonkeyPatch
):
    build_dir = str(built.release.parent.parent)
    assert main(["--build-dir", build_dir, "serve", "--head-timeout-s", "0"]) == 2
    assert "--head-timeout-s or MILDIP_HEAD_TIMEOUT_S" in capsys.readouterr().err
    assert main(["--build-dir", build_dir, "serve", "--max-head-bytes", "8192"]) == 2
    said = capsys.readouterr().err
    assert "setting max_head_bytes = 8192" in said and "max_url_bytes + 4096 = 20480" in said
    assert "--max-head-bytes or MILDIP_MAX_HEAD_BYTES" in said
    monkeypatch.setenv("MILDIP_WORKERS", "0")
    assert main(["--build-dir", build_dir, "serve"]) == 2
    said = capsys.readouterr().err
    assert "(set by MILDIP_WORKERS)" in said and "--workers" not in said, "serve has no --workers flag"


def test_format_takes_the_servers_names_in_every_command(
    built: BuildReport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """One vocabulary: the names of /sparql's ``format`` and the dumps (jsonld, rdfxml...), not rdflib's."""
    import json

    triple = ["mdr:russia", "md:engagesWith", "mdr:india"]
    assert main(["--build-dir", _build_dir(built), "explain", *triple, "--format", "jsonld"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list | dict)
    with pytest.raises(SystemExit) as refused:
        main(["--build-dir", _build_dir(built), "explain", *triple, "--format", "json-ld"])
    assert refused.value.code == 2 and "invalid choice: 'json-ld'" in capsys.readouterr().err
    for command in (
        ["infer"],
        ["dump", "-o", str(tmp_path)],
        ["publish", "--to", "http://127.0.0.1:9/store"],
    ):
        try:
            status = main(["--build-dir", _build_dir(built), *command, "--format", "json-ld"])
        except SystemExit as refused:  # argparse's choices
            status = refused.code
        assert status == 2 and "json-ld" in capsys.readouterr().err, command
