"""The detector: per-minute distinct-reporter counts in, per-service incident decisions out.

Model, per series (a service's total, or one of its components, regions or symptoms):

    expected reporters in minute t   mu(t) = level(service) x profile(service, hour of week of t) x share
    predictive count over a window   negative binomial with mean sum(mu) and shape r, where
                                     1/r = 1/evidence(level) + 1/evidence(profile) [+ 1/evidence(share)] + phi

The level is a decayed Gamma posterior (reports / exposure) so a young series is honestly uncertain; the
profile lives in baseline.py; a child's share is a decayed Gamma posterior of its reports per expected
report of its service; phi is the series' extra-Poisson dispersion, estimated from decayed moments of the
per-minute residuals. Surprise on each window (1, 5, 15 min) = -log10 P(X >= x); see stats.py.

A service opens an incident when its total or any child scores >= open_score on a window that has at
least min_clients distinct reporters and min_ratio times the expectation, after a warm-up. A service and
its children learn nothing in a minute where any of them scores >= learn_score or an incident is open.

Memory (float32/int32 unless said): per series 30 ring counts (120 B) + four running window sums (32 B,
int64) + level/share posterior (8 B) + dispersion moments (8 B) + service row and dimension (5 B) = 173 B
of arrays, plus ~150 B for its key in the registry dict. Per service on top: profile 168 float32 + 168
uint8 (840 B) + ~60 B of scalars. So 1 M series in 50 k services take about 370 B per series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from downradar.detect import stats
from downradar.detect.baseline import SLOTS, Profiles, slot_of
from downradar.detect.config import DetectorConfig
from downradar.detect.hysteresis import IncidentStates, Transitions
from downradar.detect.localise import Share, describe, rank
from downradar.detect.series import DIMENSIONS, SeriesIndex, SeriesKey, grown

MinuteLike = datetime | int
State = Literal["opened", "ongoing", "recovering", "closed"]
ImpactLevel = Literal["minor", "major", "critical"]
_UNSEEN = -1


def epoch_minute(minute: MinuteLike) -> int:
    """Minutes since 1970-01-01 UTC; datetimes must be timezone-aware (seconds are floored)."""
    if isinstance(minute, datetime):
        if minute.tzinfo is None:
            raise ValueError("minute must be timezone-aware (UTC inside)")
        return int(minute.timestamp()) // 60
    return int(minute)


def minute_datetime(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


@dataclass(frozen=True)
class IndexedCounts:
    """Counts by detector row (from Detector.register): the fast path for replays and tests.

    Rows must be unique; zero counts may be left out.
    """

    rows: NDArray[np.integer]
    counts: NDArray[np.integer]


@dataclass(frozen=True)
class Expectation:
    """Expected distinct reporters over a span, and the central band (DetectorConfig.band_coverage)."""

    expected: float
    low: float
    high: float


@dataclass(frozen=True)
class Finding:
    """One service's state in one minute, for every service with an incident open (or closing now)."""

    service: str
    state: State
    minute: datetime  # start of the minute this decision is about (its counts are complete at +1 min)
    opened_at: datetime
    score: float  # highest -log10 tail probability of the service's series, windows with >= min_clients
    reports_per_min: float  # distinct reporters per minute over the last 5 minutes
    baseline_per_min: float  # expected per minute over the same span
    band_per_min: tuple[float, float]  # central band of one minute's count under the baseline
    impact: ImpactLevel
    components: tuple[Share, ...]
    regions: tuple[Share, ...]
    symptoms: tuple[Share, ...]
    trigger: SeriesKey  # the series whose window opened the incident
    trigger_window: int  # minutes

    @property
    def summary(self) -> str:
        """e.g. 'conversations 40 %, login 10 %; US 86 %; error 45 %' (shares of the excess)."""
        return describe([self.components, self.regions, self.symptoms])


@dataclass(frozen=True)
class TickResult:
    minute: datetime
    findings: tuple[Finding, ...]

    def opened(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.state == "opened")

    def finding(self, service: str) -> Finding | None:
        return next((f for f in self.findings if f.service == service), None)


@dataclass(frozen=True)
class _Tick:
    """One minute's per-series arrays (windows x series where 2-D), alive only while the tick runs."""

    minute: int
    x: NDArray[np.int64]
    observed: NDArray[np.int64]
    expected: NDArray[np.float64]
    expected_now: NDArray[np.float64]
    r: NDArray[np.float64]


