"""The detector's parts: tail statistics, hysteresis, learning, time handling, localisation, scenarios."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats as scipy_stats

from downradar.detect import (
    Detector,
    DetectorConfig,
    Finding,
    IndexedCounts,
    SeriesKey,
    TickResult,
    epoch_minute,
    stats,
)
from downradar.detect.baseline import slot_of
from downradar.detect.hysteresis import IncidentStates
from downradar.detect.localise import rank
from downradar.detection.scenario import (
    Episode,
    Flood,
    Mix,
    Scenario,
    ServiceSpec,
    dedup,
    minute_counts,
    report_stream,
    roll_up,
    to_minute,
)

START = to_minute("2026-03-02T00:00:00Z")  # a Monday
MIX = Mix({"login": 0.6, "feed": 0.4}, {"US": 0.7, "DE": 0.3}, {"error": 1.0})

# --- tails ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mu", [0.02, 0.5, 3.0, 40.0])
@pytest.mark.parametrize("x", [1, 2, 5, 12, 60])
def test_poisson_tail_matches_scipy(mu: float, x: int) -> None:
    expected = scipy_stats.poisson.sf(x - 1, mu)  # P(X >= x)
    assert stats.surprise(x, mu, np.inf) == pytest.approx(-np.log10(expected), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("r", [0.4, 2.0, 30.0, 1e5])
@pytest.mark.parametrize("mu", [0.05, 1.0, 25.0])
def test_negative_binomial_tail_matches_scipy(mu: float, r: float) -> None:
    x = np.array([1, 3, 10, 40])
    expected = scipy_stats.nbinom.sf(x - 1, r, r / (r + mu))
    np.testing.assert_allclose(stats.surprise(x, mu, r), -np.log10(expected), rtol=1e-8)


def test_far_tail_stays_finite_and_monotone() -> None:
    """Thousands of reports against a baseline of one: scipy's sf underflows to 0, the score must not."""
    x = np.array([100, 300, 1000, 24000])
    for r in (np.inf, 3.0):
        scores = stats.surprise(x, 1.3, r)
        assert np.all(np.isfinite(scores)) and np.all(np.diff(scores) > 0)
    # Against an exact log-sum of the pmf where scipy's logsf gives up.
    k = np.arange(300, 3000)
    exact = -scipy_special_logsumexp(scipy_stats.poisson.logpmf(k, 1.3)) / np.log(10)
    assert stats.surprise(300, 1.3, np.inf) == pytest.approx(exact, rel=1e-6)


def scipy_special_logsumexp(values: np.ndarray) -> float:
    top = values.max()
    return float(top + np.log(np.exp(values - top).sum()))


def test_no_count_and_counts_below_the_mean_are_unsurprising() -> None:
    np.testing.assert_array_equal(stats.surprise([0, 0], [1.0, 0.01], [np.inf, 2.0]), [0.0, 0.0])
    assert stats.surprise(3, 5.0, np.inf) < 0.2


@pytest.mark.parametrize(("sds", "ceiling"), [(2.0, 1.7), (3.0, 2.9)])
def test_scores_below_the_tail_cut_stay_below_the_acting_thresholds(sds: float, ceiling: float) -> None:
    """The detector skips tails under mean + k sd; nothing there may reach a threshold that acts."""
    mu, r = np.meshgrid(np.logspace(-4, 5, 500), [0.3, 1.0, 3.0, 10.0, 100.0, 1e4, np.inf])
    x = np.floor(mu + sds * np.sqrt(mu + np.where(np.isfinite(r), mu * mu / r, 0.0)))
    assert stats.surprise(x, mu, r).max() < ceiling


def test_band_is_a_central_interval() -> None:
    low, high = stats.band(20.0, np.inf, 0.99)
    assert (low, high) == (scipy_stats.poisson.ppf(0.005, 20), scipy_stats.poisson.ppf(0.995, 20))
    wide = stats.band(20.0, 2.0, 0.99)
    assert wide[1] > high


# --- hysteresis ---------------------------------------------------------------------------------------


def run_states(opens: list[float], scores: list[float], quiet: int = 3) -> list[str]:
    states = IncidentStates()
    states.grow(1)
    out = []
    for minute, (o, s) in enumerate(zip(opens, scores, strict=True)):
        tr = states.step(minute, np.array([o]), np.array([s]), np.array([True]), 8.0, 3.0, quiet)
        label = next((n for n in ("opened", "ongoing", "recovering", "closed") if getattr(tr, n)[0]), "-")
        out.append(label)
    return out


