"""Seeded synthetic traffic: report streams (DESIGN.md 3.1) and per-minute counts, for tests and replays.

A scenario is background traffic per service (a mean rate of distinct reporters per minute with a daily
rhythm, spread over components, regions and symptoms by a mix) plus episodes (extra reports following
a piecewise-linear curve, optionally switching on and off, with their own mix) and floods (a few clients
reporting over and over). Everything here is pure: no files, no clock; the same seed gives the same
numbers.

Two views of one scenario agree exactly:
- `report_stream` yields report dicts in time order (each background or episode report from a client
  of its own, so every one of them counts), floods included;
- `minute_counts` gives the per-minute distinct-reporter counts the detector consumes (what the intake's
  15-minute dedup and minute roll-up would store) without building millions of dicts.
`dedup` applies the intake's counting rule (intake/counting.py) to a stream, `roll_up` its minute buckets.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from downradar.detect.series import CHILD_DIMENSIONS, Dimension, SeriesKey
from downradar.intake.counting import DEDUP_WINDOW, judge

Report = dict[str, Any]


# --- time ------------------------------------------------------------------------------------------


def to_minute(moment: datetime | str) -> int:
    """Epoch minute of an aware datetime or an RFC 3339 string (seconds floored)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no UTC offset")
    return int(moment.timestamp()) // 60


