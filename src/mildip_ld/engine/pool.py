"""A pool of query worker processes driven from the event loop, with deadlines that really stop.

Each worker (:mod:`mildip_ld.engine.worker`) is a child process talking over pipes, read with asyncio
streams, so waiting for an answer never blocks the event loop and no thread is spent per query.
A query that outlives its deadline (or whose client went away) gets its worker killed with
SIGKILL and reaped; a fresh worker is started in the background to take its place, while the
other workers keep serving. Every worker is started confined by :mod:`mildip_ld.engine.sandbox` (no
network beyond the ports of its config's ``service_allowlist``), which reports the confinement
in a frame before the worker's own "ready".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from mildip_ld.engine.messages import Answer, Job
from mildip_ld.engine.sandbox import Confinement, launcher_command
from mildip_ld.engine.worker import FRAME_HEADER_BYTES, frame
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.settings import setting_default

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 60.0
DRAIN_POLL_S = 0.05
RESPAWN_BACKOFF_S = (0.5, 1, 2, 5, 10, 30)


class PoolError(MildipError):
    """A query the pool could not answer; ``status`` is the HTTP status to report, ``reason`` the
    label it is counted under."""

    status, reason = 500, "failed"


class QueryTimeoutError(PoolError):
    """The query ran past its deadline; its worker was killed."""

    status, reason = 503, "timeout"


class PoolBusyError(PoolError):
    """No worker became free in time."""

    status, reason = 503, "busy"


class PoolClosedError(PoolError):
    """The pool is draining or closed (its release was replaced): run the job on the new pool."""

    status, reason = 503, "closed"


class WorkerDiedError(PoolError):
    """The worker exited while answering (out of memory, most likely); it was replaced. Like the
    time limit, this is a limit the query ran into, so the answer is 503, not a server fault."""

    status, reason = 503, "worker_died"


Message = Job | dict[str, Any]
"""A job for a worker: a query or stats job (:mod:`mildip_ld.engine.messages`), or the
dictionary of another worker program (the writer, the write parser)."""


def _encoded(job: Message) -> bytes:
    return json.dumps(job if isinstance(job, dict) else job.message()).encode()


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker is told at start."""

    release: str
    max_results: int = setting_default("max_results")
    memory_mb: int = 0
    nice: int = 0
    prefixes: dict[str, str] = field(default_factory=dict)
    service_allowlist: list[str] = field(default_factory=list)
    max_nesting: int = setting_default("max_nesting")


