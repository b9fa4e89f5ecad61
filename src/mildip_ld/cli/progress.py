"""Progress of long work (a build, writing the dumps) for the command line: on a terminal, a rich
status line that names the step under way and how long it has run, above the finished steps'
lines; elsewhere (a log file, a pipe, CI) the same lines plainly and nothing else: no spinner, no
control characters."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


@contextmanager
def shown(title: str) -> Iterator[Callable[[str], None]]:
    """A progress callback for work titled ``title``; each message is a finished step's line."""
    if not sys.stderr.isatty():
        yield lambda message: print(message, file=sys.stderr, flush=True)
        return
    console = Console(stderr=True)
    started = time.perf_counter()
    with console.status(f"{title}…") as status:

        def step(message: str) -> None:
            console.print(message, highlight=False, markup=False)
            status.update(f"{title}… {time.perf_counter() - started:.1f} s (last: {message.strip()[:60]})")

        yield step
