"""The probe scheduler against a real local HTTP server, stepped on a FakeClock (no wall-clock timing), and
probe result storage on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from downradar.core.clock import FakeClock
from downradar.core.model import ProbeResult
from downradar.probes.results import (
    MinutePoint,
    availability,
    latest_results,
    probe_series,
    prune_results,
    store_results,
)
from downradar.probes.scheduler import ProbeScheduler
from downradar.probes.spec import ProbeSpec
from downradar.store import make_engine, upgrade
from support.probe_servers import ProbeTarget


@pytest.fixture(scope="module")
def target() -> Iterator[ProbeTarget]:
    with ProbeTarget() as server:
        yield server


class Sink:
    """Collects batches; fails its first `fail_first` calls."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.calls = 0
        self.batches: list[list[ProbeResult]] = []

    async def __call__(self, batch: list[ProbeResult]) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise RuntimeError("database is down")
        self.batches.append(list(batch))

    @property
    def results(self) -> list[ProbeResult]:
        return [result for batch in self.batches for result in batch]

    def by_probe(self) -> dict[str, list[ProbeResult]]:
        grouped: dict[str, list[ProbeResult]] = defaultdict(list)
        for result in self.results:
            grouped[result.probe].append(result)
        return grouped


def spec(url: str, **fields: Any) -> ProbeSpec:
    return ProbeSpec(id="p", url=url, **{"interval_seconds": 1, "timeout_seconds": 1, **fields})


