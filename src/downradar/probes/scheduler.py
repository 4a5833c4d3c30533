"""Run many probes on a fixed grid from one asyncio timer, and hand their results on in batches.

Each probe runs at `phase + k × interval`, where the phase comes from a hash of its key, so a thousand
probes with the same interval spread over it instead of firing together, and every location runs a
probe at the same moments (the grid is laid on the UTC epoch). One heap of next-run times and one timer
drive them all; a probe still running at its next tick skips that tick; a semaphore bounds how many
checks are in flight. Results collect in memory and go to `sink` every `flush_seconds` or 200 results;
a sink that fails gets the same results again later, so none are dropped while the process lives.

Every time it reads or waits on (the grid, the timer, the flush interval, lateness) is the given Clock's,
so a test on a FakeClock steps the scheduler tick by tick.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import logging
import math
import statistics
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from downradar.core.clock import Clock, SystemClock, wait_until_set
from downradar.core.model import ProbeResult
from downradar.probes.checks import make_probe_client, run_check
from downradar.probes.spec import ProbeSpec

log = logging.getLogger("downradar.probes")

BATCH_SIZE = 200
LATENESS_KEPT = 100_000  # recent lateness samples kept for jitter figures


def phase_fraction(key: str) -> float:
    """Where in its interval a probe runs, in [0, 1): stable across restarts and locations."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Jitter:
    """How late checks started against their planned time (milliseconds)."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class _Probe:
    spec: ProbeSpec
    generation: int  # new (never reused) when the probe is (re)scheduled; older heap entries are stale
    busy: bool = False  # queued for or running a check


class ProbeScheduler:
    """Runs the probes given to `set_probes` from `location` until `run()` is cancelled."""

    def __init__(
        self,
        location: str,
        sink: Callable[[list[ProbeResult]], Awaitable[None]],
        *,
        client: httpx.AsyncClient | None = None,
        concurrency: int = 100,
        clock: Clock | None = None,
        flush_seconds: float = 1.0,
    ) -> None:
        self.location = location
        self._sink = sink
        self._client = client
        self._concurrency = concurrency
        self._clock = clock or SystemClock()
        self._flush_seconds = flush_seconds
        self._probes: dict[str, _Probe] = {}
        self._heap: list[tuple[float, int, str, int]] = []  # (planned epoch s, tie-break, key, generation)
        self._sequence = 0
        # Generations are unique over the scheduler's life, so a probe removed and added again is not
        # also run by the heap entry it had before.
        self._generations = itertools.count()
        self._wake = asyncio.Event()
        self._batch_full = asyncio.Event()
        self._stop = asyncio.Event()
        self._pending: list[ProbeResult] = []
        self._checks: set[asyncio.Task[None]] = set()
        self._lateness: deque[float] = deque(maxlen=LATENESS_KEPT)
        self.checks_done = 0
        self.ticks_skipped = 0  # ticks a probe missed because its previous check was still running

    # -- the probe set --------------------------------------------------------------------------------

    def set_probes(self, probes: Mapping[str, ProbeSpec]) -> None:
        """Replace the probe set. Probes for other locations are left out; a probe kept keeps its place on
        the grid, and a changed spec applies from its next run (a new interval moves it to the new grid)."""
        wanted = {
            key: spec for key, spec in probes.items() if not spec.locations or self.location in spec.locations
        }
        for key in self._probes.keys() - wanted.keys():
            del self._probes[key]  # its heap entry turns stale; a check in flight still reports
        wall = self._epoch_seconds()
        for key, spec in wanted.items():
            known = self._probes.get(key)
            if known is None:
                self._probes[key] = known = _Probe(spec, generation=next(self._generations))
                self._schedule(key, known, self._next_slot(key, spec, wall))
            elif known.spec.interval_seconds != spec.interval_seconds:
                known.spec = spec
                known.generation = next(self._generations)
                self._schedule(key, known, self._next_slot(key, spec, wall))
            else:
                known.spec = spec
        self._wake.set()

    @property
    def probes(self) -> dict[str, ProbeSpec]:
        return {key: probe.spec for key, probe in self._probes.items()}

    @staticmethod
    def _next_slot(key: str, spec: ProbeSpec, after: float) -> float:
        """The first grid time of `key` strictly after `after` (epoch seconds)."""
        interval = spec.interval_seconds
        phase = phase_fraction(key) * interval
        slot = phase + math.floor((after - phase) / interval + 1) * interval
        return slot if slot > after else slot + interval

    def _schedule(self, key: str, probe: _Probe, at: float) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (at, self._sequence, key, probe.generation))

    # -- running --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled; then stop the checks in flight, close the client if it is ours, and hand
        the results collected so far to the sink."""
        client = self._client or make_probe_client(concurrency=self._concurrency)
        semaphore = asyncio.Semaphore(self._concurrency)
        self._stop.clear()
        flusher = asyncio.create_task(self._flush_forever())
        try:
            await self._timer_loop(client, semaphore)
        finally:
            for task in self._checks:
                task.cancel()
            await asyncio.gather(*self._checks, return_exceptions=True)
            if self._client is None:
                await client.aclose()
            # The flusher is told to stop rather than cancelled, so a sink call in progress completes
            # instead of being cut off and sent again; then it hands on what is left.
            self._stop.set()
            self._batch_full.set()
            await flusher

    def _epoch_seconds(self) -> float:
        return self._clock.now().timestamp()

    async def _timer_loop(self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore) -> None:
        while True:
            wall = self._epoch_seconds()
            while self._heap and self._heap[0][0] <= wall:
                planned, _, key, generation = heapq.heappop(self._heap)
                probe = self._probes.get(key)
                if probe is None or probe.generation != generation:
                    continue  # removed or rescheduled since
                self._schedule(key, probe, self._next_slot(key, probe.spec, max(planned, wall)))
                if probe.busy:
                    self.ticks_skipped += 1
                    continue
                probe.busy = True
                task = asyncio.create_task(self._check(key, probe, planned, client, semaphore))
                self._checks.add(task)
                task.add_done_callback(self._checks.discard)
            self._wake.clear()
            if self._heap:
                await wait_until_set(self._clock, self._wake, self._heap[0][0] - wall)
            else:
                await self._wake.wait()

    async def _check(
        self, key: str, probe: _Probe, planned: float, client: httpx.AsyncClient, semaphore: asyncio.Semaphore
    ) -> None:
        try:
            async with semaphore:
                self._lateness.append(self._epoch_seconds() - planned)
                spec = probe.spec
                try:
                    result = await run_check(
                        spec, probe=key, location=self.location, client=client, now=self._clock.now
                    )
                except Exception as exc:  # a bug in one check must not stop the others
                    log.exception("probe %s: the check itself failed", key)
                    error = f"check crashed: {exc}"
                    result = ProbeResult(key, self.location, self._clock.now(), False, None, error=error)
        finally:
            probe.busy = False
        self.checks_done += 1
        self._pending.append(result)
        if len(self._pending) >= BATCH_SIZE:
            self._batch_full.set()

    # -- handing results on ---------------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        while not self._stop.is_set():
            await wait_until_set(self._clock, self._batch_full, self._flush_seconds)
            self._batch_full.clear()
            if not await self._flush():
                # The sink is failing: no tight retry loop.
                await wait_until_set(self._clock, self._stop, self._flush_seconds)
        await self._flush()

    async def _flush(self) -> bool:
        """Give the pending results to the sink, BATCH_SIZE at a time; False when the sink failed (the
        results stay pending for the next attempt)."""
        while self._pending:
            batch = self._pending[:BATCH_SIZE]
            try:
                await self._sink(batch)
            except Exception:
                log.exception(
                    "probe results sink failed; %d results kept for another try", len(self._pending)
                )
                return False
            # Results that arrived while the sink ran were appended behind the batch, so it is still first.
            del self._pending[: len(batch)]
        return True

    @property
    def in_flight(self) -> int:
        """Checks started and not yet finished."""
        return len(self._checks)

    @property
    def pending(self) -> int:
        """Results not yet accepted by the sink."""
        return len(self._pending)

    # -- timing figures -------------------------------------------------------------------------------

    def lateness_ms(self) -> list[float]:
        """Actual start minus planned start of recent checks, in milliseconds (waiting for a free slot
        under the concurrency bound counts as late)."""
        return [seconds * 1000 for seconds in self._lateness]

    def jitter(self) -> Jitter:
        samples = sorted(self.lateness_ms())
        if not samples:
            return Jitter(0, math.nan, math.nan, math.nan)
        if len(samples) == 1:
            return Jitter(1, samples[0], samples[0], samples[0])
        cuts = statistics.quantiles(samples, n=100, method="inclusive")
        return Jitter(len(samples), cuts[49], cuts[98], samples[-1])

    def reset_jitter(self) -> None:
        self._lateness.clear()
