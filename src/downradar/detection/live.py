"""Live detection: once a minute, the last complete minute's report counts go through the detector, its
findings with the minute's probe results and provider page changes through fusion, and the fused findings
through the automatic-incident code. On start it learns from the stored history first.

The detector is pure and not thread-safe; every use of it here happens under one lock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from downradar.core.catalog import Catalog
from downradar.core.clock import Clock
from downradar.core.model import ProbeResult, UpstreamState
from downradar.detect import (
    Detector,
    DetectorConfig,
    Expectation,
    SeriesKey,
    TickResult,
    epoch_minute,
    minute_datetime,
)
from downradar.detect.fusion import Fusion
from downradar.detect.probe_state import ProbeTracker, ProbeVerdict
from downradar.detection.evidence import (
    latest,
    minute_end,
    results_by_minute,
    stored_rules,
    upstream_before,
    upstream_by_minute,
)
from downradar.detection.series import MinuteRow, series_counts
from downradar.incidents.automatic import AutomaticIncidents, AutomaticPolicy
from downradar.store import changes
from downradar.store.schema import report_minutes

log = logging.getLogger("downradar.detection")
HISTORY = timedelta(days=14)
APPLY_HISTORY = timedelta(hours=6)  # findings older than this at start-up only train the detector
EVIDENCE_MINUTES = 60  # minutes of probe and provider history read before the first applied minute
GRACE = timedelta(seconds=3)  # real time: a minute's last reports are committed within this after it ends


@dataclass(frozen=True)
class _Evidence:
    results: dict[int, list[ProbeResult]]
    changes: dict[int, list[UpstreamState]]


class LiveDetection:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        clock: Clock,
        config: DetectorConfig | None = None,
        policy: AutomaticPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.detector = Detector(config)
        self.automatic = AutomaticIncidents(catalog, policy)
        self.fusion = Fusion()
        self.probes = ProbeTracker()
        self.official: dict[str, UpstreamState] = {}  # providers' states as of the last minute processed
        self.verdicts: list[ProbeVerdict] = []  # probes' verdicts at the end of the last minute processed
        self._evidence_next: int | None = None  # the first minute whose probes and pages are not yet read
        self._lock = threading.Lock()
        self._next_minute: int | None = None  # epoch minute not yet processed
        self._scores: dict[str, float] = {}

    def last_complete_minute(self, now: datetime) -> int:
        return epoch_minute(now - self._grace()) - 1

    def _grace(self) -> timedelta:
        """GRACE in clock time: committing takes real time, so on an accelerated clock it spans more."""
        return GRACE * self.clock.speed

    def catch_up(self) -> int:
        """Process every complete minute not yet seen (all of the stored history on the first call).

        Until there are reports, only probes and provider pages are read (the last hour of them at first),
        and the detector waits: the first reports, history included, are then all learned from.
        """
        now = self.clock.now()
        last = self.last_complete_minute(now)
        with self._lock:
            first = self._next_minute if self._next_minute is not None else self._history_start(now)
            if first is None:
                return self._evidence_only(now, last)
            if first > last:
                return 0
            counts = self._read(first, last)
            apply_from = epoch_minute(now - APPLY_HISTORY)
            evidence_from = max(first, apply_from - EVIDENCE_MINUTES, self._evidence_next or first)
            evidence = self._evidence(evidence_from, last)
            for minute in range(first, last + 1):
                result = self.detector.observe(minute, series_counts(counts.get(minute, ())))
                for finding in result.findings:
                    self._scores[finding.service] = 0.0 if finding.state == "closed" else finding.score
                if minute >= evidence_from:
                    self._fuse(minute, result, evidence, apply=minute >= apply_from, now=now)
            self._next_minute = self._evidence_next = last + 1
            self._tell_pages()  # the minute's counts, scores and bands show on the pages
            return last - first + 1

    def _evidence_only(self, now: datetime, last: int) -> int:
        first = self._evidence_next if self._evidence_next is not None else last - EVIDENCE_MINUTES
        if first > last:
            return 0
        evidence = self._evidence(first, last)
        for minute in range(first, last + 1):
            self._fuse(minute, TickResult(minute_datetime(minute), ()), evidence, apply=True, now=now)
        self._evidence_next = last + 1
        self._tell_pages()
        return last - first + 1

    def _tell_pages(self) -> None:
        """A change note on this detector's engine: the app serving from it renders its pages anew."""
        with self.engine.begin() as conn:
            changes.record(conn, "detector")

    def _evidence(self, first: int, last: int) -> _Evidence:
        """Probe results and page changes of minutes first..last (and the rules and states they need)."""
        with self.engine.connect() as conn:
            self.probes.set_rules(stored_rules(conn))
            if self._evidence_next is None:
                self.official = upstream_before(conn, first)
            if first > last:
                return _Evidence({}, {})
            return _Evidence(results_by_minute(conn, first, last), upstream_by_minute(conn, first, last))

    def _fuse(
        self, minute: int, result: TickResult, evidence: _Evidence, *, apply: bool, now: datetime
    ) -> None:
        self.probes.observe(evidence.results.get(minute, ()))
        self.official = latest(evidence.changes.get(minute, ()), self.official)
        self.verdicts = self.probes.verdicts(minute_end(minute))
        fused = self.fusion.step(result, self.verdicts, self.official)
        if fused and apply:
            moment = min(minute_datetime(minute + 1), now)
            with self.engine.begin() as conn:
                self.automatic.apply_fused(conn, fused, moment)

    def _history_start(self, now: datetime) -> int | None:
        """The first stored minute of the last HISTORY; None while there is none (nothing to learn yet)."""
        query = select(func.min(report_minutes.c.minute)).where(report_minutes.c.minute >= now - HISTORY)
        with self.engine.connect() as conn:
            first = conn.scalar(query)
        return epoch_minute(first) if first is not None else None

    def _read(self, first: int, last: int) -> dict[int, list[MinuteRow]]:
        query = select(
            report_minutes.c.minute,
            report_minutes.c.service_id,
            report_minutes.c.component,
            report_minutes.c.region,
            report_minutes.c.symptom,
            report_minutes.c.clients,
        ).where(
            report_minutes.c.minute >= minute_datetime(first),
            report_minutes.c.minute < minute_datetime(last + 1),
        )
        by_minute: dict[int, list[MinuteRow]] = defaultdict(list)
        with self.engine.connect() as conn:
            for minute, *row in conn.execute(query):
                by_minute[epoch_minute(minute)].append(tuple(row))
        return by_minute

    def baseline(self, service: str, start: datetime, minutes: int) -> Expectation | None:
        """The detector's expectation for a service over a span, or None before it has seen the service."""
        with self._lock:
            try:
                return self.detector.baseline(SeriesKey.total(service), start, minutes)
            except KeyError:
                return None

    def bands(self, service: str, starts: list[datetime], minutes: int) -> list[Expectation] | None:
        """The expectation over each span (for a chart's "usual level" band), or None for a new service."""
        with self._lock:
            try:
                return [self.detector.baseline(SeriesKey.total(service), start, minutes) for start in starts]
            except KeyError:
                return None

    def score(self, service: str) -> float:
        """The service's surprise score in the last minute processed (0 while no incident is open)."""
        return self._scores.get(service, 0.0)

    async def run_forever(self) -> None:
        """Tick on the clock (just after each minute ends, plus the grace); a failure is logged, not fatal."""
        while True:
            try:
                processed = await asyncio.to_thread(self.catch_up)
                if processed > 1:
                    log.info("detector caught up on %d minutes", processed)
            except Exception:
                log.exception("detection tick failed; retrying next minute")
            now = self.clock.now()
            # The moment the next minute counts as complete (see last_complete_minute).
            next_tick = minute_datetime(self.last_complete_minute(now) + 2) + self._grace()
            await self.clock.sleep((next_tick - now).total_seconds())
