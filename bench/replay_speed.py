"""Replay throughput (reports/s) against the floor of any replay: reading and parsing the same NDJSON.

Ours: `downradar.detection.replay.replay_file` on an NDJSON report stream (dedup, per-minute series, detector,
incident code on an in-memory SQLite), timed from the first line to the returned statistics, the way
`downradar replay` runs it.

Baseline: the same file read line by line and every line parsed with `orjson.loads`, nothing else. No
replay can be faster, so the ratio says how much of the replay's time is its own work.

Streams (generated with `downradar.detection.scenario.report_stream` into a temporary NDJSON file first; the
generation is not timed):
- dense: 300 services over one day, about 3 M reports (lognormal service sizes, a daily rhythm, 70 % of
  reports naming a component, regions with subdivisions, a few outages and floods);
- seed: ../shared/scenarios/chatgpt-2026-02.toml (a fortnight of one small service, then two large
  outages), skipped with a message when the file is absent.

    .venv/bin/python bench/replay_speed.py                     # both streams, 2 alternating rounds
    .venv/bin/python bench/replay_speed.py --reports 500000    # a quicker dense stream
    .venv/bin/python bench/replay_speed.py --keep /tmp/dense.ndjson   # reuse (or write) the dense stream

Target: >= 300,000 reports/s on the dense stream.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from downradar.detection.replay import ReplayStats, replay_file
from downradar.detection.scenario import (
    Episode,
    Flood,
    Mix,
    Scenario,
    ServiceSpec,
    report_stream,
    scenario_from_toml,
    to_minute,
)
from harness import console, progress_bar

TARGET_PER_S = 300_000
SEED_SCENARIO = Path(__file__).resolve().parents[2] / "shared" / "scenarios" / "chatgpt-2026-02.toml"

COMPONENTS = ["api", "login", "web", "mobile", "search", "uploads", "payments", "notifications", "sync"]
REGIONS = {"US-CA": 14, "US-NY": 10, "US-TX": 8, "US": 18, "GB": 9, "DE": 8, "IN": 8, "CA": 6, "FR": 5,
           "BR": 5, "AU": 4, "MX": 3, "JP": 2}  # fmt: skip
SYMPTOMS = ["error", "cannot-load", "slow", "login", "no-answer", "upload"]


def dense_scenario(
    services: int = 300, minutes: int = 1440, reports: int = 3_000_000, seed: int = 7
) -> Scenario:
    """`services` services over `minutes` minutes with about `reports` background reports in all."""
    rng = np.random.default_rng(seed)
    start = to_minute("2026-03-02T00:00:00Z")
    sizes = rng.lognormal(0.0, 1.2, services)
    per_min = sizes / sizes.sum() * reports / minutes
    specs = []
    for i in range(services):
        k = int(rng.integers(3, 9))
        components = dict(
            zip(
                rng.choice(COMPONENTS, k, replace=False).tolist(),
                rng.dirichlet(np.ones(k)) * 0.7,
                strict=True,
            )
        )
        components[""] = 0.3  # a report without a component counts only in the total
        symptoms = rng.choice(SYMPTOMS, int(rng.integers(3, 6)), replace=False).tolist()
        mix = Mix(
            components, REGIONS, dict(zip(symptoms, rng.dirichlet(np.ones(len(symptoms))), strict=True))
        )
        specs.append(ServiceSpec(f"service-{i:03d}", float(per_min[i]), mix, peak_hour_utc=float(i % 24)))
    episodes = []
    for j, i in enumerate(rng.choice(services, 6, replace=False).tolist()):
        spec = specs[i]
        focus = Mix({next(iter(spec.mix.components)): 1.0}, {"US-CA": 0.6, "US": 0.4}, {"error": 1.0})
        begin = start + 600 + 120 * j
        episodes.append(Episode.plateau(spec.service, begin, 40, max(8.0, 4 * spec.per_min), focus, ramp=3))
    floods = [
        Flood(specs[0].service, 5, start + 700, start + 760, component="api"),
        Flood(specs[1].service, 3, start + 900, start + 990, region="DE"),
    ]
    return Scenario(start, minutes, tuple(specs), tuple(episodes), tuple(floods), seed=seed)


def write_stream(scenario: Scenario, path: Path, label: str) -> int:
    """The scenario's report stream as NDJSON (as `downradar scenario` writes it); returns the line count."""
    written = 0
    with path.open("wb") as out, progress_bar() as progress:
        task = progress.add_task(f"Writing the {label} stream", total=scenario.minutes * 60)
        buffer: list[bytes] = []
        for report in report_stream(scenario):
            buffer.append(orjson.dumps(report))
            if len(buffer) == 50_000:
                out.write(b"\n".join(buffer) + b"\n")
                written += len(buffer)
                buffer = []
                progress.update(task, completed=_seconds_into(report["ts"], scenario))
        if buffer:
            out.write(b"\n".join(buffer) + b"\n")
            written += len(buffer)
        progress.update(task, completed=scenario.minutes * 60)
    return written


def _seconds_into(ts: str, scenario: Scenario) -> int:
    return to_minute(ts) * 60 - scenario.start * 60


