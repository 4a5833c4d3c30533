"""Streaming anomaly scorer for one generic time series (prototype v1)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True)
class ScorerConfig:
    short_rows: int = 96
    long_rows: int = 1000
    channels: tuple[str, ...] = ("s1", "s64", "d1", "m4")
    season_halfwidth: int = 2
    stats_every: int = 8
    season_s: float = 86400.0
    season_lags: int = 7
    calib_rows: int = 3000
    calib_min: int = 100
    tail_k: int = 20
    refit_every: int = 16
    warmup_rows: int = 150
    fire_surprise: float = 3.0
    refractory_s: float = 6 * 3600.0
    suppress: float = 0.1
    out_scale: float = 4.0


class _Ring:
    """Last ``size`` floats, readable as one contiguous array (each value is written twice)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.buf = np.zeros(2 * size)
        self.pos = 0
        self.n = 0

    def push(self, x: float) -> None:
        self.buf[self.pos] = x
        self.buf[self.pos + self.size] = x
        self.pos = (self.pos + 1) % self.size
        self.n = min(self.n + 1, self.size)

    def last(self, k: int) -> np.ndarray:
        k = min(k, self.n)
        end = self.pos + self.size
        return self.buf[end - k : end]


def _robust(a: np.ndarray) -> tuple[float, float]:
    med = float(np.median(a))
    dev = np.abs(a - med)
    mad = float(np.median(dev)) * 1.4826
    if mad <= 0.0:
        mad = float(np.mean(dev)) * 1.2533
    return med, mad


class _Tail:
    """Tail probability P(F >= f) of a non-negative feature against its own recent history."""

    def __init__(self, cfg: ScorerConfig) -> None:
        self.cfg = cfg
        self.hist = _Ring(cfg.calib_rows)
        self.sorted = np.zeros(0)
        self.since = 0
        self.u = 0.0
        self.sigma = 1.0

    def surprise(self, f: float) -> float:
        """-log10 P(F >= f)."""
        n = self.sorted.size
        if n < self.cfg.calib_min:
            return 0.0
        c = n - int(np.searchsorted(self.sorted, f, side="left"))
        k = self.cfg.tail_k
        if c >= k:
            return -math.log10((c + 1) / (n + 1))
        # Exponential tail beyond the k-th largest value (peaks over threshold).
        return -math.log10((k + 1) / (n + 1)) + max(f - self.u, 0.0) / self.sigma / math.log(10)

    def add(self, f: float) -> None:
        self.hist.push(f)
        self.since += 1
        if self.since >= self.cfg.refit_every or self.sorted.size < self.cfg.calib_min:
            self.since = 0
            self.sorted = np.sort(self.hist.last(self.hist.n))
            k = self.cfg.tail_k
            if self.sorted.size >= k:
                top = self.sorted[-k:]
                self.u = float(top[0])
                self.sigma = max(float(np.mean(top - self.u)), 1e-9)


class _Channel:
    """A derived series (e.g. the mean of the last k values) scored by its robust z against its own past."""

    def __init__(self, cfg: ScorerConfig, k: int) -> None:
        self.cfg = cfg
        self.k = k
        self.hist = _Ring(cfg.long_rows)
        self.raw = _Ring(max(k, 1))
        self.sum = 0.0
        self.stats = (0.0, 0.0)
        self.tail = _Tail(cfg)
        self.n = 0

    def feature(self, x: float) -> tuple[float, float] | None:
        """(current k-mean including x, |z|) or None while warming up; does not learn."""
        full = self.raw.n >= self.k
        s = self.sum + x - (self.raw.last(self.k)[0] if full else 0.0)
        if self.raw.n + 1 < self.k:
            return s / (self.raw.n + 1), -1.0
        m = s / self.k
        if self.hist.n < 20:
            return m, -1.0
        if self.n % self.cfg.stats_every == 0 or self.hist.n < 2 * self.cfg.stats_every + 20:
            self.stats = _robust(self.hist.last(self.cfg.long_rows))
        med, sc = self.stats
        floor = 1e-9 * max(1.0, abs(med))
        return m, abs(m - med) / max(sc, floor)

    def learn(self, x: float, m: float, z: float) -> None:
        if self.raw.n >= self.k:
            self.sum -= self.raw.last(self.k)[0]
        self.sum += x
        self.raw.push(x)
        if self.raw.n >= self.k:
            self.hist.push(m)
        if z >= 0:
            self.tail.add(z)
        self.n += 1