def test_hysteresis_opens_high_stays_on_moderate_closes_after_quiet_run() -> None:
    opens = [0, 9, 0, 0, 0, 0, 0, 0, 0, 0]
    scores = [0, 9, 5, 2, 4, 1, 1, 1, 0, 0]
    assert run_states(opens, scores) == [
        "-", "opened", "ongoing", "recovering", "ongoing", "recovering", "recovering", "closed", "-", "-",
    ]  # fmt: skip


def test_hysteresis_does_not_open_below_threshold_or_when_not_warm() -> None:
    assert run_states([7.9, 7.9], [7.9, 7.9]) == ["-", "-"]
    states = IncidentStates()
    states.grow(1)
    tr = states.step(0, np.array([20.0]), np.array([20.0]), np.array([False]), 8.0, 3.0, 3)
    assert not tr.any


# --- the detector on controlled input ---------------------------------------------------------------

HISTORY_DAYS = 2
SERVICES = (ServiceSpec("svc", 2.0, MIX, 3.0, 20), ServiceSpec("tiny", 0.02, MIX, 3.0, 20))


def feed(
    detector: Detector, scenario: Scenario, extra: dict[int, dict[SeriesKey, int]] | None = None
) -> list[TickResult]:
    """Feed a scenario minute by minute, adding `extra` reporters at given minute offsets."""
    counts = minute_counts(scenario)
    rows = detector.register(counts.keys)
    results = []
    for j in range(counts.minutes):
        column = counts.counts[:, j].copy()
        for key, n in (extra or {}).get(j, {}).items():
            column[counts.keys.index(key)] += n
        nonzero = np.flatnonzero(column)
        results.append(detector.observe(counts.start + j, IndexedCounts(rows[nonzero], column[nonzero])))
    return results


def findings(results: list[TickResult]) -> Iterator[Finding]:
    for result in results:
        yield from result.findings


@pytest.fixture(scope="module")
def history() -> tuple[Scenario, Detector]:
    """Two quiet days of a 2/min service and a 0.02/min one; tests work on copies."""
    scenario = Scenario(START, HISTORY_DAYS * 1440, SERVICES, seed=1)
    detector = Detector()
    assert not list(findings(feed(detector, scenario)))
    return scenario, detector


@pytest.fixture
def trained(history: tuple[Scenario, Detector]) -> Detector:
    return copy.deepcopy(history[1])


def after(hours: float, seed: int = 2, *episodes: Episode) -> Scenario:
    """The same services, continuing after the history."""
    return Scenario(START + HISTORY_DAYS * 1440, int(hours * 60), SERVICES, episodes, seed=seed)


def test_learning_pauses_during_an_anomaly(trained: Detector) -> None:
    """Six hours at 4x: the baseline does not move while it lasts, and ends where the truth is."""
    total, us = SeriesKey.total("svc"), SeriesKey("svc", "region", "US")
    probe = START + (HISTORY_DAYS + 1) * 1440
    surge = {j: {total: 15, us: 15} for j in range(60, 420)}
    results = feed(trained, after(1, 2), surge)
    before = {key: trained.baseline(key, probe, 60) for key in (total, us)}
    results += feed(trained, Scenario(START + HISTORY_DAYS * 1440 + 60, 360, SERVICES, seed=3), {
        j: {total: 15, us: 15} for j in range(360)
    })  # fmt: skip
    assert next(f.state for f in findings(results)) == "opened"
    assert all(f.state in ("opened", "ongoing") for f in findings(results))
    for key in (total, us):
        assert trained.baseline(key, probe, 60) == before[key]
    true_rate = SERVICES[0].rate(np.arange(probe, probe + 60)).sum()
    assert before[total].expected == pytest.approx(true_rate, rel=0.15)


def test_sparse_feed_equals_dense_feed_with_zero_minutes() -> None:
    scenario = Scenario(START, 1440, (ServiceSpec("svc", 0.3, MIX),), seed=3)
    dense, sparse = Detector(), Detector()
    counts = minute_counts(scenario)
    dense_results, sparse_results = [], []
    for j in range(counts.minutes):
        observed = {k: int(n) for k, n in zip(counts.keys, counts.counts[:, j], strict=True) if n}
        dense_results.append(dense.observe(counts.start + j, observed))
        if observed:
            sparse_results.append(sparse.observe(counts.start + j, observed))
    probe = START + 1440
    for key in (SeriesKey.total("svc"), SeriesKey("svc", "region", "DE")):
        assert sparse.baseline(key, probe, 60) == dense.baseline(key, probe, 60)
    assert list(findings(sparse_results)) == list(findings(dense_results))


