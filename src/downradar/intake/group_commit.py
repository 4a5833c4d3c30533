"""Group commit: concurrent requests queue their reports; one writer commits them together, then acks.

A 202 is sent only after the transaction holding the report has committed, yet many reports share one
fsync, so durability does not cost throughput.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from downradar.intake.report_store import ReportStore


@dataclass
class _Job:
    rows: list[dict[str, Any]]
    want_ids: bool
    done: asyncio.Future[list[int | None]] = field(repr=False)


class GroupCommitWriter:
    def __init__(self, store: ReportStore, max_batch: int = 5000) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="downradar-writer")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="downradar-group-commit")

    async def stop(self) -> None:
        """Commit everything already queued, then stop."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None
        await asyncio.get_running_loop().run_in_executor(self._executor, self.store.close)
        self._executor.shutdown(wait=True)

    async def submit(self, rows: list[dict[str, Any]], *, want_ids: bool = False) -> list[int | None]:
        """Queue rows and wait until they are committed; rows gain their `duplicate` flag."""
        if self._task is None:
            raise RuntimeError("writer is not running")
        job = _Job(rows, want_ids, asyncio.get_running_loop().create_future())
        await self._queue.put(job)
        return await job.done

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            jobs, size = [first], len(first.rows)
            while size < self.max_batch and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    stopping = True
                    break
                jobs.append(job)
                size += len(job.rows)
            try:
                ids = await loop.run_in_executor(
                    self._executor, self.store.write, [j.rows for j in jobs], [j.want_ids for j in jobs]
                )
            except Exception as exc:  # the requests learn of it; the writer keeps serving
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(exc)
                continue
            for job, job_ids in zip(jobs, ids, strict=True):
                if not job.done.done():
                    job.done.set_result(job_ids)
