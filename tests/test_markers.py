"""The ``server`` marker conftest puts on tests: what counts as starting a server process."""

from __future__ import annotations

import subprocess

from . import conftest
from . import live_server as live_servers
from . import oxigraph_server as oxigraph_servers


def _helper_that_pops() -> None:
    subprocess.Popen(["true"]).wait()


def _calls_the_helper() -> None:
    _helper_that_pops()


def _runs_a_command() -> None:
    subprocess.run(["true"], check=True)


# This test only inspects these functions; it reaches them (and conftest) through a mapping and a
# module, which the detection does not follow, so that it is not marked ``server`` itself.
SAMPLES = {"calls the helper": _calls_the_helper, "runs a command": _runs_a_command}


def test_the_live_server_fixtures_and_helpers_start_processes():
    assert conftest.starts_processes(live_servers.serve)
    assert conftest.starts_processes(oxigraph_servers.oxigraph_server)
    assert conftest.starts_processes(SAMPLES["calls the helper"])  # Popen, through a test helper
    assert not conftest.starts_processes(SAMPLES["runs a command"])  # a command run to its end is no server
    assert not conftest.starts_processes(live_servers.build_dir_of)
