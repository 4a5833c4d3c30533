"""The streaming univariate scorer: range, determinism, causality, data quirks, spikes fire once."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from downradar.scoring.csv_io import parse_timestamp, read_series_csv, score_series_csv, write_scores_csv
from downradar.scoring.univariate import ScorerConfig, UnivariateScorer, fire_score, score_rows

NAB = Path(__file__).resolve().parents[2] / "shared" / "nab"
T0 = datetime(2015, 3, 1)
STEP = timedelta(minutes=5)
FIRE = fire_score()


def _seasonal(n: int, seed: int = 1, noise: float = 3.0) -> np.ndarray:
    """A 5-minute series with a daily cycle and Gaussian noise."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    return 50 + 20 * np.sin(2 * np.pi * i / 288) + rng.normal(0, noise, n)


def _rows(values: np.ndarray, times: list[datetime] | None = None) -> list[tuple[datetime, float]]:
    times = times or [T0 + k * STEP for k in range(len(values))]
    return list(zip(times, (float(v) for v in values), strict=True))


def _scores(rows: list[tuple[datetime, float]]) -> np.ndarray:
    return np.fromiter(score_rows(rows), dtype=float, count=len(rows))


@pytest.fixture(scope="module")
def spike_case() -> tuple[np.ndarray, np.ndarray]:
    values = _seasonal(3000)
    values[2500] += 60  # 20 sigma
    return values, _scores(_rows(values))


def test_scores_are_in_unit_interval_and_finite(spike_case: tuple[np.ndarray, np.ndarray]) -> None:
    _, scores = spike_case
    assert np.all(np.isfinite(scores))
    assert scores.min() >= 0.0 and scores.max() <= 1.0


def test_clear_spike_scores_high_and_fires_once(spike_case: tuple[np.ndarray, np.ndarray]) -> None:
    _, scores = spike_case
    assert scores[2500] > 0.6
    flagged = np.flatnonzero(scores >= FIRE)
    assert flagged.tolist() == [2500]  # the noise never fires, the spike fires exactly once
    # The rows after the alarm are held down for the refractory period (12 h = 144 rows here).
    assert scores[2501 : 2500 + 144].max() < 0.1


def test_determinism(spike_case: tuple[np.ndarray, np.ndarray]) -> None:
    values, scores = spike_case
    again = _scores(_rows(values))
    assert np.array_equal(scores, again)


def test_update_loop_equals_score_rows(spike_case: tuple[np.ndarray, np.ndarray]) -> None:
    values, scores = spike_case
    scorer = UnivariateScorer()
    one_by_one = [scorer.update(t, v) for t, v in _rows(values[:1200])]
    assert np.array_equal(np.array(one_by_one), scores[:1200])


def test_no_look_ahead() -> None:
    base = _seasonal(1600, seed=3)
    a, b = base.copy(), base.copy()
    rng = np.random.default_rng(9)
    b[1000:] = rng.normal(500, 200, 600)  # the future of b is wildly different
    b[1000:1010] = 1e6
    sa, sb = _scores(_rows(a)), _scores(_rows(b))
    assert np.array_equal(sa[:1000], sb[:1000])
    assert not np.array_equal(sa[1000:], sb[1000:])


def test_repeated_and_backward_timestamps_are_survived() -> None:
    values = _seasonal(2000, seed=4)
    values[1700] += 80
    times = [T0 + k * STEP for k in range(2000)]
    for k in range(10, 2000, 50):
        times[k] = times[k - 1]  # repeated timestamps
    times[1200:1300] = times[1200:1300][::-1]  # a stretch that goes backwards in time
    times[1400] = times[1400] - timedelta(days=3)  # and one wild jump into the past
    scores = _scores(_rows(values, times))
    assert np.all(np.isfinite(scores)) and scores.min() >= 0.0 and scores.max() <= 1.0
    assert scores[1700] >= FIRE


