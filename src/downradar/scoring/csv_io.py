"""CSV I/O for one generic time series (``timestamp,value``) and its per-row anomaly scores.

Kept apart from :mod:`downradar.scoring.univariate` so the scorer itself stays pure (no I/O).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from downradar.scoring.univariate import ScorerConfig, fire_score, score_rows


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 (``2014-04-01 00:00:00``, ``...T...``, fractional seconds, ``Z``) or Unix seconds (UTC)."""
    text = text.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.fromtimestamp(float(text), UTC)


def read_series_csv(path: str | Path) -> list[tuple[datetime, float]]:
    """Rows of a ``timestamp,value`` CSV (header optional), in file order.

    Rows are *not* sorted or de-duplicated: the scorer must see the series as it came. Empty or
    unparseable values become NaN (the scorer treats them as missing).
    """
    rows: list[tuple[datetime, float]] = []
    with open(path, newline="") as fh:
        for i, rec in enumerate(csv.reader(fh)):
            if not rec or not rec[0].strip():
                continue
            try:
                ts = parse_timestamp(rec[0])
            except ValueError:
                if i == 0:
                    continue  # header line
                raise ValueError(f"{path}: line {i + 1}: bad timestamp {rec[0]!r}") from None
            try:
                value = float(rec[1]) if len(rec) > 1 and rec[1].strip() else math.nan
            except ValueError:
                value = math.nan
            rows.append((ts, value))
    return rows


def write_scores_csv(
    path: str | Path, rows: Iterable[tuple[datetime, float]], scores: Iterable[float]
) -> None:
    """Write ``timestamp,value,anomaly_score`` (NAB's results layout, minus the label column)."""
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["timestamp", "value", "anomaly_score"])
        for (ts, value), score in zip(rows, scores, strict=True):
            out.writerow([ts.isoformat(sep=" "), repr(float(value)), f"{float(score):.6f}"])


def score_series_csv(
    data: str | Path, out: str | Path, config: ScorerConfig | None = None
) -> tuple[int, int]:
    """Score ``data`` (``timestamp,value``) into ``out`` (``timestamp,value,anomaly_score``).

    Returns ``(rows, alarms)``: the number of rows and of rows at or above the scorer's fire level.
    """
    rows = read_series_csv(data)
    scores = list(score_rows(rows, config))
    write_scores_csv(out, rows, scores)
    return len(rows), sum(1 for s in scores if s >= fire_score(config))
