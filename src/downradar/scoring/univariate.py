"""Streaming anomaly scorer for one generic time series: ``(timestamp, value)`` rows in -> a score in [0, 1].

Pure and causal: no I/O, no wall clock, and the score of row *i* depends only on rows ``0..i`` (the
scorer never looks ahead, so feeding rows one by one and feeding a whole file give the same numbers).
CSV helpers live in :mod:`downradar.scoring.csv_io`.

The model, in four steps per row:

1. **Baseline.** The expected value is the median of the values at the same time of day on each of the
   previous ``season_lags`` days (nearest row to ``t - k * 1 day``; time is taken as non-decreasing, so
   repeated timestamps and a file that goes backwards in time are harmless). The *residual* is the value
   minus that baseline. While the first day is still being collected there is no residual; for sampling
   so dense that ``history_rows`` cannot hold a day, the median of the last ``local_rows`` values stands
   in for the seasonal one. On data without a daily cycle the seasonal median is just a robust average
   of a few past values, which still works as a baseline.
2. **Channels.** Seven derived series look at the row from different angles: the residual itself and the
   first difference of the value (point anomalies: spikes, dips, jumps), the median of the last 8, 16 and
   32 residuals (sustained level changes, blind to short bursts that a mean would follow), the mean of
   the last 64 residuals (slow drifts and a rising density of spikes) and the mean absolute residual over
   16 rows (a noisier, rougher or flatter series).
3. **Surprise per channel.** Each channel's value becomes a robust z-score against the channel's own
   past (median and MAD of its last ``stats_rows`` values), and ``|z|`` becomes a tail probability
   against the channel's own past ``|z|`` values (last ``calib_rows``): the empirical fraction of past
   values at least as large, and beyond the ``tail_k``-th largest an exponential tail fitted to the top
   ``tail_k`` (peaks over threshold), so a value far beyond anything seen still gets a finite, growing
   surprise ``-log10 p``. This self-calibration is what makes one threshold work across very different
   series: a series full of spikes (tweet counts) learns that spikes are ordinary, a quiet one does not.
   The surprise is capped at ``abs_surprise_per_z * |z|``: a row must also be far from typical in
   absolute terms, so well-behaved noise (where every value is unremarkable) does not fire just because
   some value is always the largest of the last few weeks.
4. **Decision shaping.** The row's surprise is the largest channel surprise minus ``log10(channels)``
   (a Bonferroni correction for looking seven ways). A surprise of ``fire_surprise`` or more "fires": the
   scorer then holds its output down (times ``suppress``) for ``refractory_s`` seconds (and at least
   ``refractory_min_rows`` rows), so one incident yields one alarm instead of a flagged row per minute,
   unless a row is ``breakthrough`` times more surprising than the one that fired (a much bigger event
   inside the quiet period is still reported). The first ``warmup_rows`` rows only learn.

The score is ``surprise / (surprise + out_scale)``: monotone in the surprise, so 0.5 means a surprise of
``out_scale`` (p about 1e-4 after the correction) and the fire level maps to about 0.41.

All constants are global (the same for every series) and were chosen on the NAB development subset
(bench/nab.py); see the field comments for what each one trades.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

import numpy as np

# Channel name -> (input series, aggregation, rows). Inputs: "resid" (value minus baseline), "absresid"
# (its absolute value), "diff" (value minus previous value).
CHANNEL_SPECS: dict[str, tuple[str, str, int]] = {
    "resid": ("resid", "last", 1),
    "diff": ("diff", "last", 1),
    "resid_med8": ("resid", "median", 8),
    "resid_med16": ("resid", "median", 16),
    "resid_med32": ("resid", "median", 32),
    "resid_mean64": ("resid", "mean", 64),
    "absresid_mean16": ("absresid", "mean", 16),
}
_LN10 = math.log(10.0)
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution is 0.6745 sigma
_MEANDEV_TO_SIGMA = 1.2533  # mean absolute deviation of a normal distribution is 0.7979 sigma


@dataclass(frozen=True)
class ScorerConfig:
    """Global constants of the scorer (identical for every series; never tuned per file).

    Chosen on the NAB development subset (bench/nab.py). The standard-profile score sits on a plateau
    around each value (within about 1 point for stats_rows 4000-10000, calib_rows 10000-40000,
    abs_surprise_per_z 0.8-1.0, fire_surprise 2.5-2.75, refractory 6-12 h); the sharper ones are noted.
    """

    # Baseline: median of the same time of day over the previous 7 days. A week of lags makes the median
    # robust to one odd day and to weekends; 5 or 10 lags scored about 2 points lower.
    season_s: float = 86400.0
    season_lags: int = 7
    # Rows kept for the seasonal look-up: 7 days down to ~37 s sampling. Denser series fall back to ...
    history_rows: int = 16384
    # ... the median of the last 32 values as their baseline.
    local_rows: int = 32
    channels: tuple[str, ...] = tuple(CHANNEL_SPECS)
    # Robust z of each channel against its own last 6000 values (three weeks of 5-minute data). The
    # median/MAD is refreshed every 8 rows: it moves slowly, and it is the costliest step. Long memory
    # matters: with 1000 rows here and 3000 for the calibration the detector scored 4-5 points lower.
    stats_rows: int = 6000
    stats_every: int = 8
    # Tail calibration of |z| against the channel's last 20000 values: in effect "how unusual is this
    # compared with everything this series has done". Needs 100 values before it says anything; beyond the
    # 20th largest past value the tail is extrapolated exponentially from the top 20 (10 or 40 scored 3-5
    # points lower: too few points make the tail scale noisy, too many dilute it with ordinary values).
    calib_rows: int = 20000
    calib_min: int = 100
    tail_k: int = 20
    # Surprise (-log10 p) may not exceed 0.8 * |z|: firing then needs |z| >= 4.5 on some channel, which
    # Gaussian noise reaches about once in 10^5 rows, whatever the calibration says.
    abs_surprise_per_z: float = 0.8
    # Decision shaping (see the module docstring). fire_surprise 2.75 is p = 2.5e-4 on one of 7 channels.
    warmup_rows: int = 150
    fire_surprise: float = 2.75
    # 12 hours of quiet after an alarm (24 h scored 3 points lower: it swallows the next incident).
    refractory_s: float = 12 * 3600.0
    # For slowly sampled series (hourly, daily) 12 h is only a few rows: hold at least 6.
    refractory_min_rows: int = 6
    breakthrough: float = 3.0
    suppress: float = 0.1
    out_scale: float = 4.0


class _Ring:
    """The last ``size`` floats, readable as one contiguous array (each value is stored twice)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.buf = np.zeros(2 * size)
        self.pos = 0
        self.n = 0

    def push(self, x: float) -> None:
        self.buf[self.pos] = x
        self.buf[self.pos + self.size] = x
        self.pos = (self.pos + 1) % self.size
        if self.n < self.size:
            self.n += 1

    def last(self, k: int) -> np.ndarray:
        """The most recent ``min(k, n)`` values, oldest first (a view: do not modify)."""
        k = min(k, self.n)
        end = self.pos + self.size
        return self.buf[end - k : end]

    def full(self) -> bool:
        return self.n == self.size


