"""The detector: per-minute distinct-reporter counts in, per-service incident decisions out.

Model, per series (a service's total, or one of its components, regions or symptoms):

    expected reporters in minute t   mu(t) = level(service) x profile(service, hour of week of t) x share
    predictive count over a window   negative binomial with mean sum(mu) and shape r, where
                                     1/r = 1/evidence(level) + 1/evidence(profile) [+ 1/evidence(share)] + phi

The level is a decayed Gamma posterior (reports / profile exposure), so a young service is honestly
uncertain; the profile lives in baseline.py; a child's share is a decayed Gamma posterior of its reports
per report of its service; phi is the series' extra-Poisson dispersion, from decayed moments of the
per-minute residuals. Surprise on each window (1, 5, 15 min) = -log10 P(X >= x); see stats.py.

A service opens an incident when its total or any child scores >= open_score on a window with at least
min_ratio times the expectation, the series having at least min_clients distinct reporters in the 15
minutes, after a warm-up, and still does after discounting what a flood could have added. A service and
its children learn nothing in a minute where it looks anomalous (config.learn_score) or has an incident.

Expectations and shapes change slowly, so they are refreshed every `refresh_minutes` (and at each new hour
and new series); a tick then costs a few dozen vectorised operations over all series.

Memory per series (all 32-bit): 30 ring counts (120 B) + 3 window sums and the 15 minutes before them
(16 B) + rate/share posterior (8 B) + dispersion moments (8 B) + service row and dimension (5 B) = 157 B
of state, plus ~60 B of refreshed expectations (rates, shape, window bars) and ~250 B for its key in the
registry dict. Per service on top: profile 168 float32 + 168 uint8 (840 B) + ~60 B of scalars. Arrays
grow by doubling, so up to half of them can be headroom. bench/detector_scale.py measures it: with
1.05 M series in 50 k services on a shared 2-core machine (2026-12-01), 896 B of peak RSS per series all
told (interpreter included; 763 B the detector's own), ticks of 50 ms (median), 110 ms (expectations
refreshed) and 0.24 s for the very first (Detector.nbytes counts the arrays, headroom included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from downradar.detect import stats
from downradar.detect.baseline import SLOTS, Profiles, slot_of
from downradar.detect.config import DetectorConfig
from downradar.detect.hysteresis import IncidentStates, Transitions
from downradar.detect.localise import Share, rank
from downradar.detect.results import (
    Expectation,
    Finding,
    ImpactLevel,
    IndexedCounts,
    MinuteLike,
    State,
    TickResult,
    epoch_minute,
    minute_datetime,
)
from downradar.detect.series import DIMENSIONS, Scalar, SeriesIndex, SeriesKey, grown

_UNSEEN = -1


@dataclass(frozen=True)
class _Model:
    """Expectations derived from the learned state; rebuilt every few minutes, not every tick."""

    made_at: int
    n: int  # series and services it covers
    s: int
    level: NDArray[np.float64]  # per service: reports per minute, deseasonalised
    rate: NDArray[np.float32]  # (2, n): expected per minute in this hour and in the previous one
    rate_squared: NDArray[np.float32]  # (n,) rate[0] ** 2, for the dispersion moments
    r: NDArray[np.float32]  # (n,) NB shape
    exposure: NDArray[np.float32]  # (n,) per-minute exposure of a total's rate posterior (0 for children)
    parent: NDArray[np.int32]  # (n,) row of each series' service total
    child: NDArray[np.float32]  # (n,) 1 for children, 0 for totals
    is_total: NDArray[np.bool_]  # (n,)
    decay: NDArray[np.float32]  # (n,) per-minute decay of the rate/share posterior


@dataclass(frozen=True)
class _Tick:
    """One minute's per-series arrays (windows x series where 2-D), alive only while the tick runs."""

    minute: int
    x: NDArray[np.int32]
    observed: NDArray[np.int32]
    expected: NDArray[np.float32]
    expected_now: NDArray[np.float32]
    r: NDArray[np.float32]