def from_minute(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


def _seconds(ts: Any) -> float:
    if isinstance(ts, int | float):
        return float(ts)
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise ValueError(f"{ts} has no UTC offset")
        return ts.timestamp()
    raise TypeError(f"cannot read a time from {ts!r}")


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


# --- the scenario model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """How reports spread over components, regions and symptoms (shares, each normalised on use)."""

    components: Mapping[str, float] = field(default_factory=dict)
    regions: Mapping[str, float] = field(default_factory=dict)
    symptoms: Mapping[str, float] = field(default_factory=dict)

    def of(self, dimension: str) -> Mapping[str, float]:
        return {"component": self.components, "region": self.regions, "symptom": self.symptoms}[dimension]

    @staticmethod
    def mean(mixes: Iterable[Mix]) -> Mix:
        """The average of several mixes, share by share."""
        mixes = list(mixes)
        averaged: list[dict[str, float]] = []
        for dimension in CHILD_DIMENSIONS:
            total: dict[str, float] = {}
            for mix in mixes:
                shares = _normalised(mix.of(dimension))
                for value, share in shares.items():
                    total[value] = total.get(value, 0.0) + share / len(mixes)
            averaged.append(total)
        return Mix(*averaged)


def _normalised(shares: Mapping[str, float]) -> dict[str, float]:
    total = sum(shares.values())
    if any(v < 0 for v in shares.values()) or (shares and total <= 0):
        raise ValueError(f"shares must be non-negative with a positive sum: {dict(shares)}")
    return {k: v / total for k, v in shares.items()}


@dataclass(frozen=True)
class ServiceSpec:
    """Background traffic of one service: `per_min` distinct reporters per minute on average over a day."""

    service: str
    per_min: float
    mix: Mix = field(default_factory=Mix)
    peak_to_trough: float = 3.0
    peak_hour_utc: float = 20.0

    def rate(self, minutes: NDArray[np.integer]) -> NDArray[np.float64]:
        """Expected reporters in each epoch minute: a daily sinusoid with the given peak-to-trough ratio."""
        amplitude = (self.peak_to_trough - 1.0) / (self.peak_to_trough + 1.0)
        hour = (np.asarray(minutes) % 1440) / 60.0
        return self.per_min * (1.0 + amplitude * np.cos(2 * np.pi * (hour - self.peak_hour_utc) / 24.0))


@dataclass(frozen=True)
class Official:
    """A provider's own status-page update (from the scenario file), for comparison with detection."""

    at: datetime
    status: str
    text: str
    component: str | None = None


@dataclass(frozen=True)
class Episode:
    """Extra reporters on top of a service's background: linear between knots, zero outside them.

    `knots` are (epoch minute, extra reporters per minute). With `on_off = (on, off)` the extra traffic is
    present only during the first `on` minutes of every `on + off` from the onset (an intermittent
    failure).
    """

    service: str
    knots: tuple[tuple[int, float], ...]
    mix: Mix | None = None
    on_off: tuple[int, int] | None = None
    id: str = ""
    onset: int | None = None
    official: tuple[Official, ...] = ()

    def __post_init__(self) -> None:
        minutes = [m for m, _ in self.knots]
        if len(minutes) < 2 or minutes != sorted(minutes):
            raise ValueError("an episode needs at least two knots in time order")

    @classmethod
    def plateau(
        cls,
        service: str,
        start: int,
        minutes: int,
        per_min: float,
        mix: Mix | None = None,
        *,
        ramp: int = 0,
        on_off: tuple[int, int] | None = None,
        id: str = "",
    ) -> Episode:
        """Extra `per_min` from minute `start` (after a linear `ramp` of that many minutes) for `minutes`."""
        knots = (
            (start - 1, 0.0),
            (start + ramp, per_min),
            (start + minutes - 1, per_min),
            (start + minutes, 0.0),
        )
        return cls(service, knots, mix, on_off, id, start)

    @property
    def start(self) -> int:
        return self.knots[0][0]

    @property
    def end(self) -> int:
        return self.knots[-1][0]

    @property
    def onset_minute(self) -> int:
        return self.start if self.onset is None else self.onset

    def extra(self, minutes: NDArray[np.integer]) -> NDArray[np.float64]:
        minutes = np.asarray(minutes)
        at, value = zip(*self.knots, strict=True)
        out: NDArray[np.float64] = np.interp(minutes, at, value, left=0.0, right=0.0)
        if self.on_off is not None:
            on, off = self.on_off
            out = np.where((minutes - self.onset_minute) % (on + off) < on, out, 0.0)
        return out


@dataclass(frozen=True)
class Flood:
    """`clients` reporters each sending a report every `every_seconds` during [start, end) (epoch minutes)."""

    service: str
    clients: int
    start: int
    end: int
    every_seconds: int = 10
    component: str = ""
    region: str = ""
    symptom: str = ""

    def reports(self) -> Iterator[Report]:
        """The raw flood, in time order: the intake would see all of these."""
        offsets = [(7 * i) % self.every_seconds for i in range(self.clients)]
        first, last = self.start * 60, self.end * 60
        times = sorted(
            (first + offset + k * self.every_seconds, i)
            for i, offset in enumerate(offsets)
            for k in range((last - first - offset + self.every_seconds - 1) // self.every_seconds)
        )
        for seconds, i in times:
            yield _report(seconds, self.service, self.component, self.region, self.symptom, f"flood-{i}")


@dataclass(frozen=True)
class Scenario:
    """[start, start + minutes) in epoch minutes; services, their episodes and floods; one seed."""

    start: int
    minutes: int
    services: tuple[ServiceSpec, ...]
    episodes: tuple[Episode, ...] = ()
    floods: tuple[Flood, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        names = [s.service for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError("service names must be unique")
        unknown = ({e.service for e in self.episodes} | {f.service for f in self.floods}) - set(names)
        if unknown:
            raise ValueError(f"episodes or floods for unknown services: {sorted(unknown)}")

    @property
    def end(self) -> int:
        return self.start + self.minutes

    def service(self, name: str) -> ServiceSpec:
        return next(s for s in self.services if s.service == name)

    def keys(self) -> tuple[SeriesKey, ...]:
        """Every series the scenario can produce: per service its total, then each child value."""
        out: list[SeriesKey] = []
        for spec in self.services:
            out.append(SeriesKey.total(spec.service))
            mixes = [spec.mix] + [e.mix for e in self.episodes if e.service == spec.service and e.mix]
            floods = [f for f in self.floods if f.service == spec.service]
            for dimension in CHILD_DIMENSIONS:
                values: dict[str, None] = {}
                for mix in mixes:
                    values.update(dict.fromkeys(mix.of(dimension)))
                for flood in floods:
                    value = getattr(flood, dimension)
                    if value:
                        values[value] = None
                out.extend(SeriesKey(spec.service, dimension, v) for v in values)
        return tuple(out)


# --- per-minute counts (the fast path) -------------------------------------------------------------


@dataclass(frozen=True)
class MinuteCounts:
    """Distinct reporters per minute: counts[i, j] for keys[i] in epoch minute start + j."""

    start: int
    keys: tuple[SeriesKey, ...]
    counts: NDArray[np.int64]

    @property
    def minutes(self) -> int:
        return int(self.counts.shape[1])

    def series(self, key: SeriesKey) -> NDArray[np.int64]:
        row: NDArray[np.int64] = self.counts[self.keys.index(key)]
        return row


@dataclass(frozen=True)
class _Draw:
    """One source's reporters (background or an episode) for one service: totals and per-dimension split."""

    service: str
    totals: NDArray[np.int64]  # (minutes,)
    split: dict[Dimension, tuple[tuple[str, ...], NDArray[np.int64]]]  # dimension -> (values, (minutes, k))


def _draws(scenario: Scenario) -> list[_Draw]:
    """All random draws of a scenario, in a fixed order, so both views see the same reporters."""
    rng = np.random.default_rng(scenario.seed)
    minutes = np.arange(scenario.start, scenario.end)
    out: list[_Draw] = []
    for spec in scenario.services:
        sources = [(spec.rate(minutes), spec.mix)]
        for episode in scenario.episodes:
            if episode.service == spec.service:
                sources.append((episode.extra(minutes), episode.mix or spec.mix))
        for rate, mix in sources:
            totals = rng.poisson(rate).astype(np.int64)
            split: dict[Dimension, tuple[tuple[str, ...], NDArray[np.int64]]] = {}
            for dimension in CHILD_DIMENSIONS:
                shares = _normalised(mix.of(dimension))
                if shares:
                    values = tuple(shares)
                    split[dimension] = (values, rng.multinomial(totals, list(shares.values())))
            out.append(_Draw(spec.service, totals, split))
    return out


def minute_counts(scenario: Scenario) -> MinuteCounts:
    """Per-minute distinct reporters for every series of the scenario, floods deduplicated."""
    keys = scenario.keys()
    row = {k: i for i, k in enumerate(keys)}
    counts = np.zeros((len(keys), scenario.minutes), dtype=np.int64)
    for draw in _draws(scenario):
        counts[row[SeriesKey.total(draw.service)]] += draw.totals
        for dimension, (values, split) in draw.split.items():
            for j, value in enumerate(values):
                counts[row[SeriesKey(draw.service, dimension, value)]] += split[:, j]
    for flood in scenario.floods:
        # Floods are the one place where identities repeat, so they go through the real dedup rule.
        flooded = roll_up(dedup(flood.reports()), scenario.start, scenario.minutes, keys)
        counts += flooded.counts
    return MinuteCounts(scenario.start, keys, counts)


# --- the report stream ---------------------------------------------------------------------------


def _report(seconds: float, service: str, component: str, region: str, symptom: str, client: str) -> Report:
    report: Report = {"ts": _rfc3339(seconds), "service": service}
    for name, value in (("component", component), ("region", region), ("symptom", symptom)):
        if value:
            report[name] = value
    report["client"] = client
    return report


def report_stream(scenario: Scenario) -> Iterator[Report]:
    """Every report of the scenario in time order (DESIGN.md 3.1 dicts: ts, service, component, ...).

    Background and episode reporters are distinct clients; within a minute the component, region and
    symptom of each report are paired at random from that minute's split, so rolling the stream up gives
    exactly `minute_counts`.
    """
    draws = _draws(scenario)
    rng = np.random.default_rng([scenario.seed, 1])
    floods = [iter(f.reports()) for f in scenario.floods]
    pending = [next(f, None) for f in floods]
    serial = 0
    for j in range(scenario.minutes):
        minute_start = (scenario.start + j) * 60
        batch: list[tuple[float, int, Report]] = []
        for draw in draws:
            n = int(draw.totals[j])
            if n == 0:
                continue
            columns: dict[str, NDArray[np.str_] | list[str]] = {}
            for dimension in CHILD_DIMENSIONS:
                if dimension in draw.split:
                    values, split = draw.split[dimension]
                    columns[dimension] = rng.permutation(np.repeat(values, split[j]))
                else:
                    columns[dimension] = [""] * n
            seconds = np.sort(rng.integers(0, 60, size=n))
            for k in range(n):
                serial += 1
                report = _report(
                    minute_start + int(seconds[k]),
                    draw.service,
                    str(columns["component"][k]),
                    str(columns["region"][k]),
                    str(columns["symptom"][k]),
                    f"c{scenario.seed}-{serial:09d}",
                )
                batch.append((minute_start + int(seconds[k]), serial, report))
        for f, flooded in enumerate(pending):
            while flooded is not None and _seconds(flooded["ts"]) < minute_start + 60:
                if _seconds(flooded["ts"]) >= minute_start:
                    batch.append((_seconds(flooded["ts"]), -f - 1, flooded))
                flooded = next(floods[f], None)
            pending[f] = flooded
        batch.sort(key=lambda item: (item[0], item[1]))
        for _, _, report in batch:
            yield report


def dedup(reports: Iterable[Report], window: timedelta = DEDUP_WINDOW) -> Iterator[Report]:
    """The counted reports, by the counting rule live intake and replay share (intake/counting.py).

    Input must be in time order; reports without a client have no identity and always count.
    """
    span = window.total_seconds()
    last: dict[tuple[str, str], float] = {}
    previous = -np.inf
    for report in reports:
        ts = _seconds(report["ts"])
        if ts < previous:
            raise ValueError("dedup needs reports in time order")
        previous = ts
        client = report.get("client")
        if client is None:
            yield report
            continue
        if not judge(last, (report["service"], client), ts, span):
            continue
        if len(last) > 100_000:
            last = {k: v for k, v in last.items() if ts - v < span}
        yield report


def roll_up(
    reports: Iterable[Report], start: int, minutes: int, keys: Iterable[SeriesKey] = ()
) -> MinuteCounts:
    """Per-minute counts of (already deduplicated) reports over [start, start + minutes).

    Each report counts once in its service's total and once in each child it names (absent fields count
    only in the total, as in the intake's minute buckets). Series listed in `keys` come first, in order.
    """
    row: dict[SeriesKey, int] = {k: i for i, k in enumerate(keys)}
    cells: dict[tuple[int, int], int] = {}
    for report in reports:
        j = int(_seconds(report["ts"]) // 60) - start
        if not 0 <= j < minutes:
            continue
        service = report["service"]
        targets = [SeriesKey.total(service)]
        targets += [SeriesKey(service, d, report[d]) for d in CHILD_DIMENSIONS if report.get(d)]
        for key in targets:
            i = row.setdefault(key, len(row))
            cells[i, j] = cells.get((i, j), 0) + 1
    counts = np.zeros((len(row), minutes), dtype=np.int64)
    for (i, j), n in cells.items():
        counts[i, j] = n
    return MinuteCounts(start, tuple(row), counts)


# --- scenario files ---------------------------------------------------------------------------------


def scenario_from_toml(
    text: str,
    *,
    history_days: int = 14,
    after_hours: int = 6,
    seed: int = 0,
    peak_hour_utc: float = 20.0,
) -> Scenario:
    """A scenario file (format of scenarios/chatgpt-2026-02.toml) as one continuous Scenario.

    `history_days` of background (starting at UTC midnight) precede the first episode, and background
    runs on between and `after_hours` after the episodes. Curve values are the tracker's reports per 15
    minutes; their excess over `baseline.reports_per_15min` is added to the background's daily rhythm.
    The file gives no normal mix, so background reports are spread like the average of the episodes.
    The daily peak defaults to 20:00 UTC (afternoon in the Americas, evening in Europe).
    """
    data = tomllib.loads(text)
    service = data["service"]
    usual_15 = float(data["baseline"]["reports_per_15min"])
    episodes: list[Episode] = []
    for raw in data.get("episode", []):
        knots = tuple((to_minute(at), max(float(v) - usual_15, 0.0) / 15.0) for at, v in raw["curve"])
        official = tuple(
            Official(
                at=datetime.fromisoformat(o["at"]).astimezone(UTC),
                status=o["status"],
                text=o.get("text", ""),
                component=o.get("component"),
            )
            for o in raw.get("official", [])
        )
        mix = Mix(raw.get("components", {}), raw.get("regions", {}), raw.get("symptoms", {}))
        onset = to_minute(raw["onset"]) if "onset" in raw else None
        episodes.append(Episode(service, knots, mix, None, raw.get("id", ""), onset, official))
    if not episodes:
        raise ValueError("the scenario has no [[episode]]")
    first = min(e.start for e in episodes)
    start = (first // 1440 - history_days) * 1440
    end = max(e.end for e in episodes) + after_hours * 60
    spec = ServiceSpec(
        service=service,
        per_min=usual_15 / 15.0,
        mix=Mix.mean(e.mix for e in episodes if e.mix is not None),
        peak_to_trough=float(data["baseline"].get("daily_peak_to_trough", 1.0)),
        peak_hour_utc=peak_hour_utc,
    )
    return Scenario(start, end - start, (spec,), tuple(episodes), seed=seed)