def _robust_center_scale(a: np.ndarray) -> tuple[float, float]:
    """Median and a robust sigma (MAD; the mean absolute deviation when more than half the values tie)."""
    med = float(np.median(a))
    dev = np.abs(a - med)
    scale = float(np.median(dev)) * _MAD_TO_SIGMA
    if scale <= 0.0:
        scale = float(np.mean(dev)) * _MEANDEV_TO_SIGMA
    return med, scale


def _epoch(ts: datetime | float) -> float:
    """Seconds since the epoch; naive datetimes are read as UTC (never as the machine's local time)."""
    if isinstance(ts, datetime):
        return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()
    return float(ts)


def _median(values: list[float]) -> float:
    """Median of a short list (plain Python: for a few dozen values this beats numpy's overhead)."""
    v = sorted(values)
    m = len(v) // 2
    return v[m] if len(v) % 2 else 0.5 * (v[m - 1] + v[m])


class _Tail:
    """-log10 P(F >= f) of a non-negative feature against its own last ``size`` values.

    Kept as a sorted list updated in place (insert the new value, drop the expired one), so every row is
    calibrated against exactly the values before it.
    """

    def __init__(self, size: int, k: int, min_n: int) -> None:
        self.size = size
        self.k = k
        self.min_n = min_n
        self.sorted: list[float] = []
        self.order: deque[float] = deque()

    def surprise(self, f: float) -> float:
        n = len(self.sorted)
        if n < max(self.min_n, self.k):
            return 0.0
        count = n - bisect_left(self.sorted, f)
        k = self.k
        if count >= k:
            return -math.log10((count + 1) / (n + 1))
        # Beyond the k-th largest value: exponential tail with the mean excess of the top k as its scale.
        top = self.sorted[-k:]
        u = top[0]
        sigma = sum(top) / k - u
        if sigma <= 0.0:
            sigma = max(abs(u), 1.0) * 1e-9
        return -math.log10((k + 1) / (n + 1)) + max(f - u, 0.0) / sigma / _LN10

    def add(self, f: float) -> None:
        insort(self.sorted, f)
        self.order.append(f)
        if len(self.order) > self.size:
            old = self.order.popleft()
            del self.sorted[bisect_left(self.sorted, old)]