def test_constant_series_scores_zero_then_a_step_is_an_anomaly() -> None:
    flat = np.full(2000, 45.0)
    assert _scores(_rows(flat)).max() == 0.0
    stepped = flat.copy()
    stepped[1500:] = 50.0
    scores = _scores(_rows(stepped))
    assert scores[:1500].max() == 0.0
    assert scores[1500] > 0.9
    assert np.count_nonzero(scores >= FIRE) == 1


def test_missing_values_score_zero_and_do_not_break_the_model() -> None:
    values = _seasonal(1000, seed=5)
    values[[300, 301, 650]] = math.nan
    values[900] += 70
    scores = _scores(_rows(values))
    assert scores[[300, 301, 650]].tolist() == [0.0, 0.0, 0.0]
    assert np.all(np.isfinite(scores))
    assert scores[900] >= FIRE


def test_warmup_rows_only_learn() -> None:
    values = _seasonal(400, seed=6)
    values[100] += 500
    scores = _scores(_rows(values))
    assert scores[: ScorerConfig().warmup_rows].max() == 0.0


def test_much_bigger_event_breaks_through_the_refractory_period() -> None:
    values = _seasonal(2600, seed=7)
    values[2300] += 40  # fires
    values[2330] += 4000  # far bigger, 2.5 hours later: reported despite the quiet period
    scores = _scores(_rows(values))
    assert scores[2300] >= FIRE
    assert scores[2330] >= FIRE
    assert scores[2301:2330].max() < 0.1


def test_unknown_channel_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        UnivariateScorer(ScorerConfig(channels=("resid", "nope")))


def test_series_csv_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("timestamp,value\n2015-03-01 00:00:00,1.5\n2015-03-01 00:05:00,\n2015-03-01 00:10:00,3\n")
    rows = read_series_csv(src)
    assert [r[0] for r in rows] == [T0, T0 + STEP, T0 + 2 * STEP]
    assert rows[0][1] == 1.5 and math.isnan(rows[1][1]) and rows[2][1] == 3.0
    out = tmp_path / "out.csv"
    write_scores_csv(out, rows, [0.0, 0.0, 0.25])
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score"
    assert lines[3] == "2015-03-01 00:10:00,3.0,0.250000"


nab_missing = pytest.mark.skipif(
    not (NAB / "data").is_dir(), reason="NAB data (../shared/nab) not present; NAB checks skipped"
)


@nab_missing
def test_nab_flatline_never_fires() -> None:
    rows = read_series_csv(NAB / "data" / "artificialNoAnomaly" / "art_flatline.csv")
    assert _scores(rows).max() == 0.0


@nab_missing
def test_nab_jumpsup_alarm_lands_in_the_labelled_window() -> None:
    name = "artificialWithAnomaly/art_daily_jumpsup.csv"
    rows = read_series_csv(NAB / "data" / name)
    (start, end), *_ = json.loads((NAB / "labels" / "windows.json").read_text())[name]
    times = [r[0] for r in rows]
    lo, hi = times.index(datetime.fromisoformat(start)), times.index(datetime.fromisoformat(end))
    scores = _scores(rows)
    probation = min(int(0.15 * len(rows)), 750)
    flagged = np.flatnonzero(scores[probation:] >= FIRE) + probation
    assert flagged.size >= 1
    assert lo <= flagged[0] <= hi


def test_score_series_csv_writes_one_score_per_row(tmp_path: Path) -> None:
    values = _seasonal(1200, seed=8)
    values[1000] += 90
    src = tmp_path / "series.csv"
    stamps = [(T0 + k * STEP).isoformat(sep=" ") for k in range(len(values))]
    lines = ["timestamp,value"] + [f"{t},{float(v)!r}" for t, v in zip(stamps, values, strict=True)]
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "scores.csv"
    n, alarms = score_series_csv(src, out, ScorerConfig())
    assert (n, alarms) == (1200, 1)
    written = out.read_text().splitlines()
    assert len(written) == 1201
    assert float(written[1001].split(",")[2]) >= fire_score()


def test_unix_second_timestamps_are_utc() -> None:
    assert parse_timestamp("1425168000") == datetime(2015, 3, 1, tzinfo=UTC)
