"""Outage detection from crowdsourced reports: pure (arrays and timestamps in, decisions out, no I/O).

detector = Detector(DetectorConfig())
result = detector.observe(minute, {SeriesKey.total("chatgpt"): 40, SeriesKey("chatgpt", "region", "US"): 35})
for finding in result.findings: ...   # opened / ongoing / recovering / closed, with localisation
"""

from downradar.detect.config import DetectorConfig
from downradar.detect.detector import Detector
from downradar.detect.localise import Share
from downradar.detect.results import (
    Expectation,
    Finding,
    IndexedCounts,
    TickResult,
    epoch_minute,
    minute_datetime,
)
from downradar.detect.series import DIMENSIONS, SeriesKey

__all__ = [
    "DIMENSIONS",
    "Detector",
    "DetectorConfig",
    "Expectation",
    "Finding",
    "IndexedCounts",
    "SeriesKey",
    "Share",
    "TickResult",
    "epoch_minute",
    "minute_datetime",
]