def test_closing_during_a_gap_is_reported(trained: Detector) -> None:
    t = START + HISTORY_DAYS * 1440
    result = trained.observe(t, {SeriesKey.total("svc"): 80})
    assert [f.state for f in result.findings] == ["opened"]
    later = trained.observe(t + 120, {SeriesKey.total("svc"): 2})
    assert [(f.state, f.service) for f in later.findings] == [("closed", "svc")]
    assert later.findings[0].minute < later.minute


def test_deterministic_and_mapping_equals_indexed_counts() -> None:
    outage = Episode.plateau("svc", START + 540, 30, 20.0, Mix({"login": 1}, {"DE": 1}, {"error": 1}))
    scenario = Scenario(START, 720, SERVICES, (outage,), seed=5)
    one, two = feed(Detector(), scenario), feed(Detector(), scenario)
    counts = minute_counts(scenario)
    third = Detector()
    three = [
        third.observe(
            counts.start + j, {k: int(n) for k, n in zip(counts.keys, counts.counts[:, j], strict=True)}
        )
        for j in range(counts.minutes)
    ]
    assert one == two == three
    opened = [f for f in findings(one) if f.state == "opened"]
    assert [(f.service, f.regions[0].value, f.components[0].value) for f in opened] == [
        ("svc", "DE", "login")
    ]


def test_minutes_must_increase_and_be_aware() -> None:
    detector = Detector()
    detector.observe(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), {SeriesKey.total("svc"): 1})
    with pytest.raises(ValueError, match="not after"):
        detector.observe(datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC), {})
    with pytest.raises(ValueError, match="timezone-aware"):
        detector.observe(datetime(2026, 3, 2, 12, 5), {})
    with pytest.raises(ValueError, match="non-negative"):
        detector.observe(datetime(2026, 3, 2, 12, 6, tzinfo=UTC), {SeriesKey.total("svc"): -1})
    with pytest.raises(ValueError, match="need a value"):
        detector.register([SeriesKey("svc", "region", "")])
    with pytest.raises(KeyError):
        detector.baseline("unknown", START)
    assert epoch_minute(datetime(1970, 1, 1, 0, 2, 59, tzinfo=UTC)) == 2


def test_warm_up_suppresses_opening_of_a_new_service() -> None:
    detector = Detector(DetectorConfig(warmup_minutes=60))
    key = SeriesKey.total("new")
    states = [detector.observe(START + m, {key: 500 if m == 30 else 1}).findings for m in range(61)]
    assert not any(states)
    assert detector.observe(START + 61, {key: 500}).findings[0].state == "opened"


def test_a_child_never_seen_before_is_measured_against_its_known_zeros(trained: Detector) -> None:
    """A region that never reported in two days suddenly sends 12 people in a minute: that is news."""
    t = START + HISTORY_DAYS * 1440
    result = trained.observe(t, {SeriesKey.total("svc"): 14, SeriesKey("svc", "region", "NZ"): 12})
    (finding,) = result.findings
    assert finding.state == "opened" and finding.trigger == SeriesKey("svc", "region", "NZ")
    assert finding.regions[0].value == "NZ"


def test_a_lasting_change_of_normal_is_learned_after_the_relearn_period(
    history: tuple[Scenario, Detector],
) -> None:
    detector = copy.deepcopy(history[1])
    detector.config = DetectorConfig(relearn_after_minutes=120)
    tripled = Scenario(START + HISTORY_DAYS * 1440, 600, (ServiceSpec("svc", 6.0, MIX, 3.0, 20),), seed=9)
    results = feed(detector, tripled)
    states = [f.state for f in findings(results) if f.service == "svc"]
    assert states[0] == "opened" and states.count("closed") == 1
    assert results[-1].finding("svc") is None


def test_flood_allowance_discounts_reporters_that_were_already_there(trained: Detector) -> None:
    """Five flooders counted every 15 minutes plus three people: not an outage on a tiny service.

    The same eight people arriving fresh, with nobody around before, are.
    """
    total = SeriesKey.total("tiny")
    t = START + HISTORY_DAYS * 1440
    fresh = copy.deepcopy(trained)
    people = {32: 1, 38: 1, 44: 1}
    flooded = []
    for m in range(60):
        n = (5 if m % 15 == 0 else 0) + people.get(m, 0)
        flooded += trained.observe(t + m, {total: n} if n else {}).opened()
    assert flooded == []
    late = [
        fresh.observe(t + m, {total: people.get(m, 0) + (5 if m == 45 else 0)}).opened() for m in range(60)
    ]
    assert [m for m, opened in enumerate(late) if opened] == [45]