T_START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Driver:
    """Runs a scheduler on a FakeClock and moves the clock from one of its deadlines to the next.

    After each move it waits (in real time, bounded) until the scheduler is idle again: its timer and its
    flusher both waiting on the clock and, unless told otherwise, no check in flight. So what happens
    between two clock moves is decided by the clock alone, not by how fast the machine is.
    """

    def __init__(self, scheduler_for: Callable[[FakeClock], ProbeScheduler]) -> None:
        self.clock = FakeClock(T_START)
        self.scheduler = scheduler_for(self.clock)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.scheduler.run())
        await self.settle()

    async def settle(self, *, checks: bool = True) -> None:
        for _ in range(5_000):  # a bound against a hang, not a timing assertion
            idle = self.clock.sleepers >= 2  # the timer and the flusher
            if idle and (not checks or self.scheduler.in_flight == 0):
                return
            await asyncio.sleep(0.002)  # real time: the checks talk to a real server
        raise AssertionError("the scheduler did not come to rest")

    async def step(self, *, checks: bool = True) -> None:
        """Move the clock to the next deadline (a tick or a flush) and let the scheduler act on it."""
        deadline = self.clock.next_deadline()
        assert deadline is not None
        self.clock.advance(deadline)
        await self.settle(checks=checks)

    async def run_for(self, seconds: float) -> None:
        """Step through `seconds` of clock time."""
        until = self.clock.monotonic() + seconds
        while (
            deadline := self.clock.next_deadline()
        ) is not None and self.clock.monotonic() + deadline <= until:
            await self.step()
        self.clock.advance(until - self.clock.monotonic())
        await self.settle()

    async def cancel(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


def drive(
    scheduler_for: Callable[[FakeClock], ProbeScheduler], script: Callable[[Driver], Awaitable[None]]
) -> Driver:
    """Start the scheduler, run `script` against it, cancel it; the driver then holds what happened."""

    async def go() -> Driver:
        driver = Driver(scheduler_for)
        await driver.start()
        try:
            await script(driver)
        finally:
            await driver.cancel()
        return driver

    return asyncio.run(go())


def test_twenty_probes_run_once_per_interval(target: ProbeTarget) -> None:
    sink = Sink()
    probes = {f"svc.p{i}": spec(target.url(f"/ok?n={i}"), keyword="all ok") for i in range(20)}
    seen_before_cancel = 0

    def scheduler_for(clock: FakeClock) -> ProbeScheduler:
        scheduler = ProbeScheduler("here", sink, flush_seconds=0.2, clock=clock)
        scheduler.set_probes(probes)
        return scheduler

    async def script(driver: Driver) -> None:
        nonlocal seen_before_cancel
        await driver.run_for(3.3)
        seen_before_cancel = len(sink.results)

    scheduler = drive(scheduler_for, script).scheduler
    by_probe = sink.by_probe()
    assert set(by_probe) == set(probes)
    assert seen_before_cancel > 40  # batches went out while running, not only at the end
    for results in by_probe.values():
        assert 3 <= len(results) <= 4
        assert all(r.ok and r.location == "here" and r.status_code == 200 for r in results)
        gaps = [(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(results)]
        assert gaps == pytest.approx([1.0] * len(gaps), abs=0.001), gaps
    # Phases spread the probes over the interval rather than firing them together.
    phases = sorted(r.ts.timestamp() % 1 for r in (results[0] for results in by_probe.values()))
    assert max(b - a for a, b in itertools.pairwise(phases)) < 0.5
    assert phases[-1] - phases[0] > 0.5
    jitter = scheduler.jitter()
    assert len(sink.results) == scheduler.checks_done
    assert jitter.count >= scheduler.checks_done
    assert 0 <= jitter.p50_ms < 100 and jitter.max_ms < 1000  # on time by the clock


def test_slow_probe_never_overlaps_itself(target: ProbeTarget) -> None:
    sink = Sink()

    def scheduler_for(clock: FakeClock) -> ProbeScheduler:
        scheduler = ProbeScheduler("here", sink, flush_seconds=10, clock=clock)
        # Two attempts of 600 ms each: the check is still running when the clock reaches its next tick.
        scheduler.set_probes({"svc.slow": spec(target.url("/slow?ms=600&status=500"), retries=1)})
        return scheduler

    async def script(driver: Driver) -> None:
        for _ in range(2):
            await driver.step(checks=False)  # a tick: the check starts
            await driver.step(checks=False)  # the next tick, while it runs: skipped
            await driver.settle()  # the check ends

    scheduler = drive(scheduler_for, script).scheduler
    assert target.max_in_flight["/slow"] == 1
    assert scheduler.ticks_skipped >= 1
    results = sink.results
    assert 1 <= len(results) <= 3
    assert all(not r.ok and r.error == "status 500 not in 200-399" for r in results)
    for a, b in itertools.pairwise(results):
        assert b.ts >= a.ts + timedelta(milliseconds=1100)


def test_locations_filter_and_set_probes_replaces(target: ProbeTarget) -> None:
    sink = Sink()
    switched_at: datetime | None = None
    kept_probes: set[str] = set()

    def scheduler_for(clock: FakeClock) -> ProbeScheduler:
        nonlocal kept_probes
        scheduler = ProbeScheduler("here", sink, flush_seconds=0.2, clock=clock)
        scheduler.set_probes(
            {
                "svc.here": spec(target.url("/ok?here"), locations=["here"]),
                "svc.there": spec(target.url("/ok?there"), locations=["there"]),
                "svc.all": spec(target.url("/ok?all")),
                "svc.old": spec(target.url("/ok?old")),
            }
        )
        kept_probes = set(scheduler.probes)
        return scheduler

    async def script(driver: Driver) -> None:
        nonlocal switched_at
        await driver.run_for(2.1)
        driver.scheduler.set_probes(
            {
                "svc.all": spec(target.url("/ok?all"), keyword="all ok"),  # changed, kept
                "svc.new": spec(target.url("/ok?new")),
            }
        )
        switched_at = driver.clock.now()
        await driver.run_for(2.1)

    drive(scheduler_for, script)
    assert kept_probes == {"svc.here", "svc.all", "svc.old"}
    assert switched_at is not None
    by_probe = sink.by_probe()
    assert "svc.there" not in by_probe
    assert all(r.ts < switched_at for r in by_probe["svc.here"] + by_probe["svc.old"])
    assert 1 <= len(by_probe["svc.new"]) <= 3
    kept = by_probe["svc.all"]
    assert 3 <= len(kept) <= 5
    gaps = [(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(kept)]
    assert gaps == pytest.approx([1.0] * len(gaps), abs=0.001), gaps  # its grid did not move


def test_probe_removed_and_added_again_runs_once_per_tick(target: ProbeTarget) -> None:
    sink = Sink()

    def scheduler_for(clock: FakeClock) -> ProbeScheduler:
        scheduler = ProbeScheduler("here", sink, flush_seconds=0.2, clock=clock)
        probe = {"svc.again": spec(target.url("/ok?again"))}
        scheduler.set_probes(probe)
        scheduler.set_probes({})
        scheduler.set_probes(probe)
        return scheduler

    async def script(driver: Driver) -> None:
        await driver.run_for(2.2)

    scheduler = drive(scheduler_for, script).scheduler
    assert scheduler.ticks_skipped == 0
    assert 2 <= len(sink.results) <= 3


def test_cancel_flushes_pending_results(target: ProbeTarget) -> None:
    sink = Sink()
    pending_before_cancel = 0

    def scheduler_for(clock: FakeClock) -> ProbeScheduler:
        scheduler = ProbeScheduler("here", sink, flush_seconds=60, clock=clock)
        scheduler.set_probes({f"svc.p{i}": spec(target.url("/ok")) for i in range(5)})
        return scheduler

    async def script(driver: Driver) -> None:
        nonlocal pending_before_cancel
        await driver.run_for(1.6)
        pending_before_cancel = driver.scheduler.pending

    scheduler = drive(scheduler_for, script).scheduler
    assert pending_before_cancel >= 5
    assert sink.calls == 1
    assert len(sink.results) == scheduler.checks_done >= 5
    assert scheduler.pending == 0


def test_failing_sink_gets_the_results_again(target: ProbeTarget) -> None:
    sink = Sink(fail_first=3)

    def scheduler_for(clock: FakeClock) -> ProbeScheduler:
        scheduler = ProbeScheduler("here", sink, flush_seconds=0.1, clock=clock)
        scheduler.set_probes({f"svc.p{i}": spec(target.url("/ok")) for i in range(5)})
        return scheduler

    async def script(driver: Driver) -> None:
        await driver.run_for(2.5)

    scheduler = drive(scheduler_for, script).scheduler
    assert sink.calls > 3
    results = sink.results
    assert len(results) == scheduler.checks_done >= 10
    assert len({(r.probe, r.ts) for r in results}) == len(results)  # none twice


# -- storage ----------------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def result(probe: str, location: str, at: datetime, ok: bool, latency: float | None) -> ProbeResult:
    return ProbeResult(probe, location, at, ok, latency, 200 if ok else 503, None if ok else "status 503")


def test_store_and_series(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    rows = [
        # minute 0: 3 checks, 1 failure, latencies 100, 200, 300
        result("svc.api", "eu", T0 + timedelta(seconds=5), True, 100.0),
        result("svc.api", "us", T0 + timedelta(seconds=20), False, 200.0),
        result("svc.api", "eu", T0 + timedelta(seconds=59, microseconds=999_000), True, 300.0),
        # minute 1: nothing; minute 2: one timeout (no latency) and one ok
        result("svc.api", "eu", T0 + timedelta(minutes=2, seconds=1), False, None),
        result("svc.api", "us", T0 + timedelta(minutes=2, seconds=30), True, 50.0),
        # another probe, and a result outside the window
        result("svc.web", "eu", T0 + timedelta(seconds=10), False, 10.0),
        result("svc.api", "eu", T0 + timedelta(minutes=3), False, 999.0),
    ]
    try:
        with engine.begin() as conn:
            store_results(conn, rows, received_at=T0 + timedelta(minutes=5))
            store_results(conn, [], received_at=T0)
        with engine.connect() as conn:
            series = probe_series(conn, "svc.api", T0 + timedelta(seconds=30), 3)
            eu = probe_series(conn, "svc.api", T0, 3, location="eu")
            assert availability(conn, "svc.api", T0) == pytest.approx(3 / 6)
            assert availability(conn, "svc.api", T0 + timedelta(minutes=2, seconds=10)) == pytest.approx(
                1 / 2
            )
            assert availability(conn, "svc.none", T0) is None
            latest = latest_results(conn, ["svc.api", "svc.web", "svc.none"])
        assert series == [
            MinutePoint(T0, 3, 1, pytest.approx(2 / 3), pytest.approx(200.0), 300.0),
            MinutePoint(T0 + timedelta(minutes=1), 0, 0, None, None, None),
            MinutePoint(T0 + timedelta(minutes=2), 2, 1, 0.5, 50.0, 50.0),
        ]
        assert eu[0] == MinutePoint(T0, 2, 0, 1.0, 200.0, 300.0)
        assert eu[2] == MinutePoint(T0 + timedelta(minutes=2), 1, 1, 0.0, None, None)
        assert set(latest) == {("svc.api", "eu"), ("svc.api", "us"), ("svc.web", "eu")}
        assert latest[("svc.api", "eu")].ts == T0 + timedelta(minutes=3)
        assert latest[("svc.api", "eu")].latency_ms == 999.0
        assert latest[("svc.api", "us")] == rows[4]
        assert latest[("svc.web", "eu")].error == "status 503" and not latest[("svc.web", "eu")].ok

        with engine.begin() as conn:
            store_results(conn, rows[:2], received_at=T0 + timedelta(days=40))
            assert prune_results(conn, T0 + timedelta(days=30)) == len(rows)
        with engine.connect() as conn:
            assert availability(conn, "svc.api", T0) == pytest.approx(1 / 2)
    finally:
        engine.dispose()
