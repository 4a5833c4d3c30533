"""The detector against whole scenarios: the ChatGPT outages of February 2026 and the issue's own cases.

Counts are fed as per-minute distinct reporters (what the intake's dedup and roll-up store), straight
from downradar.detection.scenario's fast path; floods go through the real 15-minute dedup rule first.
Run with -s to see the table of detection delays and localisations.

All synthetic services live in one 15-day scenario (the detector treats services independently, so this
is the same as separate runs, and one run keeps the file fast): four quiet services spanning 0.02 to 20
reports a minute see nothing at all, the others each get one kind of trouble after 9 days of history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from downradar.detect import Detector, DetectorConfig, Finding, IndexedCounts, SeriesKey, stats
from downradar.detection.scenario import (
    Episode,
    Flood,
    MinuteCounts,
    Mix,
    Scenario,
    ServiceSpec,
    dedup,
    from_minute,
    minute_counts,
    roll_up,
    scenario_from_toml,
    to_minute,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "scenarios"
CHATGPT = SHARED / "chatgpt-2026-02.toml"


@dataclass(repr=False)
class Incident:
    service: str
    opened: int  # epoch minute of the bucket whose counts opened it
    findings: list[Finding] = field(default_factory=list)
    closed: int | None = None

    def at(self, minutes_after_opening: int) -> Finding:
        """The finding that many minutes after opening (or the last one, if it closed before)."""
        return self.findings[min(minutes_after_opening, len(self.findings) - 1)]


@dataclass(repr=False)
class Replay:
    detector: Detector
    counts: MinuteCounts
    incidents: dict[str, list[Incident]]

    def of(self, service: str) -> list[Incident]:
        return self.incidents.get(service, [])


def replay(counts: MinuteCounts, config: DetectorConfig | None = None) -> Replay:
    detector = Detector(config)
    rows = detector.register(counts.keys)
    incidents: dict[str, list[Incident]] = {}
    for j in range(counts.minutes):
        column = counts.counts[:, j]
        nonzero = np.flatnonzero(column)
        result = detector.observe(counts.start + j, IndexedCounts(rows[nonzero], column[nonzero]))
        for finding in result.findings:
            minute = int(finding.minute.timestamp()) // 60
            if finding.state == "opened":
                incidents.setdefault(finding.service, []).append(Incident(finding.service, minute))
            incident = incidents[finding.service][-1]
            incident.findings.append(finding)
            if finding.state == "closed":
                incident.closed = minute
    return Replay(detector, counts, incidents)


def hhmm(minute: int) -> str:
    return from_minute(minute).strftime("%Y-%m-%d %H:%M UTC")


# --- the seed scenario: ChatGPT, 3 and 4 February 2026 -------------------------------------------------


@pytest.fixture(scope="module")
def chatgpt() -> tuple[Scenario, Replay]:
    if not CHATGPT.exists():
        pytest.skip("../shared/scenarios not present")
    scenario = scenario_from_toml(CHATGPT.read_text(), seed=2026)
    return scenario, replay(minute_counts(scenario))


def test_chatgpt_history_is_a_fortnight_before_each_episode(chatgpt: tuple[Scenario, Replay]) -> None:
    scenario, _ = chatgpt
    for episode in scenario.episodes:
        assert episode.start - scenario.start >= 14 * 1440


def test_chatgpt_both_episodes_open_within_two_minutes_and_nothing_else(
    chatgpt: tuple[Scenario, Replay],
) -> None:
    scenario, run = chatgpt
    incidents = run.of("chatgpt")
    assert len(incidents) == len(scenario.episodes), [hhmm(i.opened) for i in incidents]
    print()
    for episode, incident in zip(scenario.episodes, incidents, strict=True):
        onset = episode.onset_minute
        first_ack = episode.official[0]
        print(
            f"ChatGPT {episode.id}: onset {hhmm(onset)}; Downradar opened in minute {hhmm(incident.opened)}"
            f" ({incident.opened - onset:+d} min, counts complete a minute later); provider's first update"
            f" {first_ack.at:%H:%M} UTC ({(to_minute(first_ack.at) - onset):+d} min, {first_ack.status})"
        )
        # The curve starts rising at its first knot, which may precede the onset quoted in the press.
        assert episode.start <= incident.opened <= onset + 2
        assert incident.opened < to_minute(first_ack.at)
        assert incident.closed is not None and incident.closed <= episode.end + 40


def test_chatgpt_localised_to_the_largest_component_and_region(chatgpt: tuple[Scenario, Replay]) -> None:
    scenario, run = chatgpt
    for episode, incident in zip(scenario.episodes, run.of("chatgpt"), strict=True):
        assert episode.mix is not None
        component = max(episode.mix.components, key=episode.mix.components.__getitem__)
        region = max(episode.mix.regions, key=episode.mix.regions.__getitem__)
        for finding in (incident.at(10), incident.findings[-1]):
            print(f"ChatGPT {episode.id} at {finding.minute:%H:%M} ({finding.state}): {finding.summary}")
            assert finding.components[0].value == component
            assert finding.regions[0].value == region
        closing = incident.findings[-1]
        # Over the whole incident the shares come back out as the scenario put them in.
        assert closing.components[0].share == pytest.approx(episode.mix.components[component], abs=0.03)
        assert closing.regions[0].share == pytest.approx(episode.mix.regions[region], abs=0.03)
        assert any(f.impact == "critical" for f in incident.findings)


# --- the scenarios, in one 15-day run --------------------------------------------------------

START = to_minute("2026-03-02T00:00:00Z")  # a Monday
DAYS = 15


def at(day: int, hour: int, minute: int = 0) -> int:
    return START + day * 1440 + hour * 60 + minute


WEB = Mix(
    {"login": 0.35, "feed": 0.30, "search": 0.20, "payments": 0.13, "uploads": 0.02},
    {"US": 0.50, "GB": 0.20, "DE": 0.15, "FR": 0.13, "NZ": 0.02},
    {"error": 0.50, "slow": 0.30, "cannot-load": 0.20},
)
QUIET = ("quiet-tiny", "quiet-small", "quiet-mid", "quiet-big")
SERVICES = (
    ServiceSpec("quiet-tiny", 0.02, WEB, 3.0, 20),
    ServiceSpec("quiet-small", 0.2, WEB, 2.0, 14),
    ServiceSpec("quiet-mid", 2.0, WEB, 3.0, 9),
    ServiceSpec("quiet-big", 20.0, WEB, 4.0, 20),
    ServiceSpec("flood-tiny", 0.02, WEB),
    ServiceSpec("flood-mid", 1.0, WEB),
    ServiceSpec("regional", 20.0, WEB),
    ServiceSpec("component", 5.0, WEB),
    ServiceSpec("degrading", 5.0, WEB),
    ServiceSpec("multi-a", 0.5, WEB),
    ServiceSpec("multi-b", 3.0, WEB),
    ServiceSpec("multi-c", 12.0, WEB),
    ServiceSpec("flaky", 2.0, WEB),
    *(ServiceSpec(f"nightly-{i}", 0.05, WEB, 3.0, 20) for i in range(6)),
)
NZ_ONLY = Mix({"login": 1.0}, {"NZ": 1.0}, {"error": 1.0})
UPLOADS_ONLY = Mix({"uploads": 1.0}, WEB.regions, {"error": 1.0})
EPISODES = (
    Episode.plateau("regional", at(9, 14), 45, 4.0, NZ_ONLY, id="one small region"),
    Episode.plateau("component", at(10, 11), 45, 4.0, UPLOADS_ONLY, id="one low-volume component"),
    Episode.plateau("degrading", at(11, 10), 300, 15.0, ramp=240, id="slow degradation"),
    Episode.plateau("multi-a", at(12, 16), 40, 4.0, id="together (0.5/min)"),
    Episode.plateau("multi-b", at(12, 16), 40, 24.0, id="together (3/min)"),
    Episode.plateau("multi-c", at(12, 16), 40, 96.0, id="together (12/min)"),
    Episode.plateau("flaky", at(13, 13), 90, 15.0, on_off=(3, 4), id="intermittent"),
    *(
        Episode.plateau(f"nightly-{i}", at(9 + i, 3 + i, 7 * i), 30, 2.0, id=f"night, tiny service {i}")
        for i in range(6)
    ),
)
FLOODS = (
    Flood("flood-tiny", 5, at(10, 6), at(10, 18), 10, "login", "US", "error"),
    Flood("flood-mid", 5, at(10, 6), at(10, 18), 10, "login", "US", "error"),
    Flood("quiet-tiny", 5, at(8, 0), at(8, 12), 10),
)
ZOO = Scenario(START, DAYS * 1440, SERVICES, EPISODES, FLOODS, seed=7)


@pytest.fixture(scope="module")
def zoo() -> Replay:
    return replay(minute_counts(ZOO))


def episode(service: str) -> Episode:
    return next(e for e in EPISODES if e.service == service)


def only_incident(run: Replay, service: str) -> Incident:
    incidents = run.of(service)
    assert len(incidents) == 1, f"{service}: {[hhmm(i.opened) for i in incidents]}"
    return incidents[0]


def oracle_opening(run: Replay, e: Episode) -> int:
    """First minute an oracle would open on the same counts of the service total, knowing its true rate.

    Same rules as the detector (min_clients in 15 minutes, ratio, score on 1/5/15-minute windows) with a
    Poisson baseline that has no estimation error: the best any detector can do with these counts.
    """
    config = DetectorConfig()
    spec = next(s for s in SERVICES if s.service == e.service)
    counts = run.counts.series(SeriesKey.total(e.service))
    for minute in range(e.onset_minute - 15, e.end):
        j = minute - run.counts.start
        if counts[j - config.windows[-1] + 1 : j + 1].sum() < config.min_clients:
            continue
        for w in config.windows:
            seen = int(counts[j - w + 1 : j + 1].sum())
            usual = float(spec.rate(np.arange(minute - w + 1, minute + 1)).sum())
            if seen >= config.min_ratio * usual and stats.surprise(seen, usual, np.inf) >= config.open_score:
                return minute
    raise AssertionError(f"{e.id}: an oracle never opens")


def test_every_incident_is_an_outage_and_every_outage_one_incident(zoo: Replay) -> None:
    print()
    delays: list[int] = []
    for e in EPISODES:
        incident = only_incident(zoo, e.service)
        delay = incident.opened - e.onset_minute
        first, settled = incident.findings[0], incident.at(10)
        # Outages of a child are judged on their own; the others also against the oracle on the total.
        oracle = None if e.mix is not None else oracle_opening(zoo, e) - e.onset_minute
        versus = "" if oracle is None else f" (oracle {oracle:+d})"
        print(
            f"{e.id:26} {e.service:10} opened {delay:+d} min{versus},"
            f" by {first.trigger.label()} on {first.trigger_window} min, {first.impact};"
            f" +10 min: {settled.summary}"
        )
        if e.id == "slow degradation":  # no sharp onset: judged against when it became significant
            continue
        if oracle is not None:
            assert delay <= oracle + 2, e.id
        delays.append(delay)
        if not e.service.startswith("nightly"):  # bounded by the 8-client floor, see their own test
            assert 0 <= delay <= 5, e.id
    assert sum(d <= 2 for d in delays) >= len(delays) / 2, delays
    stray = {s: len(zoo.of(s)) for s in (*QUIET, "flood-tiny", "flood-mid") if zoo.of(s)}
    assert stray == {}


def test_quiet_fortnight_over_volumes_from_0_02_to_20_per_minute(zoo: Replay) -> None:
    for service in QUIET:
        assert zoo.of(service) == []
        spec = next(s for s in SERVICES if s.service == service)
        flooded = sum(
            int(roll_up(dedup(f.reports()), START, DAYS * 1440).counts[0].sum())
            for f in FLOODS
            if f.service == service
        )
        reporters = int(zoo.counts.series(SeriesKey.total(service)).sum()) - flooded
        assert reporters == pytest.approx(spec.per_min * DAYS * 1440, rel=0.15)


def test_baseline_learned_the_daily_rhythm(zoo: Replay) -> None:
    """Forecasts for the day after the run, hour by hour, against the true rate (busy services)."""
    for service in ("quiet-mid", "quiet-big", "regional", "multi-c"):
        spec = next(s for s in SERVICES if s.service == service)
        ratios = []
        for hour in range(24):
            begin = at(DAYS, hour)
            expected = zoo.detector.baseline(service, begin, 60)
            true = spec.rate(np.arange(begin, begin + 60)).sum()
            ratios.append(expected.expected / true)
            assert expected.low <= true <= expected.high
        assert np.mean(ratios) == pytest.approx(1.0, abs=0.05), service
        assert max(abs(r - 1.0) for r in ratios) < 0.2, (service, np.round(ratios, 2))


def test_flood_from_five_clients_opens_nothing(zoo: Replay) -> None:
    for flood in FLOODS:
        raw = list(flood.reports())
        counted = roll_up(dedup(raw), flood.start, flood.end - flood.start)
        per_15 = np.convolve(counted.series(SeriesKey.total(flood.service)), np.ones(15), "valid")
        assert len(raw) == 5 * 6 * (flood.end - flood.start)  # a report every 10 s from each client
        assert per_15.max() <= 5  # dedup leaves at most one per client per 15 minutes
        assert zoo.of(flood.service) == []


def test_outage_in_one_small_region_is_found_and_localised(zoo: Replay) -> None:
    incident = only_incident(zoo, "regional")
    assert incident.opened - episode("regional").onset_minute <= 5
    first = incident.findings[0]
    assert first.trigger == SeriesKey("regional", "region", "NZ")  # a child opened it for its service
    assert first.impact == "minor"
    for finding in (first, incident.at(10), incident.findings[-1]):
        assert finding.regions[0].value == "NZ"
    # ... while the service total barely moved.
    assert incident.at(10).reports_per_min < 1.35 * incident.at(10).baseline_per_min


def test_outage_of_one_low_volume_component_is_found_and_localised(zoo: Replay) -> None:
    incident = only_incident(zoo, "component")
    assert incident.opened - episode("component").onset_minute <= 5
    assert incident.findings[0].trigger == SeriesKey("component", "component", "uploads")
    for finding in (incident.findings[0], incident.at(10), incident.findings[-1]):
        assert finding.components[0].value == "uploads"
    assert incident.findings[-1].components[0].share > 0.7


def significant_from(e: Episode, spec: ServiceSpec, config: DetectorConfig) -> int:
    """First minute an oracle knowing the true background would open: Poisson, no estimation error."""
    window = config.windows[-1]
    for end in range(e.start, e.end):
        minutes = np.arange(end - window + 1, end + 1)
        usual = spec.rate(minutes).sum()
        seen = usual + e.extra(minutes).sum()
        if (
            seen >= config.min_ratio * usual
            and stats.surprise(round(seen), usual, np.inf) >= config.open_score
        ):
            return end
    raise AssertionError("never significant")


def test_slow_degradation_found_soon_after_it_becomes_significant_and_not_learned(zoo: Replay) -> None:
    e = episode("degrading")
    spec = next(s for s in SERVICES if s.service == "degrading")
    significant = significant_from(e, spec, DetectorConfig())
    incident = only_incident(zoo, "degrading")
    print(
        f"\nslow degradation: starts {hhmm(e.start)}, significant {hhmm(significant)},"
        f" opened {hhmm(incident.opened)} ({incident.opened - significant:+d} min)"
    )
    assert -15 <= incident.opened - significant <= 10
    # Still open at the worst point, with the baseline where it was: it did not learn the degradation.
    worst = next(f for f in incident.findings if int(f.minute.timestamp()) // 60 == e.end - 1)
    assert worst.state == "ongoing"
    true_usual = float(spec.rate(np.arange(e.end - 5, e.end)).mean())
    assert worst.baseline_per_min == pytest.approx(true_usual, rel=0.15)
    assert incident.closed is not None and incident.closed - e.end <= 30


def test_several_services_failing_together_each_open(zoo: Replay) -> None:
    for service in ("multi-a", "multi-b", "multi-c"):
        incident = only_incident(zoo, service)
        assert incident.opened - episode(service).onset_minute <= 3, service
    assert len({only_incident(zoo, s).opened for s in ("multi-b", "multi-c")}) == 1


def test_intermittent_failure_is_one_incident_that_ends(zoo: Replay) -> None:
    e = episode("flaky")
    incident = only_incident(zoo, "flaky")
    assert incident.opened - e.onset_minute <= 2
    states = [f.state for f in incident.findings]
    assert states.count("closed") == 1 and states[-1] == "closed"
    assert incident.closed is not None and 0 < incident.closed - e.end <= 30


def test_night_time_outages_on_tiny_services(zoo: Replay) -> None:
    """2 reporters a minute at night (~70x the usual) on services with 0.05 a minute on average.

    What bounds the delay here is the 8-client floor that keeps floods out: a Poisson stream of 2 a
    minute brings its 8th reporter within 5 minutes most of the time, not always. So each outage is
    held to the oracle on the same counts, and most to the 5 minutes.
    """
    print()
    delays = []
    for e in EPISODES:
        if not e.service.startswith("nightly"):
            continue
        incident = only_incident(zoo, e.service)
        usual = zoo.detector.baseline(e.service, e.start, 5)
        delay, oracle = incident.opened - e.onset_minute, oracle_opening(zoo, e) - e.onset_minute
        print(
            f"{e.id}: {hhmm(e.start)}, usual {usual.expected:.2f} in 5 min;"
            f" opened {delay:+d} min, oracle {oracle:+d} min"
        )
        assert usual.expected < 0.3  # a handful of reports a night: the daily rhythm
        assert delay <= oracle + 2
        assert incident.findings[0].impact == "critical"
        delays.append(delay)
    assert sum(d <= 5 for d in delays) >= len(delays) * 2 / 3, delays
