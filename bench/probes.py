"""Probes: what running 1,000 HTTP probes a minute costs the scheduler's process, and how punctual it is.

Ours: a `ProbeScheduler` with N HTTP probes (each its own URL, interval `--interval`), run for
`--seconds`; its sink counts results (with `--store`, it also writes them with `store_results` to a fresh
database in a thread). Measured: the process's CPU time over wall time, checks per second, and how late
each check started against its planned time on the grid (lateness p50 / p99 / max).

Baseline, in the same run: the same number of GETs at the same rate, evenly spaced, from a bare loop that
sleeps until each planned time and fires `httpx.AsyncClient.get` as a task: no checks, no heap, no
batching. Its CPU share and lateness are measured the same way; the ratios are ours / baseline.

The target is a plain asyncio HTTP/1.1 server in a subprocess (its own CPU, not counted) answering
200 "all ok" at once.

    .venv/bin/python bench/probes.py                         # 1,000 probes every 60 s, 60 s per side
    .venv/bin/python bench/probes.py --seconds 20 --probes 500 --interval 10
    .venv/bin/python bench/probes.py --store                  # also store the results (SQLite)
    .venv/bin/python bench/probes.py --store --db postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from rich.table import Table

from downradar.core.model import ProbeResult
from downradar.probes.checks import make_probe_client
from downradar.probes.results import store_results
from downradar.probes.scheduler import ProbeScheduler
from downradar.probes.spec import ProbeSpec
from downradar.store import make_engine, upgrade
from harness import console, fresh_database, machine, serve

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nall ok"


# -- the target (a subprocess) --------------------------------------------------------------------------


class TargetProtocol(asyncio.Protocol):
    """Answers every complete request head with 200 "all ok"; requests here carry no body."""

    def __init__(self) -> None:
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(OK)


def serve_target(port: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(TargetProtocol, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- measuring ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    name: str
    requests: int
    failures: int
    wall_seconds: float
    cpu_seconds: float
    lateness_ms: list[float]

    @property
    def cpu_share(self) -> float:
        return self.cpu_seconds / self.wall_seconds

    @property
    def per_second(self) -> float:
        return self.requests / self.wall_seconds

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.requests if self.requests else math.nan

    def lateness(self, quantile: int) -> float:
        """Lateness at the given percentile (ms); 100 is the maximum."""
        samples = sorted(self.lateness_ms)
        if not samples:
            return math.nan
        if quantile == 100 or len(samples) == 1:
            return samples[-1]
        return statistics.quantiles(samples, n=100, method="inclusive")[quantile - 1]


def probe_specs(base_url: str, probes: int, interval: float) -> dict[str, ProbeSpec]:
    timeout = min(10.0, interval)
    return {
        f"bench.p{i}": ProbeSpec(
            id=f"p{i}", url=f"{base_url}/p/{i}", interval_seconds=interval, timeout_seconds=timeout
        )
        for i in range(probes)
    }


async def run_ours(
    base_url: str,
    probes: int,
    interval: float,
    seconds: float,
    concurrency: int,
    store: Callable[[list[ProbeResult]], Awaitable[None]] | None,
) -> Side:
    done = failed = 0

    async def sink(batch: list[ProbeResult]) -> None:
        nonlocal done, failed
        done += len(batch)
        failed += sum(1 for result in batch if not result.ok)
        if store is not None:
            await store(batch)

    cpu, wall = time.process_time(), time.perf_counter()
    # The client is made before the probes are set, as the baseline's is before its first planned time:
    # loading the CA bundle takes tens of milliseconds, which would otherwise make the first checks late.
    async with make_probe_client(concurrency=concurrency) as client:
        scheduler = ProbeScheduler("bench", sink, client=client, concurrency=concurrency)
        scheduler.set_probes(probe_specs(base_url, probes, interval))
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(seconds)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Side("Downradar", done, failed, wall, cpu, scheduler.lateness_ms())


async def run_baseline(base_url: str, requests: int, seconds: float, concurrency: int) -> Side:
    """`requests` GETs evenly over `seconds`, each fired as a task when its planned time comes."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    lateness: list[float] = []
    failed = 0

    async def get(client: httpx.AsyncClient, i: int) -> None:
        nonlocal failed
        try:
            response = await client.get(f"{base_url}/p/{i}", timeout=10)
            failed += response.status_code != 200
        except httpx.HTTPError:
            failed += 1

    loop = asyncio.get_running_loop()
    cpu, wall = time.process_time(), time.perf_counter()
    async with httpx.AsyncClient(trust_env=False, limits=limits) as client:
        tasks: set[asyncio.Task[None]] = set()
        start = loop.time()
        step = seconds / requests
        for i in range(requests):
            planned = start + (i + 1) * step
            delay = planned - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lateness.append((loop.time() - planned) * 1000)
            task = asyncio.create_task(get(client, i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Side("bare httpx loop", requests, failed, wall, cpu, lateness)


def database_store(url: str) -> tuple[Callable[[list[ProbeResult]], Awaitable[None]], Callable[[], None]]:
    engine = make_engine(url)
    upgrade(engine)

    def write(batch: list[ProbeResult]) -> None:
        with engine.begin() as conn:
            store_results(conn, batch, datetime.now(UTC))

    async def store(batch: list[ProbeResult]) -> None:
        await asyncio.to_thread(write, batch)

    return store, engine.dispose


def report(ours: Side, baseline: Side, probes: int, interval: float, stored: str | None) -> None:
    title = f"{probes:,} HTTP probes every {interval:g} s, {ours.wall_seconds:.0f} s per side"
    if stored:
        title += f", results stored ({stored})"
    table = Table(title=title)
    table.add_column("")
    table.add_column(ours.name, justify="right")
    table.add_column(baseline.name, justify="right")
    table.add_column("ours / baseline", justify="right")

    def row(label: str, pick: Callable[[Side], float], form: str) -> None:
        a, b = pick(ours), pick(baseline)
        table.add_row(label, format(a, form), format(b, form), f"{a / b:.2f}×" if b else "")

    row("requests", lambda s: s.requests, ",.0f")
    row("requests/s", lambda s: s.per_second, ",.1f")
    row("CPU share of one core", lambda s: s.cpu_share * 100, ".2f")
    row("CPU per request (ms)", lambda s: s.cpu_ms_per_request, ".3f")
    row("lateness p50 (ms)", lambda s: s.lateness(50), ".2f")
    row("lateness p99 (ms)", lambda s: s.lateness(99), ".2f")
    row("lateness max (ms)", lambda s: s.lateness(100), ".2f")
    console.print(table)
    console.print(
        "[dim]CPU share = process CPU time (all threads) / wall time, in percent; lateness = actual start "
        "minus planned start (ours: when the check starts, after the concurrency bound)[/dim]"
    )
    for side in (ours, baseline):
        if side.failures:
            console.print(f"[red]{side.name}: {side.failures} requests failed[/red]")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--probes", type=int, default=1000, help="HTTP probes (1000)")
    parser.add_argument("--interval", type=float, default=60.0, help="each probe's interval in seconds (60)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each side runs (60)")
    parser.add_argument("-c", "--concurrency", type=int, default=100, help="checks in flight at most (100)")
    parser.add_argument("--store", action="store_true", help="ours also stores results in a fresh database")
    parser.add_argument(
        "--db", help="with --store: PostgreSQL server URL for a scratch database (default SQLite)"
    )
    parser.add_argument("--serve-target", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_target:
        serve_target(args.port)
        return
    started = time.monotonic()
    console.print(f"[dim]{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}[/dim]")
    requests = round(args.probes * args.seconds / args.interval)
    with serve([sys.executable, __file__, "--serve-target"], "/healthz") as target:
        with contextlib.ExitStack() as stack:
            store = None
            stored = None
            if args.store:
                url = stack.enter_context(fresh_database(args.db, "probes"))
                store, dispose = database_store(url)
                stack.callback(dispose)
                stored = url.split(":", 1)[0]
            console.print(f"[dim]Downradar scheduler: {args.probes:,} probes for {args.seconds:g} s…[/dim]")
            ours = asyncio.run(
                run_ours(target.base_url, args.probes, args.interval, args.seconds, args.concurrency, store)
            )
        console.print(f"[dim]bare httpx loop: {requests:,} GETs over {args.seconds:g} s…[/dim]")
        baseline = asyncio.run(run_baseline(target.base_url, requests, args.seconds, args.concurrency))
    report(ours, baseline, args.probes, args.interval, stored)
    console.print(f"[dim]{time.monotonic() - started:.0f} s in all[/dim]")


if __name__ == "__main__":
    main()