class _Channel:
    """A derived series scored by its robust z against its own past and the tail of its past |z|."""

    def __init__(self, cfg: ScorerConfig) -> None:
        self.cfg = cfg
        self.hist = _Ring(cfg.stats_rows)
        self.tail = _Tail(cfg.calib_rows, cfg.tail_k, cfg.calib_min)
        self.center = 0.0
        self.scale = 0.0
        self.age = 0

    def zscore(self, v: float) -> float:
        """Robust z of ``v`` (NaN while fewer than 20 past values)."""
        if self.hist.n < 20:
            return math.nan
        # Refresh the median/MAD every few rows, and every row while the history is short.
        if self.age % self.cfg.stats_every == 0 or self.hist.n < 4 * self.cfg.stats_every:
            self.center, self.scale = _robust_center_scale(self.hist.last(self.hist.n))
        # A constant channel has scale 0: any change is then (rightly) an enormous z.
        floor = 1e-9 * max(1.0, abs(self.center))
        return (v - self.center) / max(self.scale, floor)

    def surprise(self, z: float) -> float:
        s = self.tail.surprise(abs(z))
        return min(s, self.cfg.abs_surprise_per_z * abs(z))

    def learn(self, v: float, z: float) -> None:
        self.hist.push(v)
        if math.isfinite(z):
            self.tail.add(abs(z))
        self.age += 1


