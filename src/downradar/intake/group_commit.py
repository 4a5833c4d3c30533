"""Group commit: concurrent requests queue their reports; one writer commits them together, then acks.

A 202 is sent only after the transaction holding the report has committed, yet many reports share one
fsync, so durability does not cost throughput.

The writer is a thread of its own that takes the next batch the moment a commit returns. Driving it
from the event loop (a task handing each batch to an executor) left the database idle while the loop
woke up, answered the last batch and queued the next: a third of each cycle under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from downradar.intake.report_store import ReportStore

log = logging.getLogger("downradar.intake")


@dataclass
class _Job:
    rows: list[dict[str, Any]]
    want_ids: bool
    done: asyncio.Future[list[int | None]] = field(repr=False)


class GroupCommitWriter:
    def __init__(self, store: ReportStore, max_batch: int = 5000) -> None:
        self.store = store
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended: asyncio.Event | None = None  # set when the thread has returned

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ended = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="downradar-writer", daemon=True)
        self._thread.start()

    async def run(self) -> None:
        """Start the thread unless it runs, and wait for it to end (the supervisor's loop, "writer")."""
        if not self.running:
            await self.start()
        assert self._ended is not None
        await self._ended.wait()

    def request_stop(self) -> None:
        """Ask the thread to commit everything already queued, then end (run() then returns)."""
        if self._thread is not None:
            self._jobs.put(None)

    async def stop(self) -> None:
        """Commit everything already queued, then stop."""
        thread = self._thread
        if thread is None:
            return
        self._jobs.put(None)
        await asyncio.to_thread(thread.join)
        self._thread = None

    async def submit(self, rows: list[dict[str, Any]], *, want_ids: bool = False) -> list[int | None]:
        """Queue rows and wait until they are committed; rows gain their `duplicate` flag."""
        if self._thread is None or self._loop is None:
            raise RuntimeError("writer is not running")
        job = _Job(rows, want_ids, self._loop.create_future())
        self._jobs.put(job)
        return await job.done

    def _run(self) -> None:
        """The writer thread: batch whatever is queued, commit, hand the outcome to the event loop."""
        try:
            stopping = False
            while not stopping:
                first = self._jobs.get()
                if first is None:
                    break
                jobs, size = [first], len(first.rows)
                while size < self.max_batch:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stopping = True
                        break
                    jobs.append(job)
                    size += len(job.rows)
                self._commit(jobs)
        finally:
            self.store.close()
            if self._loop is not None and self._ended is not None:
                with contextlib.suppress(RuntimeError):  # the event loop already closed
                    self._loop.call_soon_threadsafe(self._ended.set)

    def _commit(self, jobs: list[_Job]) -> None:
        assert self._loop is not None
        try:
            ids = self.store.write([j.rows for j in jobs], [j.want_ids for j in jobs])
        except Exception as exc:  # the requests learn of it; the writer keeps serving
            log.warning("group commit of %d jobs failed: %s", len(jobs), exc)
            self._loop.call_soon_threadsafe(_fail, jobs, exc)
        else:
            self._loop.call_soon_threadsafe(_settle, jobs, ids)


def _settle(jobs: list[_Job], ids: list[list[int | None]]) -> None:
    for job, job_ids in zip(jobs, ids, strict=True):
        if not job.done.done():  # a request that gave up (client gone) is still committed
            job.done.set_result(job_ids)


def _fail(jobs: list[_Job], exc: Exception) -> None:
    for job in jobs:
        if not job.done.done():
            job.done.set_exception(exc)
