"""The one configuration object: built once from the flags and the MILDIP_* variables, it reaches every
command and every process whole; every folder setting is honoured; a renamed variable is refused;
an error names the flag the command really has and the variable."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest

from mildip_ld.cli.main import main, parser, settings_from
from mildip_ld.curation import writer
from mildip_ld.curation.write_parse import ParserConfig
from mildip_ld.curation.writer import WriterConfig
from mildip_ld.engine.pool import WorkerConfig
from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.config import SHIPPED_PROJECT, Paths
from mildip_ld.vocab.namespaces import MDR
from mildip_ld.vocab.settings import RENAMED_VARIABLES, Settings

FOLDER_FLAGS = {
    "project_dir": "--project",
    "data_dir": "--data",
    "shapes_dir": "--shapes",
    "queries_dir": "--queries",
    "build_dir": "--build-dir",
}


@pytest.fixture(autouse=True)
def no_mildip_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the variables it is about, and no other."""
    import os

    for name in [name for name in os.environ if name.startswith("MILDIP_")]:
        monkeypatch.delenv(name)


def test_every_folder_flag_reaches_the_settings_and_the_writer(tmp_path: Path) -> None:
    """`mildip --data X serve` validates writes against X: the writer's settings are the CLI's."""
    given = {name: tmp_path / name for name in FOLDER_FLAGS}
    argv = [item for name, flag in FOLDER_FLAGS.items() for item in (flag, str(given[name]))]
    settings = settings_from(parser().parse_args([*argv, "serve", "--port", "8123"]))
    for name, folder in given.items():
        assert getattr(settings, name) == folder
    assert settings.paths.data == given["data_dir"] and settings.paths.queries == given["queries_dir"]
    started = writer._start(json.loads(json.dumps(asdict(WriterConfig.of(settings)))))
    assert started == settings  # the writer rebuilt the very same configuration (no token to leave out)
    assert started.data_dir == given["data_dir"] and started.port == 8123


def test_folders_follow_the_project_folder_unless_given(tmp_path: Path) -> None:
    settings = Settings(project_dir=tmp_path, data_dir=tmp_path / "elsewhere")
    assert settings.paths == Paths(
        root=tmp_path,
        ontology=tmp_path / "ontology" / "mildip.ttl",
        shapes=tmp_path / "shapes",
        data=tmp_path / "elsewhere",
        queries=tmp_path / "queries",
        build=tmp_path / "build",
    )


def test_a_variable_sets_a_folder_and_a_flag_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILDIP_DATA_DIR", str(tmp_path / "from-variable"))
    assert settings_from(parser().parse_args(["validate"])).data_dir == tmp_path / "from-variable"
    flagged = settings_from(parser().parse_args(["--data", str(tmp_path / "from-flag"), "validate"]))
    assert flagged.data_dir == tmp_path / "from-flag"


