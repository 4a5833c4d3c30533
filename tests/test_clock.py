"""The Clock: a FakeClock's sleeps end only when the clock is moved past them (from the loop's thread or
another), waiting on an event or the clock, the demo's accelerated clock, and live detection ticking on
the clock (just after each minute is complete, the grace scaled by the clock's speed)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from downradar.core.catalog import Catalog
from downradar.core.clock import Clock, FakeClock, SystemClock, wait_until_set
from downradar.demo.traffic import DemoClock
from downradar.detection.live import LiveDetection

T0 = datetime(2026, 2, 4, 12, 0, 30, tzinfo=UTC)


async def rest() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_fake_sleep_ends_only_when_the_clock_passes_its_deadline() -> None:
    async def go() -> None:
        clock = FakeClock(T0)
        sleeper = asyncio.create_task(clock.sleep(10))
        await rest()
        assert clock.sleepers == 1 and clock.next_deadline() == 10
        assert clock.advance(9.5) == 0
        await rest()
        assert not sleeper.done()
        assert clock.advance(0.5) == 1
        await rest()
        assert sleeper.done()
        assert clock.now() == T0 + timedelta(seconds=10) and clock.monotonic() == 10
        assert clock.sleepers == 0 and clock.next_deadline() is None

    asyncio.run(go())


def test_the_clock_moved_from_another_thread_wakes_the_sleeper() -> None:
    clock = FakeClock(T0)
    woke_at: list[datetime] = []

    async def sleeper() -> None:
        await clock.sleep(60)
        woke_at.append(clock.now())

    thread = threading.Thread(target=asyncio.run, args=(sleeper(),))
    thread.start()
    while clock.sleepers == 0:
        threading.Event().wait(0.001)
    clock.set(T0 + timedelta(minutes=5))  # a jump forward counts as time passing
    thread.join(10)
    assert woke_at == [T0 + timedelta(minutes=5)]


def test_a_cancelled_sleep_is_not_counted_and_the_clock_never_goes_back() -> None:
    async def go() -> None:
        clock = FakeClock(T0)
        sleeper = asyncio.create_task(clock.sleep(5))
        await rest()
        sleeper.cancel()
        await rest()
        assert clock.sleepers == 0
        assert clock.advance(5) == 0
        with pytest.raises(ValueError, match="does not go back"):
            clock.advance(-1)
        clock.set(T0)  # a jump back moves `now` only
        assert clock.now() == T0 and clock.monotonic() == 5

    asyncio.run(go())


def test_waiting_on_an_event_or_the_clock() -> None:
    async def go() -> None:
        clock = FakeClock(T0)
        event = asyncio.Event()
        by_clock = asyncio.create_task(wait_until_set(clock, event, 3))
        await rest()
        clock.advance(3)
        assert await by_clock is False
        by_event = asyncio.create_task(wait_until_set(clock, event, 3))
        await rest()
        event.set()
        assert await by_event is True
        await rest()
        assert clock.sleepers == 0  # the clock's half of the wait was given up

    asyncio.run(go())


def test_every_clock_is_a_clock() -> None:
    clocks: list[Clock] = [SystemClock(), FakeClock(T0), DemoClock(T0, speed=60)]
    assert [clock.speed for clock in clocks] == [1.0, 1.0, 60.0]
    for clock in clocks:
        assert clock.now().tzinfo is not None


def test_the_demo_clock_runs_fast_from_its_start() -> None:
    real = FakeClock(T0)
    demo = DemoClock(datetime(2026, 2, 4, 9, 0, tzinfo=UTC), speed=60, real=real)  # type: ignore[arg-type]
    real.advance(2)
    assert demo.now() == datetime(2026, 2, 4, 9, 2, tzinfo=UTC)
    assert demo.monotonic() == 120

    async def go() -> None:
        sleeper = asyncio.create_task(demo.sleep(60))  # a demo minute is a real second
        await rest()
        assert real.next_deadline() == 1
        real.advance(1)
        await sleeper

    asyncio.run(go())


@pytest.mark.parametrize(
    ("speed", "ticks"),
    [
        # Real time: each minute is taken up 3 s (the grace) after it ends.
        (1.0, ["12:00:30", "12:01:03", "12:02:03"]),
        # The demo's speed: the grace spans 3 clock minutes, and a tick still comes once a clock minute.
        (60.0, ["12:00:30", "12:01:00", "12:02:00"]),
    ],
)
def test_live_detection_ticks_on_the_clock(speed: float, ticks: list[str]) -> None:
    clock = FakeClock(T0, speed=speed)
    detection = LiveDetection(None, Catalog(services=[]), clock)  # type: ignore[arg-type]
    seen: list[str] = []

    def catch_up() -> int:
        seen.append(clock.now().strftime("%H:%M:%S"))
        return 0

    detection.catch_up = catch_up  # type: ignore[method-assign]  # only when it ticks is looked at

    async def go() -> None:
        task = asyncio.create_task(detection.run_forever())
        for _ in range(len(ticks) - 1):
            while clock.sleepers == 0:
                await asyncio.sleep(0.001)  # the tick's catch_up runs in a thread
            deadline = clock.next_deadline()
            assert deadline is not None
            clock.advance(deadline)
        while len(seen) < len(ticks):
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert seen == ticks
