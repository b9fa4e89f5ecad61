"""``mildip serve`` starting up: the message names the home page; a taken port is one clear line
and exit code 3 (:data:`mildip_ld.cli.main.EXIT_PORT_IN_USE`); data newer than the served release is
warned about."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.launch import LOOPBACK
from mildip_ld.cli.main import EXIT_PORT_IN_USE
from mildip_ld.release.build import BuildReport
from mildip_ld.vocab.config import DEFAULT_PATHS
from tests.live_server import build_dir_of, serve

pytestmark = pytest.mark.server


def test_a_taken_port_is_one_clear_line_and_exit_code_3(built: BuildReport):
    with socket.socket() as holder:
        holder.bind((LOOPBACK, 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {key: value for key, value in os.environ.items() if not key.startswith("MILDIP_")}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mildip_ld",
                "--build-dir",
                str(build_dir_of(built)),
                "serve",
                "--host",
                LOOPBACK,
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert done.returncode == EXIT_PORT_IN_USE == 3
    lines = [line for line in done.stderr.splitlines() if "in use" in line]
    assert len(lines) == 1 and f"{LOOPBACK}:{port}" in lines[0] and "--port" in lines[0]
    assert "Traceback" not in done.stderr


def _log_of(build_dir: Path, log: Path, **settings: str) -> str:
    for server in serve(build_dir, log, **settings):
        text = log.read_text()
        assert server.url
        return text
    raise AssertionError("the server did not start")


def test_the_start_up_message_names_the_home_page(built: BuildReport, tmp_path: Path):
    log = tmp_path / "serve.log"
    text = _log_of(build_dir_of(built), log)
    line = next(line for line in text.splitlines() if line.startswith("serving "))
    url = line.split()[1]
    assert url.startswith(f"http://{LOOPBACK}:") and url.endswith("/") and "home page" in line
    assert "warning: the data changed" not in text  # the session's build is newer than its data


def test_data_newer_than_the_release_is_warned_about(built: BuildReport, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(DEFAULT_PATHS.data, data)
    changed = data / "assertions" / "actors.ttl"
    later = time.time() + 60
    os.utime(changed, (later, later))
    text = _log_of(build_dir_of(built), tmp_path / "stale.log", data_dir=str(data))
    warning = next(line for line in text.splitlines() if "warning: the data changed" in line)
    assert "assertions/actors.ttl" in warning and "mildip build" in warning