@dataclass
class _Tally:
    """Per open incident: its series rows and their reporters / expectation summed since the lead-up."""

    rows: list[int]
    observed: NDArray[np.float64]
    expected: NDArray[np.float64]


class Detector:
    """Feed it minute after minute (event time, zero minutes included or skipped); it is deterministic."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = cfg = config or DetectorConfig()
        self._index = SeriesIndex()
        self._window_minutes = np.asarray(cfg.windows, dtype=np.int64)
        # The last 2 x 15 minutes of counts: the windows, and the 15 minutes before them (floods).
        self._ring = np.zeros((2 * cfg.windows[-1], 0), dtype=np.int32)
        self._sums = np.zeros((len(cfg.windows), 0), dtype=np.int64)  # reporters per window and series
        self._before = np.zeros(0, dtype=np.int64)  # reporters in the longest window before the current
        # Per series: Gamma posterior of the rate (totals: reports / profile exposure; children:
        # reports / expected reports of their service) and the decayed moments behind phi.
        self._a = np.zeros(0, dtype=np.float32)
        self._b = np.zeros(0, dtype=np.float32)
        self._dnum = np.zeros(0, dtype=np.float32)
        self._dden = np.zeros(0, dtype=np.float32)
        # Per service.
        self._profiles = Profiles(cfg.profile_week_prior, cfg.profile_day_prior, cfg.profile_memory_minutes)
        self._first_seen = np.zeros(0, dtype=np.int64)
        self._exposure = np.zeros(0, dtype=np.float32)  # decayed expected reports, a new child's zeros
        self._states = IncidentStates()
        self._frozen_for = np.zeros(0, dtype=np.int32)  # consecutive minutes without learning
        self._triggers: dict[int, tuple[int, int]] = {}  # open incident -> (series row, window)
        self._tallies: dict[int, _Tally] = {}
        # Profile factors of the current and previous hour, cached per service ("evidence" as in baseline).
        self._slot = -1
        self._cached = 0
        self._factor = np.zeros((2, 0))
        self._evidence = np.zeros((2, 0))
        self._minute: int | None = None

        def decay(half_life: float) -> float:
            return float(0.5 ** (1.0 / half_life))

        self._decay_level = decay(cfg.level_half_life_minutes)
        self._decay_share = decay(cfg.share_half_life_minutes)
        self._decay_dispersion = decay(cfg.dispersion_half_life_minutes)
        # Rates in findings use the first window of 5 minutes or more (the longest if none).
        self._rate_index = next((k for k, w in enumerate(cfg.windows) if w >= 5), len(cfg.windows) - 1)

    # --- registration ----------------------------------------------------------------------------------

    @property
    def minute(self) -> datetime | None:
        """The last minute observed."""
        return None if self._minute is None else minute_datetime(self._minute)

    @property
    def series_count(self) -> int:
        return self._index.n_series

    def register(self, keys: Iterable[SeriesKey]) -> NDArray[np.int32]:
        """Rows of `keys` for IndexedCounts, creating series (and their services) on first sight.

        A series exists from the next minute observed on: minutes without a count for it are zeros. A child
        that first appears long after its service starts with the service's history as known zeros.
        """
        rows, new_services, new_series = self._index.add(keys)
        if new_services or new_series:
            self._grow()
            for service in new_services:
                self._first_seen[service] = _UNSEEN
            for row in new_series:
                if self._index.dimension_of[row] > 0:
                    self._b[row] = self._exposure[self._index.service_of[row]]
        return rows

    def _grow(self) -> None:
        series = self._index.service_of.shape[0]
        services = self._index.total_row.shape[0]
        if self._a.shape[0] < series:
            ring = np.zeros((self._ring.shape[0], series), dtype=np.int32)
            ring[:, : self._ring.shape[1]] = self._ring
            sums = np.zeros((self._sums.shape[0], series), dtype=np.int64)
            sums[:, : self._sums.shape[1]] = self._sums
            self._ring, self._sums = ring, sums
            self._before = grown(self._before, series)
            self._a, self._b = grown(self._a, series), grown(self._b, series)
            self._dnum, self._dden = grown(self._dnum, series), grown(self._dden, series)
        if self._first_seen.shape[0] < services:
            self._profiles.grow(services)
            self._first_seen = grown(self._first_seen, services)
            self._exposure = grown(self._exposure, services)
            self._states.grow(services)
            self._frozen_for = grown(self._frozen_for, services)
            factor = np.ones((2, services))
            evidence = np.ones((2, services))
            factor[:, : self._factor.shape[1]] = self._factor
            evidence[:, : self._evidence.shape[1]] = self._evidence
            self._factor, self._evidence = factor, evidence

    # --- observing -------------------------------------------------------------------------------------

    def observe(self, minute: MinuteLike, counts: Mapping[SeriesKey, int] | IndexedCounts) -> TickResult:
        """Process one minute of distinct-reporter counts (service totals and children).

        Minutes must increase. Skipped minutes are processed as minutes without reports, so a sparse feed
        gives exactly what a dense one would. The result lists every service with an incident open, and
        those that closed (also during skipped minutes).
        """
        t = epoch_minute(minute)
        if self._minute is not None and t <= self._minute:
            raise ValueError(f"minute {minute_datetime(t)} is not after {minute_datetime(self._minute)}")
        if isinstance(counts, IndexedCounts):
            rows = np.asarray(counts.rows, dtype=np.int64)
            values = np.asarray(counts.counts, dtype=np.int64)
            if rows.size and (rows.min() < 0 or rows.max() >= self._index.n_series):
                raise ValueError("IndexedCounts rows must come from Detector.register")
        else:
            rows = self.register(counts.keys()).astype(np.int64)
            values = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        if (values < 0).any():
            raise ValueError("counts must be non-negative")
        closed: dict[str, Finding] = {}
        empty = np.zeros(0, dtype=np.int64)
        if self._minute is not None:
            for gap in range(self._minute + 1, t):
                for finding in self._tick(gap, empty, empty):
                    if finding.state == "closed":
                        closed[finding.service] = finding
        findings = self._tick(t, rows, values)
        current = {f.service for f in findings}
        merged = [f for s, f in closed.items() if s not in current] + findings
        return TickResult(minute_datetime(t), tuple(merged))

    def _refresh_factors(self, t: int) -> None:
        """Cache the profile factors of this hour and the previous one: hourly, and for new services."""
        slot = slot_of(t)
        s = self._index.n_services
        if slot != self._slot:
            kept = 0
            if self._slot == (slot - 1) % SLOTS:
                self._factor[1], self._evidence[1] = self._factor[0], self._evidence[0]
                kept = self._cached
            self._cache_factors(1, (slot - 1) % SLOTS, kept, s)
            self._cache_factors(0, slot, 0, s)
        elif self._cached < s:
            self._cache_factors(1, (slot - 1) % SLOTS, self._cached, s)
            self._cache_factors(0, slot, self._cached, s)
        self._slot, self._cached = slot, s

    def _cache_factors(self, which: int, slot: int, start: int, stop: int) -> None:
        if start < stop:
            part = slice(start, stop)
            factor, evidence = self._profiles.factor(slot, self._level()[part], part)
            self._factor[which, part], self._evidence[which, part] = factor, evidence

    def _level(self) -> NDArray[np.float64]:
        """Deseasonalised rate (reports per minute) of every service: posterior mean."""
        cfg = self.config
        tot = self._index.total_row[: self._index.n_services]
        return (self._a[tot] + cfg.level_prior_counts) / (self._b[tot] + cfg.level_prior_minutes)

    def _service_terms(
        self, evidence: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Per service: level, 1/r of the model (level and profile uncertainty), and the total's phi."""
        cfg = self.config
        tot = self._index.total_row[: self._index.n_services]
        level = self._level()
        model_inv = 1.0 / (self._a[tot] + cfg.level_prior_counts) + 1.0 / evidence
        phi = np.clip(self._dnum[tot] / (self._dden[tot] + cfg.dispersion_prior), 0.0, cfg.dispersion_max)
        return level, model_inv, phi

    def _series_terms(
        self,
        rows: slice | NDArray[np.integer],
        model_inv: NDArray[np.float64],
        service_phi: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per series in `rows`: share of its service's expectation (1 for totals) and NB shape r."""
        cfg = self.config
        idx = self._index
        svc = idx.service_of[rows]
        child = idx.dimension_of[rows] > 0
        a, b = self._a[rows].astype(np.float64), self._b[rows].astype(np.float64)
        share = np.where(child, (a + cfg.share_prior_counts) / (b + cfg.share_prior_exposure), 1.0)
        prior_phi = np.where(child, service_phi[svc], 0.0)
        phi = np.clip(
            (self._dnum[rows] + cfg.dispersion_prior * prior_phi) / (self._dden[rows] + cfg.dispersion_prior),
            0.0,
            cfg.dispersion_max,
        )
        inv = model_inv[svc] + np.where(child, 1.0 / (a + cfg.share_prior_counts), 0.0) + phi
        return share, stats.shape(inv)

    def _tick(self, t: int, rows: NDArray[np.int64], values: NDArray[np.int64]) -> list[Finding]:
        cfg = self.config
        idx = self._index
        n, s = idx.n_series, idx.n_services
        self._minute = t
        if n == 0:
            return []
        first_seen = self._first_seen[:s]
        first_seen[first_seen == _UNSEEN] = t
        self._refresh_factors(t)
        svc = idx.service_of[:n]

        # Window sums (windows x series): subtract what leaves each window before the ring is overwritten.
        # For the 1-minute window this leaves exactly this minute's count.
        x = np.bincount(rows, weights=values, minlength=n).astype(np.int64)
        ring_len, longest = self._ring.shape[0], int(self._window_minutes[-1])
        observed = self._sums[:, :n]
        observed += x - self._ring[(t - self._window_minutes) % ring_len, :n]
        before = self._before[:n]
        before += self._ring[(t - longest) % ring_len, :n] - self._ring[(t - 2 * longest) % ring_len, :n]
        self._ring[t % ring_len, :n] = x

        # Expectations: a window may reach into the previous hour (other profile factor) or predate the
        # service (shorter span).
        evidence = np.minimum(self._evidence[0, :s], self._evidence[1, :s])
        level, model_inv, service_phi = self._service_terms(evidence)
        share, r = self._series_terms(slice(0, n), model_inv, service_phi)
        age = t - first_seen + 1
        span = np.minimum(self._window_minutes[:, None], age)
        this_hour = np.minimum(span, t % 60 + 1)
        now_factor, prev_factor = self._factor[0, :s], self._factor[1, :s]
        expected = share * (level * (this_hour * now_factor + (span - this_hour) * prev_factor))[:, svc]
        service_now = level * now_factor
        expected_now = share * service_now[svc]

        # Only series with enough distinct reporters in the longest window (the 15-minute dedup window, so
        # its count is distinct clients) give evidence for opening, staying open and pausing learning: one
        # report in a rare region is "surprising" yet says nothing about an outage. The surprise itself may
        # come from a shorter window, where a fresh outage stands out soonest. Tails are only worth
        # computing above mean + 2 sd: below, the score is under 2 (test_detect_units checks), less than
        # any threshold that acts on it. Both cuts keep a quiet million series cheap.
        counted = observed[-1] >= cfg.min_clients
        spread = 2.0 * np.sqrt(expected + expected * expected / r)
        compute = counted & (observed > expected + spread)
        score = np.zeros(observed.shape)
        if compute.any():
            shapes = np.broadcast_to(r, score.shape)[compute]
            score[compute] = stats.surprise(observed[compute], expected[compute], shapes)
        best = score.max(axis=0)
        evidence = _group_max(best, svc, s)
        open_scores = np.where(observed >= cfg.min_ratio * expected, score, 0.0)
        candidates = open_scores >= cfg.open_score
        if candidates.any():
            # A flood (a few clients re-counted every dedup window) was already there 15 minutes ago: up to
            # `flood_allowance` of the reporters seen then are discounted, and the rest must still surprise.
            allowance = np.minimum(before, cfg.flood_allowance)
            rest = (observed - allowance)[candidates]
            robust = stats.surprise(rest, expected[candidates], np.broadcast_to(r, score.shape)[candidates])
            open_scores[candidates] = np.where(robust >= cfg.flood_score, open_scores[candidates], 0.0)
        open_window = open_scores.argmax(axis=0)
        best_open = np.take_along_axis(open_scores, open_window[None, :], axis=0)[0]
        group_open = _group_max(best_open, svc, s)

        # Learning stops while the service looks anomalous, except during the warm-up (everything is
        # surprising to an empty baseline) and once the anomaly has lasted so long that it is the new normal.
        states = self._states
        warm = age > cfg.warmup_minutes
        frozen = states.active[:s] | (evidence >= cfg.learn_score)
        frozen_for = self._frozen_for[:s]
        frozen_for[:] = np.where(frozen, frozen_for + 1, 0)
        learn_service = ~frozen | ~warm | (frozen_for > cfg.relearn_after_minutes)
        profiling = age > cfg.profile_after_minutes
        self._learn(t, x, expected_now, level, service_now, learn_service, profiling)

        transitions = states.step(
            t, group_open, evidence, warm, cfg.open_score, cfg.close_score, cfg.close_quiet_minutes
        )
        tick = _Tick(t, x, observed, expected, expected_now, r)
        for service in np.flatnonzero(transitions.opened):
            group = self._group_rows(int(service))
            top = group[int(np.argmax(best_open[group]))]
            self._triggers[int(service)] = (top, int(self._window_minutes[open_window[top]]))
        return self._findings(tick, transitions, evidence)

    def _learn(
        self,
        t: int,
        x: NDArray[np.int64],
        expected_now: NDArray[np.float64],
        level: NDArray[np.float64],
        service_now: NDArray[np.float64],
        learn_service: NDArray[np.bool_],
        profiling: NDArray[np.bool_],
    ) -> None:
        """Fold minute t into the baselines of the services allowed to learn (and their children).

        The profile only learns once the level has seen a whole day: before, count / level mostly measures
        how far the young level still is from a daily mean, and the profile would remember that for weeks.
        """
        idx = self._index
        n, s = idx.n_series, idx.n_services
        svc = idx.service_of[:n]
        tot = idx.total_row[:s]
        learn = learn_service[svc]
        child = learn & (idx.dimension_of[:n] > 0)

        dd, dq, dl = self._decay_dispersion, self._decay_share, self._decay_level
        xf = x.astype(np.float64)
        dnum, dden = self._dnum[:n], self._dden[:n]
        dnum[:] = np.where(learn, dd * dnum + ((xf - expected_now) ** 2 - xf), dnum)
        dden[:] = np.where(learn, dd * dden + expected_now**2, dden)

        a, b = self._a[:n], self._b[:n]
        a[:] = np.where(child, dq * a + xf, a)
        b[:] = np.where(child, dq * b + service_now[svc], b)
        x_service = xf[tot]
        a[tot] = np.where(learn_service, dl * a[tot] + x_service, a[tot])
        b[tot] = np.where(learn_service, dl * b[tot] + self._factor[0, :s], b[tot])
        self._profiles.learn(slot_of(t), x_service / level, learn_service & profiling)
        exposure = self._exposure[:s]
        exposure[:] = np.where(learn_service, dq * exposure + service_now, exposure)

    # --- reporting -------------------------------------------------------------------------------------

    def _findings(self, tick: _Tick, tr: Transitions, evidence: NDArray[np.float64]) -> list[Finding]:
        out: list[Finding] = []
        for service in np.flatnonzero(tr.opened | tr.ongoing | tr.recovering | tr.closed):
            service = int(service)
            if tr.opened[service]:
                state: State = "opened"
            elif tr.ongoing[service]:
                state = "ongoing"
            elif tr.recovering[service]:
                state = "recovering"
            else:
                state = "closed"
            tally = self._update_tally(service, tick, opened=state == "opened")
            out.append(self._finding(tick, service, state, float(evidence[service]), tally))
            if state == "closed":
                del self._triggers[service], self._tallies[service]
        return out

    def _group_rows(self, service: int) -> list[int]:
        return [int(self._index.total_row[service]), *self._index.children[service]]

    def _update_tally(self, service: int, tick: _Tick, *, opened: bool) -> _Tally:
        """Reporters and expectation of each series of the service, summed over the incident so far.

        It starts from the longest window at opening (the lead-up) and adds every minute after, so the
        localisation of a long incident rests on all of it, not on the last few minutes.
        """
        rows = self._group_rows(service)
        if opened:
            tally = _Tally(rows, tick.observed[-1, rows].astype(np.float64), tick.expected[-1, rows].copy())
            self._tallies[service] = tally
            return tally
        tally = self._tallies[service]
        if len(rows) > len(tally.rows):  # children that first appeared during the incident
            extra = len(rows) - len(tally.rows)
            tally.observed = np.concatenate([tally.observed, np.zeros(extra)])
            tally.expected = np.concatenate([tally.expected, np.zeros(extra)])
            tally.rows = rows
        tally.observed += tick.x[rows]
        tally.expected += tick.expected_now[rows]
        return tally

    def _finding(self, tick: _Tick, service: int, state: State, score: float, tally: _Tally) -> Finding:
        cfg = self.config
        idx = self._index
        total = int(idx.total_row[service])
        k_rate = self._rate_index
        span = min(int(self._window_minutes[k_rate]), tick.minute - int(self._first_seen[service]) + 1)
        # Impact from the size of the departure of the service total, read on its most surprising window
        # (a cliff shows first in the 1-minute window, a ramp in the 15-minute one).
        total_scores = stats.surprise(tick.observed[:, total], tick.expected[:, total], tick.r[total])
        k = int(np.argmax(total_scores)) if total_scores.max() > 0 else len(cfg.windows) - 1
        ratio = float(tick.observed[k, total]) / max(float(tick.expected[k, total]), 1e-9)
        impact: ImpactLevel = (
            "critical" if ratio >= cfg.critical_ratio else "major" if ratio >= cfg.major_ratio else "minor"
        )
        dims = idx.dimension_of[tally.rows]
        # The children's own scores (best window), computed here without the tick's cuts: few rows.
        group = np.asarray(tally.rows)
        observed, expected = tick.observed[:, group], tick.expected[:, group]
        child_scores = stats.surprise(observed, expected, tick.r[group]).max(axis=0)
        parts: dict[str, tuple[Share, ...]] = {}
        for d, dimension in enumerate(DIMENSIONS):
            if d == 0:
                continue
            pick = np.flatnonzero(dims == d)
            parts[dimension] = rank(
                [idx.key(tally.rows[i]).value for i in pick],
                tally.observed[pick],
                tally.expected[pick],
                child_scores[pick],
                cfg.top_children,
            )
        trigger_row, trigger_window = self._triggers[service]
        return Finding(
            service=idx.services[service],
            state=state,
            minute=minute_datetime(tick.minute),
            opened_at=minute_datetime(int(self._states.opened_at[service])),
            score=score,
            reports_per_min=float(tick.observed[k_rate, total]) / span,
            baseline_per_min=float(tick.expected[k_rate, total]) / span,
            band_per_min=stats.band(float(tick.expected_now[total]), float(tick.r[total]), cfg.band_coverage),
            impact=impact,
            components=parts["component"],
            regions=parts["region"],
            symptoms=parts["symptom"],
            trigger=idx.key(trigger_row),
            trigger_window=trigger_window,
        )

    def baseline(self, series: str | SeriesKey, minute: MinuteLike, minutes: int = 1) -> Expectation:
        """Expected distinct reporters of a service (or one child series) over [minute, minute + minutes).

        Uses the current state (the baseline as learned so far), so it is the chart's "normal" line; the
        band is the central `band_coverage` interval of the predictive distribution.
        """
        key = SeriesKey.total(series) if isinstance(series, str) else series
        row = self._index.row(key)
        if row is None:
            raise KeyError(f"unknown series {key.label()}")
        if minutes < 1:
            raise ValueError("minutes must be at least 1")
        service = int(self._index.service_of[row])
        level = self._level()
        start = epoch_minute(minute)
        expected_service = 0.0
        evidence = np.inf
        m = start
        while m < start + minutes:
            run = min(60 - m % 60, start + minutes - m)
            f, e = self._profiles.factor(slot_of(m), level[[service]], np.array([service]))
            expected_service += float(level[service] * f[0]) * run
            evidence = min(evidence, float(e[0]))
            m += run
        evidence_all = np.full(self._index.n_services, evidence)
        _, model_inv, service_phi = self._service_terms(evidence_all)
        share, r = self._series_terms(np.array([row]), model_inv, service_phi)
        expected = float(share[0]) * expected_service
        low, high = stats.band(expected, float(r[0]), self.config.band_coverage)
        return Expectation(expected, low, high)


def _group_max(values: NDArray[np.float64], groups: NDArray[np.integer], n_groups: int) -> NDArray:
    """Max of `values` per group (0 where a group has no positive value): only non-zero entries move."""
    out = np.zeros(n_groups)
    hot = np.flatnonzero(values > 0)
    if hot.size:
        np.maximum.at(out, groups[hot], values[hot])
    return out