@pytest.mark.parametrize("old", sorted(RENAMED_VARIABLES))
def test_a_renamed_variable_is_refused_naming_its_successor(
    old: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv(old, str(tmp_path))
    assert main(["releases"]) == 2
    said = capsys.readouterr().err
    assert f"{old} is no longer read: set {RENAMED_VARIABLES[old]} instead" in said
    assert "Traceback" not in said


def test_an_error_names_a_flag_only_where_the_command_has_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`mildip build` has no --port: a bad MILDIP_PORT names only the variable there."""
    monkeypatch.setenv("MILDIP_PORT", "99999")
    assert main(["--build-dir", str(tmp_path), "build"]) == 2
    said = capsys.readouterr().err
    assert "setting port = '99999'" in said and "(set by MILDIP_PORT)" in said and "--port" not in said
    assert main(["--build-dir", str(tmp_path), "serve"]) == 2
    assert "(set by --port or MILDIP_PORT)" in capsys.readouterr().err
    monkeypatch.delenv("MILDIP_PORT")
    monkeypatch.setenv("MILDIP_KEEP_RELEASES", "0")
    assert main(["--build-dir", str(tmp_path), "releases"]) == 2
    assert "(set by MILDIP_KEEP_RELEASES)" in capsys.readouterr().err


def test_a_missing_folder_or_project_is_named_with_its_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(tmp_path / "nope"), "validate"]) == 2  # was: "conforms: 0 triples"
    said = capsys.readouterr().err
    assert f"{tmp_path / 'nope'}: no such folder (set by --data" in said
    assert main(["--project", str(tmp_path), "validate"]) == 2
    said = capsys.readouterr().err
    assert "not a mildip-ld project folder (no ontology/mildip.ttl)" in said
    assert "--project DIR or MILDIP_PROJECT_DIR" in said


def test_another_project_folder_is_used_whole(
    paths: Paths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--project` moves every folder: its data is validated, not the checkout's."""
    project = tmp_path / "project"
    for name in ("ontology", "shapes", "data"):
        shutil.copytree(paths.root / name, project / name, ignore=shutil.ignore_patterns("changes"))
    for extra in (project / "data" / "assertions").glob("claims-*.ttl"):
        extra.unlink()
    assert main(["--project", str(project), "validate"]) == 0
    fewer = capsys.readouterr().err
    assert main(["validate"]) == 0
    checked = [int(said.split("conforms: ")[1].split()[0]) for said in (fewer, capsys.readouterr().err)]
    assert 0 < checked[0] < checked[1]


def test_the_named_queries_folder_is_honoured(
    built: BuildReport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = tmp_path / "queries"
    queries.mkdir()
    label = "<http://www.w3.org/2000/01/rdf-schema#label>"
    (queries / "just-russia.rq").write_text(
        f'SELECT ?label WHERE {{ <{MDR.russia}> {label} ?label FILTER(lang(?label) = "en") }}'
    )
    build_dir = str(built.release.parent.parent)
    assert main(["--queries", str(queries), "--build-dir", build_dir, "query", "just-russia"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["Russia"]
    assert main(["--queries", str(queries), "--build-dir", build_dir, "query", "csto-members"]) == 2


def test_every_process_takes_its_limits_from_the_settings(tmp_path: Path) -> None:
    """One default per limit (the settings'); the writer's limits are the ones configured."""
    defaults = Settings()
    assert WorkerConfig("unused").max_nesting == ParserConfig().max_nesting == defaults.max_nesting
    assert WorkerConfig("unused").max_results == defaults.max_results
    nested = {"op": "update", "text": "DELETE { ?s ?p ?o } WHERE { { { { { ?s ?p ?o } } } } }"}  # 5 deep
    header, body = writer.execute(Settings(max_nesting=3, build_dir=tmp_path / "build"), nested, {})
    assert header["status"] == 400 and json.loads(body)["message"].endswith("the limit is 3")
    header, body = writer.execute(Settings(build_dir=tmp_path / "build"), nested, {})
    assert header["status"] == 503, body  # within the default: checked, then refused as nothing is built


def test_no_secret_travels_in_a_start_message() -> None:
    settings = Settings(update_token="s3cret-token", publish_token="s3cret-too")
    message = json.dumps(asdict(WriterConfig.of(settings)))
    assert "s3cret" not in message and '"update_token"' not in message
    assert "s3cret-token" in settings.as_json()  # only the server processes' hand-over carries it


def test_writes_never_go_into_the_data_shipped_in_the_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An installed server with an update token needs a data folder of its own (fail closed)."""
    monkeypatch.setenv("MILDIP_UPDATE_TOKEN", "t")
    shipped = str(SHIPPED_PROJECT / "data")
    assert main(["--data", shipped, "--build-dir", str(tmp_path), "serve"]) == 2
    assert "cannot accept writes into" in capsys.readouterr().err and not list(tmp_path.iterdir())
