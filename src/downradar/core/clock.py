"""Time is always UTC inside, and always passed in: code that needs 'now', a timer or a pause receives a
Clock, so the accelerated demo and the tests can drive it.

A Clock gives the time of day (`now`), a steadily increasing count of seconds for measuring spans
(`monotonic`), a pause measured in its own seconds (`sleep`) and how fast it runs against real time
(`speed`, clock seconds per real second). `SystemClock` is real time; `FakeClock` moves only when a test
moves it, and its `sleep` returns once the clock has been moved past the sleeper's deadline, so a loop
that waits on the clock can be stepped deterministically. This module is the one place that reads the
wall clock; code elsewhere that uses real time says why (a network timeout, a measured latency).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    @property
    def speed(self) -> float:
        """Clock seconds per real second (1 for real time; 60 for the demo)."""
        ...

    def now(self) -> datetime:
        """The current time, aware and in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a counter that never goes back: for spans, not for the time of day."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Pause for `seconds` of this clock's time."""
        ...


class SystemClock:
    """Real time."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class FakeClock:
    """A clock that only moves when told to (`advance`, `set`): for tests and replays.

    `sleep` waits until the clock has been moved to or past its deadline, whichever event loop (or thread)
    the sleeper is in; `monotonic` counts the seconds the clock was moved forward. `speed` is what code
    that converts between clock and real time should assume (a test may set it).
    """

    def __init__(self, start: datetime, *, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start
        self._elapsed = 0.0
        self.speed = speed
        self._lock = threading.Lock()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []  # (deadline, tie-break, waker)
        self._order = itertools.count()
        self.sleeps_begun = 0  # every sleep ever started: a test sees a woken loop go back to sleep

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # still a point where other tasks run, as a real sleep would be
            return
        waker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            self.sleeps_begun += 1
            if len(self._sleepers) > 1000:  # forget sleeps cancelled before their deadline
                self._sleepers = [entry for entry in self._sleepers if not entry[2].done()]
                heapq.heapify(self._sleepers)
            heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._order), waker))
        await waker

    @property
    def sleepers(self) -> int:
        """Sleeps waiting for the clock to move (a loop waiting on this clock is one)."""
        with self._lock:
            return sum(not waker.done() for _, _, waker in self._sleepers)

    def next_deadline(self) -> float | None:
        """Seconds from now until the earliest sleep ends, or None when nobody sleeps."""
        with self._lock:
            live = [deadline for deadline, _, waker in self._sleepers if not waker.done()]
        return min(live) - self._elapsed if live else None

    def advance(self, by: float | timedelta) -> int:
        """Move the clock forward (rounded up to whole microseconds, what a datetime holds, so that any
        step moves `now`) and wake every sleep whose deadline it reached; returns how many it woke."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        if seconds < 0:
            raise ValueError("a clock does not go back: use set() to jump")
        step = timedelta(microseconds=math.ceil(seconds * 1_000_000))
        with self._lock:
            self._now += step
            self._elapsed += step.total_seconds()
            due = []
            while self._sleepers and self._sleepers[0][0] <= self._elapsed:
                due.append(heapq.heappop(self._sleepers)[2])
        live = [waker for waker in due if not waker.done()]  # not cancelled meanwhile
        for waker in live:
            _wake(waker)
        return len(live)

    def set(self, when: datetime) -> None:
        """Jump to `when` (back as well as forward); only a move forward counts towards `monotonic`."""
        step = (when - self._now).total_seconds()
        if step >= 0:
            self.advance(step)
        else:
            self._now = when


def _wake(waker: asyncio.Future[None]) -> None:
    loop = waker.get_loop()

    def resolve() -> None:
        if not waker.done():
            waker.set_result(None)

    if loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        resolve()
    else:
        loop.call_soon_threadsafe(resolve)


async def wait_until_set(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` of clock time have passed; True when the event was set."""
    if event.is_set():
        return True
    waiting = asyncio.ensure_future(event.wait())
    sleeping = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({waiting, sleeping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
        sleeping.cancel()
    return event.is_set()