def _ssqrt(x: float) -> float:
    return math.copysign(math.sqrt(abs(x)), x)


class UnivariateScorer:
    def __init__(self, config: ScorerConfig | None = None) -> None:
        self.cfg = cfg = config or ScorerConfig()
        self.channels: dict[str, _Channel] = {}
        for name in cfg.channels:
            self.channels[name] = _Channel(cfg, int(name[1:]))
        self.FEATURES = tuple(self.channels)
        hist_rows = 2 * 24 * 12 * (cfg.season_lags + 1) + 16
        self.times = _Ring(hist_rows)
        self.tvals = _Ring(hist_rows)
        self.short = _Ring(cfg.short_rows)
        self.n = 0
        self.t_last = -math.inf
        self.x_last = math.nan
        self.fire_t = -math.inf
        self.features: dict[str, float] = {}
        self.surprises: dict[str, float] = {}
        self.surprise = 0.0

    def update(self, timestamp: datetime, value: float) -> float:
        cfg = self.cfg
        x = float(value)
        if not math.isfinite(x):
            return 0.0
        t = max(timestamp.timestamp(), self.t_last)
        self.t_last = t
        n = self.n
        kinds = {name[0] for name in cfg.channels}
        base: dict[str, float] = {"m": x}
        if n >= 1:
            base["d"] = x - self.x_last
        if kinds & {"s", "n", "q"}:
            seas = self._seasonal(t, x)
            if seas is not None:
                med, spread, qmed = seas
                base["s"] = x - med
                base["n"] = (x - med) / max(spread, 1e-9 * max(1.0, abs(med)))
                base["q"] = _ssqrt(x) - qmed
        if "l" in kinds and self.short.n >= 10:
            med_s, sc_s = _robust(self.short.last(cfg.short_rows))
            base["l"] = (x - med_s) / max(sc_s, 1e-9 * max(1.0, abs(med_s)))
        feats: dict[str, float] = {}
        pend = []
        for name, ch in self.channels.items():
            if name[0] not in base:
                continue
            val = base[name[0]]
            m, z = ch.feature(val)
            pend.append((ch, val, m, z))
            if z >= 0:
                feats[name] = z
        s_max = 0.0
        self.surprises = {}
        for name, f in feats.items():
            self.surprises[name] = self.channels[name].tail.surprise(f)
            s_max = max(s_max, self.surprises[name])
        surprise = max(0.0, s_max - math.log10(max(len(feats), 1)))
        self.features = feats
        self.surprise = surprise

        for ch, val, m, z in pend:
            ch.learn(val, m, z)
        self.times.push(t)
        self.tvals.push(x)
        self.short.push(x)
        self.x_last = x
        self.n += 1

        if n < cfg.warmup_rows:
            return 0.0
        score = surprise / (surprise + cfg.out_scale)
        if t - self.fire_t < cfg.refractory_s:
            return score * cfg.suppress
        if surprise >= cfg.fire_surprise:
            self.fire_t = t
        return score

    def _seasonal(self, t: float, x: float) -> tuple[float, float, float] | None:
        cfg = self.cfg
        if self.times.n < 10:
            return None
        times = self.times.last(self.times.n)
        if t - times[0] < cfg.season_s * 0.99:
            return None
        vals = self.tvals.last(self.tvals.n)
        lags = int(min(cfg.season_lags, (t - times[0]) // cfg.season_s + 1))
        targets = t - cfg.season_s * np.arange(1, lags + 1)
        targets = targets[targets >= times[0] - 1.0]
        if targets.size == 0:
            return None
        i = np.clip(np.searchsorted(times, targets), 1, times.size - 1)
        j = np.where(np.abs(times[i] - targets) <= np.abs(times[i - 1] - targets), i, i - 1)
        refs = sorted(vals[j].tolist())
        m = len(refs)
        med = refs[m // 2] if m % 2 else 0.5 * (refs[m // 2 - 1] + refs[m // 2])
        return med, 1.0, _ssqrt(med)


def score_rows(rows: Iterable[tuple[datetime, float]], config: ScorerConfig | None = None) -> Iterator[float]:
    scorer = UnivariateScorer(config)
    for ts, value in rows:
        yield scorer.update(ts, value)