# --- measuring -------------------------------------------------------------------------------------------


def parse_only(path: Path) -> tuple[int, float]:
    """The floor: read every line and parse it with orjson. Returns (lines, seconds)."""
    loads = orjson.loads
    gc.collect()
    started = time.perf_counter()
    lines = 0
    with path.open("rb") as stream:
        for line in stream:
            loads(line)
            lines += 1
    return lines, time.perf_counter() - started


def replay(path: Path) -> tuple[ReplayStats, float, bytes]:
    """Replay the file; returns the statistics, seconds, and the events as written (NDJSON)."""
    events = _Sink()
    gc.collect()
    started = time.perf_counter()
    with path.open("rb") as stream:
        stats = replay_file(stream, events_out=events)  # type: ignore[arg-type]
    return stats, time.perf_counter() - started, b"".join(events.parts)


class _Sink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)


@dataclass
class SpeedResult:
    label: str
    reports: int
    minutes: int
    events: int
    events_sha256: str
    ours_per_s: float
    baseline_per_s: float
    target_per_s: float | None

    @property
    def ratio(self) -> float:
        return self.ours_per_s / self.baseline_per_s


def measure(path: Path, label: str, rounds: int, target: float | None) -> SpeedResult:
    """Alternate baseline and replay `rounds` times; medians of the rates."""
    ours: list[float] = []
    floor: list[float] = []
    digests: set[str] = set()
    for k in range(rounds):
        lines, seconds = parse_only(path)
        floor.append(lines / seconds)
        console.print(f"[dim]{label} round {k + 1}: parse only {lines:,} lines in {seconds:.2f} s[/dim]")
        stats, seconds, events = replay(path)
        ours.append(stats.reports / seconds)
        digests.add(hashlib.sha256(events).hexdigest())
        console.print(
            f"[dim]{label} round {k + 1}: replay {stats.reports:,} reports ({stats.counted:,} counted, "
            f"{stats.duplicates:,} duplicates, {stats.rejected:,} rejected) over {stats.minutes:,} minutes "
            f"in {seconds:.2f} s, {stats.incidents_opened} incidents opened, {len(stats.events)} events[/dim]"
        )
    if len(digests) != 1:
        raise SystemExit(f"{label}: replays of the same file gave different events")
    return SpeedResult(
        label=label,
        reports=stats.reports,
        minutes=stats.minutes,
        events=len(stats.events),
        events_sha256=digests.pop(),
        ours_per_s=statistics.median(ours),
        baseline_per_s=statistics.median(floor),
        target_per_s=target,
    )


def report(result: SpeedResult) -> None:
    verdict = ""
    if result.target_per_s is not None:
        meets = result.ours_per_s >= result.target_per_s
        verdict = (
            f"; {'[green]meets[/green]' if meets else '[red]misses[/red]'} the "
            f"{result.target_per_s:,.0f} reports/s target ({result.ours_per_s / result.target_per_s:.2f}×)"
        )
    console.print(
        f"[bold]replay, {result.label}[/bold]: {result.ours_per_s:,.0f} reports/s vs parse-only baseline "
        f"{result.baseline_per_s:,.0f} lines/s = [bold]{result.ratio:.2f}×[/bold]{verdict}"
    )
    console.print(f"[dim]  events sha256 {result.events_sha256[:16]}… ({result.events} events)[/dim]")


def run(
    reports: int = 3_000_000,
    services: int = 300,
    rounds: int = 2,
    keep: Path | None = None,
    seed_file: bool = True,
) -> list[SpeedResult]:
    results = []
    with tempfile.TemporaryDirectory(prefix="downradar-replay-bench-") as folder:
        dense = keep or Path(folder) / "dense.ndjson"
        if keep is None or not keep.exists():
            started = time.perf_counter()
            lines = write_stream(dense_scenario(services, reports=reports), dense, "dense")
            console.print(
                f"[dim]dense stream: {lines:,} reports in {time.perf_counter() - started:.0f} s[/dim]"
            )
        results.append(measure(dense, f"dense ({services} services, 1 day)", rounds, TARGET_PER_S))
        report(results[-1])
        if not seed_file:
            return results
        if not SEED_SCENARIO.is_file():
            console.print(f"[yellow]seed scenario skipped:[/yellow] {SEED_SCENARIO} not present")
            return results
        seed = Path(folder) / "seed.ndjson"
        write_stream(scenario_from_toml(SEED_SCENARIO.read_text(), seed=1), seed, "seed")
        results.append(measure(seed, "seed scenario (chatgpt-2026-02, seed 1)", rounds, None))
        report(results[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--reports", type=int, default=3_000_000, help="dense background reports (3M)")
    parser.add_argument("--services", type=int, default=300, help="dense services (300)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds, medians reported (2)")
    parser.add_argument(
        "--keep", type=Path, help="dense stream file: reused if it exists, else written there"
    )
    parser.add_argument("--no-seed", action="store_true", help="skip the seed scenario")
    args = parser.parse_args()
    console.print(f"[dim]Python {sys.version.split()[0]}[/dim]")
    run(args.reports, args.services, args.rounds, args.keep, not args.no_seed)


if __name__ == "__main__":
    main()
