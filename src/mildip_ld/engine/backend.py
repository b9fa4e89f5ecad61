"""The query backend the server talks to: a pool of worker processes over the release's store
(:class:`~mildip_ld.engine.pool.WorkerPool`) or a remote SPARQL store
(:class:`~mildip_ld.engine.remote.RemoteStore`). Both take the jobs of
:mod:`mildip_ld.engine.messages` and answer with an :class:`~mildip_ld.engine.messages.Answer`,
under the same time limit, admission bound and drain; :mod:`mildip_ld.server.endpoint` uses
nothing else of them.
"""

from __future__ import annotations

from typing import Protocol

from mildip_ld.engine.messages import Answer, Job
from mildip_ld.engine.sandbox import Confinement


class QueryBackend(Protocol):
    """Answers query and stats jobs; errors are :class:`~mildip_ld.engine.pool.PoolError`."""

    size: int
    """Jobs answered at once."""
    confinement: Confinement | None
    """The weakest network sandbox its processes run in; None when it runs none (a remote store)."""

    @property
    def pids(self) -> list[int]:
        """The live processes answering (empty when none can: ``/health`` then says "down")."""
        ...

    @property
    def starting(self) -> int:
        """Replacements being started that have not joined yet."""
        ...

    async def start(self) -> None:
        """Get ready to answer; raises when it cannot."""
        ...

    async def run(self, job: Job, timeout: float, wait: float | None = None) -> Answer:
        """Answer ``job`` within ``timeout`` seconds, after waiting at most ``wait`` (default: the
        same) for a free slot."""
        ...

    async def drain(self, grace: float) -> None:
        """Take no new job, let the running ones finish (at most ``grace`` s), then close."""
        ...

    async def close(self) -> None:
        """Stop at once."""
        ...