def test_slot_of_week() -> None:
    assert slot_of(START) == 0  # Monday 00:00 UTC
    assert slot_of(START + 7 * 1440 - 1) == 167
    assert slot_of(to_minute("2026-03-04T13:30:00Z")) == 2 * 24 + 13


def test_memory_per_series_stays_small() -> None:
    """Arrays only (the registry dict adds ~150 B per key): well under the 1 KB budget."""
    detector = Detector()
    keys = [SeriesKey.total(f"s{i}") for i in range(200)]
    keys += [SeriesKey(f"s{i}", "region", f"R{j}") for i in range(200) for j in range(19)]
    detector.register(keys)
    detector.observe(START, {})
    assert detector.nbytes / detector.series_count < 400


# --- localisation ---------------------------------------------------------------------------------


def test_rank_orders_by_excess_not_by_volume() -> None:
    shares = rank(["US", "NZ", "DE"], np.array([500, 80, 100]), np.array([495.0, 2.0, 99.0]), np.zeros(3), 3)
    assert [s.value for s in shares] == ["NZ", "US", "DE"]
    assert sum(s.share for s in shares) == pytest.approx(1.0)
    assert shares[1].reports_share == pytest.approx(500 / 680)
    assert shares[0].label == "NZ 93 %"


# --- scenarios -----------------------------------------------------------------------------------


def report(ts: datetime, client: str = "c1", service: str = "svc") -> dict[str, object]:
    return {"ts": ts.isoformat(), "service": service, "client": client}


def test_dedup_counts_one_report_per_client_per_15_minutes() -> None:
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    reports = [
        report(t0),
        report(t0 + timedelta(minutes=14, seconds=59)),  # duplicate of the first
        report(t0, client="c2"),
        report(t0 + timedelta(minutes=15)),  # 15 minutes after the last counted one: counts again
        report(t0 + timedelta(minutes=16), service="other"),  # dedup is per service
        {"ts": (t0 + timedelta(minutes=16)).isoformat(), "service": "svc"},  # no client: always counts
    ]
    counted = list(dedup(sorted(reports, key=lambda r: str(r["ts"]))))
    assert [r["ts"][11:19] for r in counted] == ["12:00:00", "12:00:00", "12:15:00", "12:16:00", "12:16:00"]
    with pytest.raises(ValueError, match="time order"):
        list(dedup([report(t0 + timedelta(minutes=1)), report(t0)]))


def test_report_stream_rolls_up_to_minute_counts() -> None:
    scenario = Scenario(
        START,
        180,
        (ServiceSpec("svc", 2.0, MIX), ServiceSpec("quiet", 0.1)),
        (Episode.plateau("svc", START + 60, 20, 30.0, Mix({"feed": 1}, {"DE": 1}, {"error": 1})),),
        (Flood("svc", 5, START + 100, START + 160, 10, "login", "US", "error"),),
        seed=11,
    )
    stream = list(report_stream(scenario))
    assert [r["ts"] for r in stream] == sorted(r["ts"] for r in stream)
    assert {"ts", "service", "client"} <= stream[0].keys()
    rolled = roll_up(dedup(stream), scenario.start, scenario.minutes, scenario.keys())
    direct = minute_counts(scenario)
    assert rolled.keys == direct.keys
    np.testing.assert_array_equal(rolled.counts, direct.counts)
    assert len(stream) > rolled.counts[0].sum() + rolled.counts[len(scenario.keys()) - 1].sum()  # floods


def test_episode_curve_and_intermittence() -> None:
    e = Episode.plateau("svc", 100, 20, 6.0, on_off=(3, 4))
    minutes = np.arange(95, 125)
    extra = e.extra(minutes)
    assert extra[minutes < 100].sum() == 0 and extra[minutes >= 120].sum() == 0
    assert list(extra[5:12]) == [6.0, 6.0, 6.0, 0.0, 0.0, 0.0, 0.0]


def test_daily_rhythm_has_the_requested_peak_to_trough() -> None:
    spec = ServiceSpec("svc", 1.0, MIX, 3.0, 20)
    day = spec.rate(np.arange(START, START + 1440))
    assert day.max() / day.min() == pytest.approx(3.0, rel=1e-3)
    assert day.mean() == pytest.approx(1.0)
    assert np.argmax(day) == 20 * 60
