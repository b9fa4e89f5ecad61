"""Progress of long work: plain lines and no control characters when stderr is not a terminal
(logs, pipes); a rich status line on a terminal (a pseudo-terminal here)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from mildip_ld.vocab.config import DEFAULT_PATHS

STEPS = (
    "import time\nfrom mildip_ld.cli.progress import shown\nwith shown('working') as step:\n"
    "    step('load 0.10 s')\n    time.sleep(0.3)\n    step('infer 0.20 s')\n"
)


def test_in_a_log_the_steps_are_plain_lines(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", STEPS], capture_output=True, text=True, timeout=60, cwd=DEFAULT_PATHS.root
    )
    assert done.returncode == 0
    assert done.stderr.splitlines() == ["load 0.10 s", "infer 0.20 s"]
    assert "\x1b" not in done.stderr and "\r" not in done.stderr


def test_on_a_terminal_a_status_line_shows_the_work(tmp_path):
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", STEPS],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=DEFAULT_PATHS.root,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "100"},
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=60) == 0
    os.close(leader)
    text = output.decode("utf-8", "replace")
    assert "working…" in text and "load 0.10 s" in text and "infer 0.20 s" in text
    assert "\x1b" in text  # the status line is drawn (and cleared) with terminal control sequences