def worker_command(config: Any, module: str) -> list[str]:
    """How a worker (or the writer) is started: ``module`` under the network sandbox, allowed the
    ports of ``config.service_allowlist``, at the config's ``nice`` from its first instruction."""
    command = [sys.executable, *launcher_command(module, getattr(config, "service_allowlist", []))]
    nice = getattr(config, "nice", 0)
    if nice and shutil.which("nice"):
        command = ["nice", "-n", str(nice), *command]
    return command


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid
        self.confinement = Confinement()

    @classmethod
    async def spawn(cls, config: Any, module: str) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            *worker_command(config, module), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        worker = cls(process)
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT_S):
                await worker.start(config)
        except BaseException:
            await worker.kill()
            raise
        return worker

    async def start(self, config: Any) -> None:
        """Read the sandbox's report, send ``config``, wait for "ready" (RuntimeError without it)."""
        self.confinement = Confinement(**json.loads(await self._receive()))
        await self._send({**asdict(config), "parent": os.getpid()})
        ready = json.loads(await self._receive())
        if not ready.get("ready"):
            raise RuntimeError(f"query worker could not start: {ready.get('error', ready)}")

    async def _send(self, message: Message) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(frame(_encoded(message)))
        await self.process.stdin.drain()

    async def _receive(self) -> bytes:
        assert self.process.stdout is not None
        header = await self.process.stdout.readexactly(FRAME_HEADER_BYTES)
        return await self.process.stdout.readexactly(int.from_bytes(header, "big"))

    async def call(self, job: Message) -> Answer:
        """Send one job and wait for its reply."""
        await self._send(job)
        header = json.loads(await self._receive())
        return Answer.of(header, await self._receive())

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def signal_kill(self) -> None:
        """Send SIGKILL (returns at once; :meth:`kill` also waits for the process to be reaped)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def kill(self) -> None:
        """Kill the process and wait until it is gone."""
        self.signal_kill()
        await self.process.wait()


class Admission:
    """What every query backend shares: at most ``max_pending`` jobs waiting beyond the ``size``
    that run, no new job once draining, and a drain that waits for the jobs inside."""

    def __init__(self, size: int, max_pending: int | None) -> None:
        self.size, self.max_pending = size, max_pending
        self.users = 0
        """Jobs inside (waiting for a slot or running)."""
        self.draining = False

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Count a job in for the block; :class:`PoolClosedError` when draining,
        :class:`PoolBusyError` when too many wait already."""
        if self.draining:
            raise PoolClosedError("this pool's release was replaced")
        if self.max_pending is not None and self.users - self.size >= self.max_pending:
            raise PoolBusyError(
                f"{self.max_pending} queries are already waiting for a worker; try again later",
                headers={"Retry-After": "1"},
            )
        self.users += 1
        try:
            yield
        finally:
            self.users -= 1

    async def drain(self, grace: float) -> None:
        """Admit nothing more; wait (at most ``grace`` s) until the jobs inside are done."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                while self.users:
                    await asyncio.sleep(DRAIN_POLL_S)


class WorkerPool:
    """``size`` workers, each running one job at a time, handed out first come first served.

    ``config`` is a dataclass sent to each worker at start; ``module`` is the worker program
    (``python -m module``); at most ``max_pending`` jobs may wait for a worker at once.
    """

    def __init__(
        self,
        config: Any,
        size: int,
        on_restart: Callable[[], None] = lambda: None,
        module: str = "mildip_ld.engine.worker",
        max_pending: int | None = None,
    ) -> None:
        self.config, self.size, self.on_restart, self.module = config, size, on_restart, module
        self.admission = Admission(size, max_pending)
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._workers: set[_Worker] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.confinement: Confinement | None = None
        """The weakest network sandbox a worker of this pool has run in (None before any started)."""

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return sorted(worker.pid for worker in self._workers if worker.alive)

    @property
    def starting(self) -> int:
        """Replacement workers being started (after a kill) that have not joined yet."""
        return sum(not task.done() for task in self._tasks)

    async def start(self) -> None:
        """Start every worker; raises when one cannot open the store."""
        workers = await asyncio.gather(
            *(_Worker.spawn(self.config, self.module) for _ in range(self.size)), return_exceptions=True
        )
        failures = [w for w in workers if isinstance(w, BaseException)]
        for worker in workers:
            if isinstance(worker, _Worker):
                self._adopt(worker)
        if failures:
            await self.close()
            raise failures[0]

    def _adopt(self, worker: _Worker) -> None:
        if self.confinement is None or len(worker.confinement.applied) < len(self.confinement.applied):
            self.confinement = worker.confinement
        self._workers.add(worker)
        self._idle.put_nowait(worker)

    async def _acquire(self, timeout: float) -> _Worker:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    worker = await self._idle.get()
                    if worker.alive:
                        return worker
                    self._retire(worker)
        except TimeoutError:
            raise PoolBusyError(
                f"all {self.size} query workers stayed busy for {timeout:g} s; try again later",
                headers={"Retry-After": "1"},
            ) from None

    async def run(self, job: Message, timeout: float, wait: float | None = None) -> Answer:
        """Run ``job`` on a free worker within ``timeout`` seconds (waiting for a worker included
        separately, at most ``wait`` seconds: by default the same limit).

        Raises :class:`QueryTimeoutError` (the worker was killed and is gone when this returns),
        :class:`PoolBusyError` or :class:`WorkerDiedError`. If the calling task is cancelled (the
        client went away), the worker is killed too.
        """
        if self._closing:
            raise PoolClosedError("this pool's release was replaced")
        with self.admission.admit():
            return await self._run(job, timeout, timeout if wait is None else wait)

    async def _run(self, job: Message, timeout: float, wait: float) -> Answer:
        worker = await self._acquire(wait)
        try:
            async with asyncio.timeout(timeout):
                reply = await worker.call(job)
        except TimeoutError:
            await self._retire(worker).wait()
            raise QueryTimeoutError(
                f"query exceeded the {timeout:g} s time limit and was stopped; simplify it or add LIMIT"
            ) from None
        except (asyncio.IncompleteReadError, ConnectionError) as failure:
            self._retire(worker)
            limit = f"the {self.config.memory_mb} MiB" if self.config.memory_mb else "a"
            raise WorkerDiedError(
                f"the query worker died while answering, most likely at {limit} "
                f"memory limit; it has been replaced. Simplify the query (e.g. "
                f"ORDER BY over fewer solutions)"
            ) from failure
        except BaseException:  # cancelled: nobody waits for the answer any more
            self._retire(worker)
            raise
        self._idle.put_nowait(worker)
        return reply

    def _retire(self, worker: _Worker) -> asyncio.Event:
        """Kill ``worker`` now, reap it and start a replacement in the background.

        Returns an event set once the process is reaped.
        """
        worker.signal_kill()
        self._workers.discard(worker)
        reaped = asyncio.Event()
        self._background(self._replace(worker, reaped))
        return reaped

    def _background(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self, dead: _Worker, reaped: asyncio.Event) -> None:
        await dead.kill()
        reaped.set()
        for delay in (0, *RESPAWN_BACKOFF_S):
            await asyncio.sleep(delay)
            if self._closing:
                return
            try:
                worker = await _Worker.spawn(self.config, self.module)
            except Exception as failure:  # keep trying: the store may come back
                log.error("could not start a query worker: %s", failure)
                continue
            if self._closing:
                await worker.kill()
                return
            self.on_restart()
            self._adopt(worker)
            return
        log.error("giving up starting a query worker; %d left", len(self._workers))

    async def drain(self, grace: float) -> None:
        """Take no new job, let the jobs already inside finish (at most ``grace`` s), then close."""
        try:
            await self.admission.drain(grace)
        finally:  # cancelled (the server stops): the workers go all the same
            await self.close()

    async def close(self) -> None:
        """Kill every worker (busy or idle) and wait for them; used at shutdown."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        workers = list(self._workers)
        self._workers.clear()
        await asyncio.gather(*(worker.kill() for worker in workers), return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