class UnivariateScorer:
    """Streaming anomaly scorer; call :meth:`update` once per row, in file order."""

    def __init__(self, config: ScorerConfig | None = None) -> None:
        self.cfg = cfg = config or ScorerConfig()
        unknown = [c for c in cfg.channels if c not in CHANNEL_SPECS]
        if unknown:
            raise ValueError(f"unknown channel(s) {unknown}; known: {sorted(CHANNEL_SPECS)}")
        self.channels = {name: _Channel(cfg) for name in cfg.channels}
        widest = max((CHANNEL_SPECS[c][2] for c in cfg.channels), default=1)
        self._times = _Ring(cfg.history_rows)
        self._values = _Ring(cfg.history_rows)
        # The last few residuals (and their absolute values) for the windowed channels.
        self._resid: deque[float] = deque(maxlen=max(widest - 1, 1))
        self._absresid: deque[float] = deque(maxlen=max(widest - 1, 1))
        self.rows = 0  # finite rows seen
        self._t_last = -math.inf
        self._x_last = math.nan
        self._fire_t = -math.inf
        self._fire_row = -(10**18)
        self._fire_level = math.inf
        # Diagnostics of the last row: surprise per channel and combined (read-only, for explanations).
        self.last_surprises: dict[str, float] = {}
        self.last_surprise = 0.0

    def update(self, timestamp: datetime | float, value: float) -> float:
        """Score one row (the next in file order) and learn from it; returns a score in [0, 1].

        ``timestamp`` is a datetime (naive ones are taken as UTC) or epoch seconds. A NaN or infinite
        value scores 0 and is skipped.
        """
        x = float(value)
        if not math.isfinite(x):
            # Missing value: nothing to score or learn.
            self.last_surprises, self.last_surprise = {}, 0.0
            return 0.0
        # Time never goes backwards for the model: repeated or earlier timestamps reuse the latest time.
        t = max(_epoch(timestamp), self._t_last)
        cfg = self.cfg

        inputs: dict[str, float] = {}
        if self.rows > 0 and math.isfinite(x - self._x_last):
            inputs["diff"] = x - self._x_last
        base = self._baseline(t)
        if base is not None and math.isfinite(x - base):
            inputs["resid"] = x - base
            inputs["absresid"] = abs(x - base)

        surprises: dict[str, float] = {}
        pending: list[tuple[_Channel, float, float]] = []
        for name, ch in self.channels.items():
            source, agg, k = CHANNEL_SPECS[name]
            if source not in inputs:
                continue
            v = self._aggregate(source, agg, k, inputs[source])
            if v is None:
                continue
            z = ch.zscore(v)
            pending.append((ch, v, z))
            if math.isfinite(z):
                surprises[name] = ch.surprise(z)
        surprise = 0.0
        if surprises:
            surprise = max(0.0, max(surprises.values()) - math.log10(len(surprises)))
        self.last_surprises, self.last_surprise = surprises, surprise

        # Learn (after scoring: a row is never compared with itself).
        for ch, v, z in pending:
            ch.learn(v, z)
        if "resid" in inputs:
            self._resid.append(inputs["resid"])
            self._absresid.append(inputs["absresid"])
        self._times.push(t)
        self._values.push(x)
        self._t_last = t
        self._x_last = x
        row = self.rows
        self.rows += 1

        if row < cfg.warmup_rows:
            return 0.0
        score = surprise / (surprise + cfg.out_scale)
        if t - self._fire_t < cfg.refractory_s or row - self._fire_row < cfg.refractory_min_rows:
            if surprise >= cfg.breakthrough * self._fire_level:
                self._fire(t, row, surprise)
                return score
            return score * cfg.suppress
        if surprise >= cfg.fire_surprise:
            self._fire(t, row, surprise)
        return score

    def _fire(self, t: float, row: int, surprise: float) -> None:
        self._fire_t, self._fire_row, self._fire_level = t, row, surprise

    def _aggregate(self, source: str, agg: str, k: int, current: float) -> float | None:
        """The channel value: ``current`` itself, or the median/mean of it and the previous k-1 inputs."""
        if agg == "last":
            return current
        recent = self._absresid if source == "absresid" else self._resid
        if len(recent) < k - 1:
            return None
        window = [*islice(recent, len(recent) - (k - 1), None), current]
        return _median(window) if agg == "median" else sum(window) / k

    def _baseline(self, t: float) -> float | None:
        """Median of the values nearest to the same time on the previous days (None: not enough history)."""
        cfg = self.cfg
        n = self._times.n
        if n == 0:
            return None
        times = self._times.last(n)
        if t - times[0] < 0.99 * cfg.season_s:
            if self._times.full():
                # Sampling too dense for a day of history: a local median is the best we can do.
                return _median(self._values.last(cfg.local_rows).tolist())
            return None
        values = self._values.last(n)
        if n == 1:
            return float(values[0])
        lags = np.arange(1, cfg.season_lags + 1, dtype=float)
        targets = t - cfg.season_s * lags
        targets = targets[targets >= times[0] - 0.01 * cfg.season_s]  # lags the history reaches
        i = np.clip(np.searchsorted(times, targets), 1, n - 1)
        # The nearer of the two rows around each target time.
        i = np.where(np.abs(times[i] - targets) <= np.abs(times[i - 1] - targets), i, i - 1)
        return _median(values[i].tolist())


def fire_score(config: ScorerConfig | None = None) -> float:
    """The score at which the scorer raises an alarm (its fire level mapped to [0, 1])."""
    cfg = config or ScorerConfig()
    return cfg.fire_surprise / (cfg.fire_surprise + cfg.out_scale)


def score_rows(rows: Iterable[tuple[datetime, float]], config: ScorerConfig | None = None) -> Iterator[float]:
    """Scores for ``(timestamp, value)`` rows in order, one per row, from a fresh scorer."""
    scorer = UnivariateScorer(config)
    for ts, value in rows:
        yield scorer.update(ts, value)