@dataclass
class _Tally:
    """Per open incident: its series rows and their reporters / expectation summed since the lead-up."""

    rows: list[int]
    observed: NDArray[np.float64]
    expected: NDArray[np.float64]


class Detector:
    """Feed it minute after minute (event time; minutes without reports may be skipped). Deterministic."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = cfg = config or DetectorConfig()
        self._index = SeriesIndex()
        self._windows = np.asarray(cfg.windows, dtype=np.int64)
        # Per series: the last 2 x 15 minutes of counts, the window sums, and the 15 minutes before the
        # longest window (what a flood already brought); the Gamma posterior of its rate (totals:
        # reports / profile exposure) or share (children: reports / reports of their service); the
        # decayed moments behind phi.
        self._ring = np.zeros((2 * cfg.windows[-1], 0), dtype=np.int32)
        self._sums = np.zeros((len(cfg.windows), 0), dtype=np.int32)
        self._before = np.zeros(0, dtype=np.int32)
        self._posterior = np.zeros((2, 0), dtype=np.float32)  # rows: reports (a), exposure (b)
        self._moments = np.zeros((2, 0), dtype=np.float32)  # rows: sum of (x-mu)^2 - x, sum of mu^2
        # Per service.
        self._profiles = Profiles(cfg.profile_week_prior, cfg.profile_day_prior, cfg.profile_memory_minutes)
        self._first_seen = np.zeros(0, dtype=np.int64)
        self._newest = _UNSEEN  # latest first_seen: while it is recent, some windows are truncated
        self._reports = np.zeros(0, dtype=np.float32)  # decayed reports: a new child's known zeros
        self._frozen_for = np.zeros(0, dtype=np.int32)  # consecutive minutes without learning
        self._states = IncidentStates()
        self._triggers: dict[int, tuple[int, int]] = {}  # open incident -> (series row, window)
        self._tallies: dict[int, _Tally] = {}
        self._model: _Model | None = None
        self._steady: tuple[_Model, tuple[NDArray[np.floating], ...]] | None = None
        self._unseen = False  # services registered but not yet observed
        self._minute: int | None = None

        def decay(half_life: float) -> float:
            return float(0.5 ** (1.0 / half_life))

        self._decay_level = decay(cfg.level_half_life_minutes)
        self._decay_share = decay(cfg.share_half_life_minutes)
        self._decay_dispersion = decay(cfg.dispersion_half_life_minutes)
        # Tails are only computed above mean + k sd. Below 3 sd every Poisson/NB score is under 2.9, below
        # 2 sd under 1.7 (test_detect_units checks): no threshold that acts on a score can be reached there.
        acting = min(cfg.learn_score, cfg.close_score)
        self._cut_sd = 3.0 if acting >= 2.9 else 2.0 if acting >= 1.7 else 0.0
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

    @property
    def nbytes(self) -> int:
        """Bytes held in numpy arrays (state and refreshed expectations), registry dict not included."""
        arrays: list[NDArray[np.generic]] = [
            self._ring, self._sums, self._before, self._posterior, self._moments,
            self._profiles.ratio, self._profiles.visits, self._first_seen, self._reports, self._frozen_for,
            self._states.active, self._states.quiet, self._states.opened_at,
            self._index.service_of, self._index.dimension_of, self._index.total_row,
        ]  # fmt: skip
        if self._model is not None:
            m = self._model
            arrays += [
                m.level,
                m.rate,
                m.rate_squared,
                m.r,
                m.exposure,
                m.parent,
                m.child,
                m.is_total,
                m.decay,
            ]
        if self._steady is not None:
            arrays += list(self._steady[1])
        return sum(a.nbytes for a in arrays)

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
            self._unseen = self._unseen or bool(new_services)
            for row in new_series:
                if self._index.dimension_of[row] > 0:
                    self._posterior[1, row] = self._reports[self._index.service_of[row]]
            self._model = None
        return rows

    def _grow(self) -> None:
        series = self._index.service_of.shape[0]
        services = self._index.total_row.shape[0]
        if self._before.shape[0] < series:
            self._ring, self._sums = _widened(self._ring, series), _widened(self._sums, series)
            self._posterior, self._moments = (
                _widened(self._posterior, series),
                _widened(self._moments, series),
            )
            self._before = grown(self._before, series)
        if self._first_seen.shape[0] < services:
            self._profiles.grow(services)
            self._first_seen = grown(self._first_seen, services)
            self._reports = grown(self._reports, services)
            self._frozen_for = grown(self._frozen_for, services)
            self._states.grow(services)

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
        if not isinstance(counts, IndexedCounts):
            # Registered after the skipped minutes: a series named in this minute exists from this minute.
            rows = self.register(counts.keys()).astype(np.int64)
        findings = self._tick(t, rows, values)
        current = {f.service for f in findings}
        merged = [f for s, f in closed.items() if s not in current] + findings
        return TickResult(minute_datetime(t), tuple(merged))

    def _tick(self, t: int, rows: NDArray[np.int64], values: NDArray[np.int64]) -> list[Finding]:
        # Per-series arrays are 32-bit (counts and expectations need no more); tails are computed in 64.
        cfg = self.config
        idx = self._index
        n, s = idx.n_series, idx.n_services
        self._minute = t
        if n == 0:
            return []
        first_seen = self._first_seen[:s]
        if self._unseen:
            first_seen[first_seen == _UNSEEN] = t
            self._newest, self._unseen = t, False
        model = self._current_model(t)
        svc = idx.service_of[:n]
        tot = idx.total_row[:s]

        # Window sums (windows x series): subtract what leaves each window before the ring is overwritten.
        # For the 1-minute window this leaves exactly this minute's count.
        x = np.bincount(rows, weights=values, minlength=n).astype(np.int32)
        ring_len, longest = self._ring.shape[0], int(self._windows[-1])
        observed = self._sums[:, :n]
        observed += x - self._ring[(t - self._windows) % ring_len, :n]
        before = self._before[:n]
        before += self._ring[(t - longest) % ring_len, :n] - self._ring[(t - 2 * longest) % ring_len, :n]
        self._ring[t % ring_len, :n] = x

        # Expectations: a window may reach into the previous hour, or (young services) predate the series.
        # Most minutes neither happens, and then they are the same as a minute ago.
        age = t - first_seen + 1
        steady = t - self._newest + 1 >= longest and t % 60 + 1 >= longest
        if steady:
            expected, bar, ratio_bar = self._steady_expectations(model)
        else:
            if t - self._newest + 1 >= longest:
                this_hour = np.minimum(self._windows, t % 60 + 1)[:, None].astype(np.float32)
                earlier = self._windows[:, None] - this_hour
            else:
                span = np.minimum(self._windows[:, None], age).astype(np.float32)
                this_hour = np.minimum(span, t % 60 + 1)[:, svc]
                earlier = span[:, svc] - this_hour
            expected = this_hour * model.rate[0] + earlier * model.rate[1]
            bar, ratio_bar = _bars(expected, model.r, self._cut_sd, cfg.min_ratio)
        expected_now, r = model.rate[0], model.r

        # Only series with enough distinct reporters in the longest window (the 15-minute dedup window, so
        # its count is distinct clients) give evidence for opening and staying open: one report in a rare
        # region is "surprising" yet says nothing about an outage. The surprise itself may come from a
        # shorter window, where a fresh outage stands out soonest. Service totals are scored whatever
        # their count, because their surprise also pauses learning (below). Tails are only computed
        # above `bar` (see _cut_sd). These cuts keep a quiet million series cheap.
        counted = observed[-1] >= cfg.min_clients
        compute = (counted | model.is_total) & (observed > bar)
        if compute.any():
            score = np.zeros(observed.shape, dtype=np.float32)
            shapes = np.broadcast_to(r, score.shape)[compute]
            score[compute] = stats.surprise(observed[compute], expected[compute], shapes)
            best = score.max(axis=0)
            open_scores = np.where(counted & (observed >= ratio_bar), score, 0.0)
            candidates = open_scores >= cfg.open_score
            if candidates.any():
                # A flood (a few clients re-counted every dedup window) was already there 15 minutes ago:
                # up to `flood_allowance` of the reporters seen then are discounted, and the rest must
                # still surprise.
                allowance = np.minimum(before, cfg.flood_allowance)
                rest = (observed - allowance)[candidates]
                robust = stats.surprise(
                    rest, expected[candidates], np.broadcast_to(r, score.shape)[candidates]
                )
                open_scores[candidates] = np.where(robust >= cfg.flood_score, open_scores[candidates], 0.0)
            best_open = open_scores.max(axis=0)
            evidence, group_open = _group_max(np.stack([np.where(counted, best, 0.0), best_open]), svc, s)
        else:  # the usual quiet minute: nothing above its bar
            best = best_open = np.zeros(n, dtype=np.float32)
            open_scores = np.zeros(observed.shape, dtype=np.float32)
            evidence = group_open = np.zeros(s)

        # Learning stops while the service looks anomalous (its total, even on a few reports: the first
        # reporters of an outage on a tiny service must not become its baseline; or any series with
        # enough reporters), except during the warm-up (everything is surprising to an empty baseline)
        # and once the anomaly has lasted so long that it is the new normal.
        states = self._states
        warm = age > cfg.warmup_minutes
        frozen = states.active[:s] | (np.maximum(evidence, best[tot]) >= cfg.learn_score)
        frozen_for = self._frozen_for[:s]
        frozen_for[:] = np.where(frozen, frozen_for + 1, 0)
        learn = ~frozen | ~warm | (frozen_for > cfg.relearn_after_minutes)
        self._learn(t, x, model, learn, age > cfg.profile_after_minutes)

        transitions = states.step(
            t, group_open, evidence, warm, cfg.open_score, cfg.close_score, cfg.close_quiet_minutes
        )
        if not transitions.any:
            return []
        for service in np.flatnonzero(transitions.opened):
            group = self._group_rows(int(service))
            top = group[int(np.argmax(best_open[group]))]
            self._triggers[int(service)] = (top, int(self._windows[np.argmax(open_scores[:, top])]))
        return self._findings(_Tick(t, x, observed, expected, expected_now, r), transitions, evidence)

    def _learn(
        self,
        t: int,
        x: NDArray[np.int32],
        model: _Model,
        learn: NDArray[np.bool_],
        profiling: NDArray[np.bool_],
    ) -> None:
        """Fold minute t into the baselines of the services allowed to learn (and their children).

        Updates run in place over all series; the few rows that must not learn are put back after, which
        is cheaper than masking every operation. The profile and the dispersion only learn once the level
        has seen a whole day: before, count / level mostly measures how far the young level still is from
        a daily mean, and the profile would remember that for weeks.
        """
        idx = self._index
        n, s = idx.n_series, idx.n_services
        svc = idx.service_of[:n]
        xf = x.astype(np.float32)
        x_service = xf[idx.total_row[:s]]

        posterior = self._posterior[:, :n]
        hold = np.flatnonzero(~learn[svc]) if not learn.all() else None
        kept = posterior[:, hold] if hold is not None else None
        posterior *= model.decay
        posterior[0] += xf
        posterior[1] += model.exposure + xf[model.parent] * model.child
        if hold is not None:
            posterior[:, hold] = kept

        both = learn & profiling
        if both.any():  # else every row would be put back: nothing to do (the first day, for one)
            moments = self._moments[:, :n]
            hold = np.flatnonzero(~both[svc]) if not both.all() else None
            kept = moments[:, hold] if hold is not None else None
            moments *= self._decay_dispersion
            moments[0] += (xf - model.rate[0]) ** 2 - xf
            moments[1] += model.rate_squared
            if hold is not None:
                moments[:, hold] = kept
            self._profiles.learn(slot_of(t), x_service / model.level, both)
        reports = self._reports[:s]
        reports[:] = np.where(learn, self._decay_share * reports + x_service, reports)

    # --- expectations ------------------------------------------------------------------------------

    def _current_model(self, t: int) -> _Model:
        model = self._model
        if (
            model is None
            or model.n != self._index.n_series
            or t - model.made_at >= self.config.refresh_minutes
            or t // 60 != model.made_at // 60
        ):
            model = self._model = self._build_model(t)
        return model

    def _steady_expectations(self, model: _Model) -> tuple[NDArray[np.floating], ...]:
        """Window expectations (and their bars) once every window lies within the current hour."""
        if self._steady is None or self._steady[0] is not model:
            expected = self._windows[:, None].astype(np.float32) * model.rate[0]
            bars = _bars(expected, model.r, self._cut_sd, self.config.min_ratio)
            self._steady = (model, (expected, *bars))
        return self._steady[1]

    def _level(self) -> NDArray[np.float64]:
        """Deseasonalised rate (reports per minute) of every service: posterior mean."""
        cfg = self.config
        tot = self._index.total_row[: self._index.n_services]
        a, b = self._posterior[:, tot]
        level: NDArray[np.float64] = (a + cfg.level_prior_counts) / (b + cfg.level_prior_minutes)
        return level

    def _shape_terms(
        self, rows: slice | NDArray[np.integer], evidence: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per series in `rows`: share of its service's expectation (1 for totals) and NB shape r.

        1/r adds the uncertainty of the service's level and profile (`evidence`, per service), of the
        child's share, and the series' extra-Poisson dispersion (a child with little data borrows its
        service's).
        """
        cfg = self.config
        idx = self._index
        tot = idx.total_row[: idx.n_services]
        a_tot = self._posterior[0, tot].astype(np.float64)
        model_inv = 1.0 / (a_tot + cfg.level_prior_counts) + 1.0 / evidence
        service_phi = np.clip(
            self._moments[0, tot] / (self._moments[1, tot] + cfg.dispersion_prior), 0.0, cfg.dispersion_max
        )
        svc = idx.service_of[rows]
        child = idx.dimension_of[rows] > 0
        a, b = self._posterior[:, rows].astype(np.float64)
        num, den = self._moments[:, rows]
        share = np.where(child, (a + cfg.share_prior_counts) / (b + cfg.share_prior_exposure), 1.0)
        prior_phi = np.where(child, service_phi[svc], 0.0)
        phi = np.clip(
            (num + cfg.dispersion_prior * prior_phi) / (den + cfg.dispersion_prior),
            0.0,
            cfg.dispersion_max,
        )
        inv = model_inv[svc] + np.where(child, 1.0 / (a + cfg.share_prior_counts), 0.0) + phi
        return share, stats.shape(inv)

    def _build_model(self, t: int) -> _Model:
        idx = self._index
        n, s = idx.n_series, idx.n_services
        svc = idx.service_of[:n]
        level = self._level()
        slot = slot_of(t)
        now, now_evidence = self._profiles.factor(slot, level, slice(0, s))
        prev, prev_evidence = self._profiles.factor((slot - 1) % SLOTS, level, slice(0, s))
        share, r = self._shape_terms(slice(0, n), np.minimum(now_evidence, prev_evidence))
        per_minute = share * level[svc]
        child = idx.dimension_of[:n] > 0
        return _Model(
            made_at=t,
            n=n,
            s=s,
            level=level,
            rate=np.stack([per_minute * now[svc], per_minute * prev[svc]]).astype(np.float32),
            rate_squared=((per_minute * now[svc]) ** 2).astype(np.float32),
            r=r.astype(np.float32),
            exposure=np.where(child, 0.0, now[svc]).astype(np.float32),
            parent=idx.total_row[svc],
            child=child.astype(np.float32),
            is_total=~child,
            decay=np.where(child, self._decay_share, self._decay_level).astype(np.float32),
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
        expected_service, evidence = 0.0, np.inf
        m = start
        while m < start + minutes:
            run = min(60 - m % 60, start + minutes - m)
            factor, slot_evidence = self._profiles.factor(slot_of(m), level[[service]], np.array([service]))
            expected_service += float(level[service] * factor[0]) * run
            evidence = min(evidence, float(slot_evidence[0]))
            m += run
        share, r = self._shape_terms(np.array([row]), np.full(self._index.n_services, evidence))
        expected = float(share[0]) * expected_service
        low, high = stats.band(expected, float(r[0]), self.config.band_coverage)
        return Expectation(expected, low, high)

    # --- reporting -------------------------------------------------------------------------------------

    def _findings(self, tick: _Tick, tr: Transitions, evidence: NDArray[np.float64]) -> list[Finding]:
        out: list[Finding] = []
        for row in np.flatnonzero(tr.opened | tr.ongoing | tr.recovering | tr.closed):
            service = int(row)
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
            tally = _Tally(
                rows, tick.observed[-1, rows].astype(np.float64), tick.expected[-1, rows].astype(np.float64)
            )
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
        span = min(int(self._windows[k_rate]), tick.minute - int(self._first_seen[service]) + 1)
        # Impact from the size of the departure of the service total, read on its most surprising window
        # (a cliff shows first in the 1-minute window, a ramp in the 15-minute one).
        total_scores = stats.surprise(tick.observed[:, total], tick.expected[:, total], tick.r[total])
        k = int(np.argmax(total_scores)) if total_scores.max() > 0 else len(cfg.windows) - 1
        ratio = float(tick.observed[k, total]) / max(float(tick.expected[k, total]), 1e-9)
        impact: ImpactLevel = (
            "critical" if ratio >= cfg.critical_ratio else "major" if ratio >= cfg.major_ratio else "minor"
        )
        # The children's own scores (best window), computed here without the tick's cuts: few rows.
        group = np.asarray(tally.rows)
        child_scores = stats.surprise(tick.observed[:, group], tick.expected[:, group], tick.r[group]).max(
            axis=0
        )
        dims = idx.dimension_of[group]
        parts: dict[str, tuple[Share, ...]] = {}
        for d, dimension in enumerate(DIMENSIONS[1:], start=1):
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


def _bars(
    expected: NDArray[np.floating], r: NDArray[np.floating], sds: float, min_ratio: float
) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """Counts worth a tail computation (above mean + `sds` sd) and counts large enough to open (ratio)."""
    return expected + sds * np.sqrt(expected + expected**2 / r), min_ratio * expected


def _widened(array: NDArray[Scalar], columns: int) -> NDArray[Scalar]:
    """A 2-D array with its second axis extended (zeros) to `columns`."""
    out = np.zeros((array.shape[0], columns), dtype=array.dtype)
    out[:, : array.shape[1]] = array
    return out


def _group_max(
    values: NDArray[np.float64], groups: NDArray[np.integer], n_groups: int
) -> NDArray[np.float64]:
    """Max of each row of `values` (k x series) per group (k x groups; 0 where nothing is positive)."""
    out = np.zeros((values.shape[0], n_groups))
    hot = np.flatnonzero(values.any(axis=0))
    if hot.size:
        # One 1-D ufunc.at per row, in the output's dtype: numpy's fast path (2-D, or float32 values into
        # float64, take the generic path, ~10x slower). Casting float32 to float64 is exact.
        hot_groups = groups[hot]
        hot_values = values[:, hot].astype(np.float64)
        for k in range(values.shape[0]):
            np.maximum.at(out[k], hot_groups, hot_values[k])
    return out
