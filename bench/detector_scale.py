"""Detector tick time and memory at a million active series, against a bare numpy sweep of the same size.

Ours: `downradar.detect.Detector` with the default `DetectorConfig`, fed the way `downradar replay` feeds
it (series registered once, then one `observe` per minute with `IndexedCounts`). Each tick is timed from
the call to `observe` to its return; the minute's counts are generated before the clock starts.

Series: `--services` services (50 k by default) with a total and components, regions and symptoms each,
`--series` in all (1.05 M by default). Traffic is sparse, as real traffic is: lognormal service sizes
scaled to `--reports-per-min` reports per minute over all services (most services see a report every
few hours), Poisson per minute; each report names a component (70 %), a region (90 %) and a symptom
(60 %) drawn from its service's own shares. Before the timed minutes the detector learns `--history`
minutes (by default a day: past the 6-hour warm-up and the day after which profiles and dispersion
learn, so the timed ticks take the steady-state path). `--outages` services get a 30-fold
outage during the timed minutes, so incidents open and their findings are built as they would be.

Baseline: one sweep of three elementwise numpy operations (add, maximum, greater) over arrays of as many
float32 as there are series, timed after every tick. No vectorised tick can cost less than touching its
state once, so the ratio says how many such sweeps a tick costs.

    .venv/bin/python bench/detector_scale.py                     # 1.05 M series, 60 timed minutes (~3 min)
    .venv/bin/python bench/detector_scale.py --quick             # 100 k series, 30 minutes of history
    .venv/bin/python bench/detector_scale.py --profile 30        # ... then 30 more ticks under cProfile
    .venv/bin/python bench/detector_scale.py --history 400       # shorter history: profiles not learning yet

Targets: one tick over all series <= 1 s; <= 1 KB of memory (peak RSS) per series.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import resource
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rich.table import Table

from downradar.detect import Detector, DetectorConfig, IndexedCounts, SeriesKey
from downradar.detection.scenario import to_minute
from harness import console, progress_bar

TARGET_TICK_S = 1.0
TARGET_BYTES_PER_SERIES = 1024
START = to_minute("2026-03-02T00:00:00Z")  # first timed minute (a Monday); the history comes before

COMPONENTS = ["api", "login", "web", "mobile", "search", "uploads", "payments", "notifications", "sync",
              "checkout", "messages", "video", "feed", "admin"]  # fmt: skip
REGIONS = ["US", "GB", "DE", "IN", "CA", "FR", "BR", "AU", "MX", "JP", "ES", "IT", "NL", "PL", "SE", "TR",
           "AR", "ZA", "NG", "PH", "ID", "KR", "IE", "BE", "CH", "AT", "PT", "NO"]  # fmt: skip
SYMPTOMS = ["error", "cannot-load", "slow", "login", "no-answer", "upload", "crash", "payment"]


def rss_bytes() -> int:
    """Resident set size now (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --- the traffic -----------------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Per service: its rate and its children's shares; per report, rows drawn from them with numpy."""

    rate: NDArray[np.float64]  # (S,) reports per minute
    n_children: NDArray[np.int64]  # (S, 3) components, regions, symptoms
    shares: list[NDArray[np.float32]]  # per dimension (S, kmax): cumulative shares, padded with 2.0
    offset: NDArray[np.int64]  # (S,) position of the service's total in the key order
    present: tuple[float, float, float] = (0.7, 0.9, 0.6)  # share of reports naming each dimension

    @property
    def services(self) -> int:
        return self.rate.shape[0]

    @property
    def series(self) -> int:
        return int(self.services + self.n_children.sum())


def make_traffic(services: int, series: int, reports_per_min: float, seed: int) -> Traffic:
    if series < 4 * services:
        raise SystemExit("--series must be at least 4 x --services (a total and three dimensions each)")
    rng = np.random.default_rng(seed)
    sizes = rng.lognormal(0.0, 1.6, services)
    rate = sizes / sizes.sum() * reports_per_min
    children = np.full(services, series // services - 1, dtype=np.int64)
    children[: series % services] += 1
    # Components and symptoms first (a few each), regions take the rest (the widest dimension).
    n_comp = np.minimum(rng.integers(3, 9, services), children - 2)
    n_symp = np.minimum(rng.integers(3, 7, services), children - n_comp - 1)
    n_reg = children - n_comp - n_symp
    n_children = np.stack([n_comp, n_reg, n_symp], axis=1)
    shares = []
    for d in range(3):
        k = n_children[:, d]
        kmax = int(k.max())
        raw = rng.gamma(0.8, 1.0, (services, kmax)) * (np.arange(kmax) < k[:, None])
        cum = np.cumsum(raw / raw.sum(axis=1, keepdims=True), axis=1)
        cum[np.arange(services), k - 1] = 1.0  # the last real child takes any rounding
        cum[np.arange(kmax) >= k[:, None]] = 2.0  # padding: never drawn
        shares.append(cum.astype(np.float32))
    offset = np.concatenate([[0], np.cumsum(1 + children)[:-1]])
    return Traffic(rate, n_children, shares, offset)


def keys_of(traffic: Traffic, service: int) -> list[SeriesKey]:
    """A service's series in key order: total, components, regions, symptoms."""
    name = f"svc-{service:06d}"
    k_comp, k_reg, k_symp = (int(k) for k in traffic.n_children[service])
    keys = [SeriesKey.total(name)]
    keys += [SeriesKey(name, "component", _value(COMPONENTS, j)) for j in range(k_comp)]
    keys += [SeriesKey(name, "region", _value(REGIONS, j, service)) for j in range(k_reg)]
    keys += [SeriesKey(name, "symptom", _value(SYMPTOMS, j)) for j in range(k_symp)]
    return keys


def _value(vocabulary: list[str], j: int, rotate: int = 0) -> str:
    if j < len(vocabulary):
        return vocabulary[(j + rotate) % len(vocabulary)]
    return f"{vocabulary[j % len(vocabulary)]}-{j // len(vocabulary)}"


class Feed:
    """Counts per minute as IndexedCounts over the detector's rows."""

    def __init__(self, traffic: Traffic, rows: NDArray[np.int32], seed: int) -> None:
        self.traffic = traffic
        self.rows = rows.astype(np.int64)  # detector row of every key, in key order
        self.rng = np.random.default_rng(seed + 1)
        self.boost: dict[int, float] = {}  # service -> factor on its rate (outages)
        self.nonzero: list[int] = []
        # Per service and dimension: where its children start in the key order, after its total.
        self.dim_start = 1 + np.cumsum(traffic.n_children, axis=1) - traffic.n_children

    def minute(self) -> IndexedCounts:
        tr, rng = self.traffic, self.rng
        rate = tr.rate
        if self.boost:
            rate = rate.copy()
            for service, factor in self.boost.items():
                rate[service] *= factor
        per_service = rng.poisson(rate)
        reporter = np.repeat(np.arange(tr.services), per_service)  # one entry per distinct reporter
        parts = [self.rows[tr.offset[reporter]]]
        for d in range(3):
            named = reporter[rng.random(reporter.size) < tr.present[d]]
            u = rng.random(named.size, dtype=np.float32)
            j = (u[:, None] >= tr.shares[d][named]).sum(axis=1)
            parts.append(self.rows[tr.offset[named] + self.dim_start[named, d] + j])
        rows, counts = np.unique(np.concatenate(parts), return_counts=True)
        self.nonzero.append(rows.size)
        return IndexedCounts(rows.astype(np.int32), counts.astype(np.int32))


# --- measuring -------------------------------------------------------------------------------------------


class Sweep:
    """The baseline: add, maximum and greater over `n` float32, as the cheapest conceivable tick."""

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(0)
        self.a, self.b, self.c = (rng.random(n, dtype=np.float32) for _ in range(3))
        self.out = np.empty(n, dtype=np.float32)
        self.mask = np.empty(n, dtype=np.bool_)
        self.times: list[float] = []

    def run(self, repeats: int = 3) -> None:
        for _ in range(repeats):
            started = time.perf_counter()
            np.add(self.a, self.b, out=self.out)
            np.maximum(self.out, self.c, out=self.out)
            np.greater(self.out, self.a, out=self.mask)
            self.times.append(time.perf_counter() - started)


def refreshes(config: DetectorConfig, minutes: range) -> set[int]:
    """Minutes where the detector rebuilds its expectations (every refresh_minutes and at each new hour).

    Mirrors Detector._current_model for a fixed set of series that has been observed before `minutes`.
    """
    made_at = minutes.start - 1
    out = set()
    for t in minutes:
        if t - made_at >= config.refresh_minutes or t // 60 != made_at // 60:
            out.add(t)
            made_at = t
    return out


class GcWatch:
    """Pauses of Python's cyclic garbage collector inside ticks, per generation (the registry's ~1 M key
    tuples are tracked objects, so a generation-2 collection walks all of them)."""

    def __init__(self) -> None:
        self.active = False
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if not self.active:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=1_050_000, help="series in all (default 1,050,000)")
    parser.add_argument("--services", type=int, default=50_000, help="services (default 50,000)")
    parser.add_argument("--minutes", type=int, default=60, help="timed minutes (default 60)")
    parser.add_argument(
        "--history", type=int, default=None, help="minutes learned before the timed ones (default: 1 day)"
    )
    parser.add_argument(
        "--reports-per-min", type=float, default=5_000.0, help="reports per minute, all services (5,000)"
    )
    parser.add_argument("--outages", type=int, default=3, help="services with an outage in the timed minutes")
    parser.add_argument("--quick", action="store_true", help="100 k series, 5 k services, 30 min of history")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="then N more ticks under cProfile; print the top"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    config = DetectorConfig()
    if args.quick:
        args.series, args.services = 100_000, 5_000
        args.history = 30 if args.history is None else args.history
        args.reports_per_min = args.reports_per_min / 10
    # A day: every timed minute is then past the warm-up and the day after which profiles learn.
    history = config.profile_after_minutes if args.history is None else args.history

    traffic = make_traffic(args.services, args.series, args.reports_per_min, args.seed)
    n = traffic.series
    sweep = Sweep(n)
    gc.collect()
    rss_before = rss_bytes()
    console.print(
        f"{n:,} series in {traffic.services:,} services; {args.reports_per_min:,.0f} reports/min; "
        f"{history:,} minutes of history, {args.minutes} timed; RSS before the detector "
        f"{rss_before / 2**20:,.0f} MiB"
    )

    # Build: register every series, service by service (the keys live on in the detector's registry).
    detector = Detector(config)
    rows = np.empty(n, dtype=np.int32)
    started = time.perf_counter()
    chunk = 1_000
    with progress_bar() as progress:
        task = progress.add_task("Registering series", total=traffic.services)
        for first in range(0, traffic.services, chunk):
            services = range(first, min(first + chunk, traffic.services))
            keys = [key for s in services for key in keys_of(traffic, s)]
            at = int(traffic.offset[first])
            rows[at : at + len(keys)] = detector.register(keys)
            progress.update(task, advance=len(services))
    build_s = time.perf_counter() - started
    del keys
    feed = Feed(traffic, rows, args.seed)
    watch = GcWatch()

    # History: minute after minute, as a replay of the days before would.
    first_minute = START - history
    first_tick = 0.0
    history_ticks: list[float] = []
    with progress_bar() as progress:
        task = progress.add_task("Learning the history", total=history)
        for t in range(first_minute, START):
            counts = feed.minute()
            watch.active = True
            started = time.perf_counter()
            detector.observe(t, counts)
            elapsed = time.perf_counter() - started
            watch.active = False
            if t == first_minute:
                first_tick = elapsed
            else:
                history_ticks.append(elapsed)
            progress.update(task, advance=1)

    # Timed minutes, with outages on a few services large enough to reach min_clients.
    timed = range(START, START + args.minutes)
    big = np.flatnonzero(traffic.rate * 15 >= 1.0)
    outaged = (
        np.random.default_rng(args.seed + 2).choice(big, min(args.outages, big.size), replace=False).tolist()
    )
    outage_from, outage_to = START + args.minutes // 6, START + args.minutes // 6 + 20
    ticks: dict[int, float] = {}
    opened: set[str] = set()
    gc.collect()
    with progress_bar() as progress:
        task = progress.add_task("Timed minutes", total=args.minutes)
        for t in timed:
            feed.boost = {s: 30.0 for s in outaged} if outage_from <= t < outage_to else {}
            counts = feed.minute()
            watch.active = True
            started = time.perf_counter()
            result = detector.observe(t, counts)
            ticks[t] = time.perf_counter() - started
            watch.active = False
            opened.update(f.service for f in result.findings if f.state == "opened")
            sweep.run()
            progress.update(task, advance=1)
    peak = peak_rss_bytes()
    rss_after = rss_bytes()

    if args.profile:
        more = [(t, feed.minute()) for t in range(timed.stop, timed.stop + args.profile)]
        profiler = cProfile.Profile()
        profiler.enable()
        for t, counts in more:
            detector.observe(t, counts)
        profiler.disable()

    # --- report ---
    refreshed = refreshes(config, timed)
    straddling = {t for t in timed if t % 60 + 1 < config.windows[-1]} - refreshed
    steady = [ticks[t] for t in timed if t not in refreshed and t not in straddling]
    all_ticks = list(ticks.values())
    median = statistics.median(all_ticks)
    base = statistics.median(sweep.times)
    worst = max(all_ticks)
    nbytes = detector.nbytes
    wanted = {s: f"svc-{s:06d}" for s in outaged}

    table = Table(title=f"Detector ticks over {detector.series_count:,} series ({len(all_ticks)} timed)")
    table.add_column("ticks")
    table.add_column("count", justify="right")
    table.add_column("median", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("max", justify="right")
    groups = [
        ("all timed", all_ticks),
        ("steady: expectations reused", steady),
        ("windows reach into last hour", [ticks[t] for t in straddling]),
        ("expectations refreshed", [ticks[t] for t in refreshed]),
        (f"history (minutes 2 to {history:,})", history_ticks),
    ]
    for label, values in groups:
        if values:
            table.add_row(
                label,
                str(len(values)),
                _ms(statistics.median(values)),
                _ms(_p95(values)),
                _ms(max(values)),
            )
    table.add_row("very first", "1", _ms(first_tick), "", _ms(first_tick))
    console.print(table)
    if history_ticks:
        slowest = int(np.argmax(history_ticks)) + 2
        console.print(
            f"Slowest history tick: minute {slowest:,} of {history:,} ({_ms(max(history_ticks))}); "
            f"{sum(v > TARGET_TICK_S for v in history_ticks)} history ticks over {TARGET_TICK_S:.0f} s."
        )
    others = sorted(opened - set(wanted.values()))
    nonzero = statistics.median(feed.nonzero)
    console.print(
        f"Expectations are refreshed every {config.refresh_minutes} minutes and at each new hour; in the "
        f"first {config.windows[-1] - 1} minutes of an hour the windows reach into the previous hour and "
        f"their expectations are recomputed every tick. Registration: {build_s:.1f} s. Nonzero series "
        f"per minute: median {nonzero:,.0f} of {n:,} ({nonzero / n:.2%}). Incidents opened in the timed "
        f"minutes: {len(opened)} ({len(opened & set(wanted.values()))} of {len(outaged)} injected outages"
        + (f"; others: {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}" if others else "")
        + ")."
    )
    console.print(
        f"Baseline sweep (add + maximum + greater over {n:,} float32): median {base * 1e6:,.0f} µs "
        f"over {len(sweep.times)} runs. Tick median = [bold]{median / base:,.0f}x[/bold] the sweep, "
        f"p95 {_p95(all_ticks) / base:,.0f}x, max {worst / base:,.0f}x."
    )
    gen2 = watch.pauses[2]
    console.print(
        f"Garbage collector inside ticks (history and timed): {len(watch.pauses[0]):,} / "
        f"{len(watch.pauses[1]):,} / {len(gen2):,} collections of generation 0 / 1 / 2"
        + (
            f", generation 2 pausing {_ms(statistics.median(gen2))} (median) to {_ms(max(gen2))}"
            if gen2
            else ""
        )
        + "."
    )
    detector_rss = peak - rss_before
    console.print(
        f"Memory: Detector.nbytes {nbytes / 2**20:,.0f} MiB = {nbytes / n:,.0f} B per series (arrays only); "
        f"peak RSS {peak / 2**20:,.0f} MiB = {peak / n:,.0f} B per series all told (interpreter, numpy, "
        f"traffic generator included); peak minus RSS before the detector {detector_rss / 2**20:,.0f} MiB = "
        f"{detector_rss / n:,.0f} B per series; RSS at the end {rss_after / 2**20:,.0f} MiB."
    )
    tick_ok, memory_ok = worst <= TARGET_TICK_S, peak / n <= TARGET_BYTES_PER_SERIES
    console.print(
        f"Target tick <= {TARGET_TICK_S:.0f} s (every timed tick): "
        f"{'[green]met[/green]' if tick_ok else '[red]missed[/red]'} (max {_ms(worst)}, very first "
        f"{_ms(first_tick)}). Target <= 1 KB per series (peak RSS, all told): "
        f"{'[green]met[/green]' if memory_ok else '[red]missed[/red]'} ({peak / n:,.0f} B)."
    )
    if n < 1_000_000:
        console.print(
            "[dim]Below 1 M series the interpreter's and numpy's fixed ~130 MiB weigh on the per-series RSS: "
            "read the detector's own share (peak minus RSS before).[/dim]"
        )
    if args.profile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        print(f"cProfile of {args.profile} more ticks (numpy's work counts as the caller's own time):")
        print(out.getvalue().strip())
    return 0 if tick_ok and memory_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
