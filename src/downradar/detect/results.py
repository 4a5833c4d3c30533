"""What the detector hands out: findings per service and minute, expectations for charts; minute helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from downradar.detect.localise import Share, describe
from downradar.detect.series import SeriesKey

MinuteLike = datetime | int
State = Literal["opened", "ongoing", "recovering", "closed"]
ImpactLevel = Literal["minor", "major", "critical"]


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

    Zero counts may be left out; a row given twice has its counts added.
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
