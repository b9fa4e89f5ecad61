"""The worker pool on its own: memory cap, busy workers, deadlines (real worker processes)."""

from __future__ import annotations

import asyncio

import psutil
import pytest

from mildip_ld.engine.messages import QueryJob
from mildip_ld.engine.pool import PoolBusyError, QueryTimeoutError, WorkerConfig, WorkerDiedError, WorkerPool
from mildip_ld.release.build import BuildReport

JSON = "application/sparql-results+json"
SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
HUNGRY = "SELECT ?a ?d WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?a ?d LIMIT 1"
QUICK = "ASK { ?s ?p ?o }"


def job(text: str) -> QueryJob:
    return QueryJob(text, results=JSON)


def test_a_query_past_the_memory_cap_kills_only_its_worker(built: BuildReport) -> None:
    async def scenario() -> None:
        # a worker reserves 0.9-1.0 GiB of address space to start (its 256 MiB stack, the store),
        # so the cap leaves it room; the cartesian ORDER BY needs far more
        pool = WorkerPool(WorkerConfig(str(built.release), memory_mb=1536), 1)
        await pool.start()
        try:
            with pytest.raises(WorkerDiedError, match="1536 MiB memory limit"):
                await pool.run(job(HUNGRY), 60)
            reply = await pool.run(job(QUICK), 30)  # waits for the replacement worker
            assert reply.status == 200 and b"true" in reply.body
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_busy_pool_and_deadline(built: BuildReport) -> None:
    async def scenario() -> None:
        pool = WorkerPool(WorkerConfig(str(built.release)), 1)
        await pool.start()
        try:
            [pid] = pool.pids
            slow = asyncio.ensure_future(pool.run(job(SLOW), 1.5))
            await asyncio.sleep(0.2)
            with pytest.raises(PoolBusyError, match="busy"):
                await pool.run(job(QUICK), 0.3)
            with pytest.raises(QueryTimeoutError, match="1.5 s time limit"):
                await slow
            assert not psutil.pid_exists(pid)
            assert (await pool.run(job(QUICK), 30)).status == 200
            assert pool.pids and pool.pids != [pid]
        finally:
            await pool.close()
        assert pool.pids == []

    asyncio.run(scenario())


def test_a_job_may_wait_for_a_worker_longer_than_it_may_run(built: BuildReport) -> None:
    """The write parser's case: a short budget to run, a long wait while a killed worker is replaced."""

    async def scenario() -> None:
        pool = WorkerPool(WorkerConfig(str(built.release)), 1)
        await pool.start()
        try:
            slow = asyncio.ensure_future(pool.run(job(SLOW), 1.0))
            await asyncio.sleep(0.2)
            reply = await pool.run(job(QUICK), 0.5, wait=60)  # waits past the kill and the replacement
            assert reply.status == 200 and b"true" in reply.body
            with pytest.raises(QueryTimeoutError):
                await slow
        finally:
            await pool.close()

    asyncio.run(scenario())
