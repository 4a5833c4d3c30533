"""NAB scoring (Numenta Anomaly Benchmark v1.1 rules), written from the benchmark's description.

A detector emits one anomaly score per row. For a threshold ``t`` every row with ``score >= t`` is a
detection ("flag"). Per file:

- rows in the probationary period (the first 15 % of the rows, at most 750) are not scored at all;
- each labelled window earns ``tpWeight * S(y) / S(-1)`` for its *earliest* flagged row, where ``y`` is the
  row's relative position in the window (-1 at the first row, towards 0 at the last) and
  ``S(y) = 2 / (1 + exp(5 y)) - 1`` is NAB's scaled sigmoid; later flags in the same window are free;
- a window without any flag costs ``-fnWeight``;
- a flag outside every window costs ``fpWeight * S(y)`` where ``y`` is its distance past the end of the
  previous window in units of that window's width (so a flag just after a window costs almost nothing and
  one a window-width or more later costs about the full ``fpWeight``), or ``-fpWeight`` when no window
  precedes it (``S`` is -1 from ``y >= 3`` on).

The threshold is one per cost profile, chosen to maximise the total over the whole corpus, and the total
is normalised so that the detector that never fires scores 0 and the perfect detector (every window
flagged at its first row, nothing else) scores 100: ``100 * (raw - null) / (perfect - null)`` with
``null = -fnWeight * windows`` and ``perfect = tpWeight * windows``.

NAB itself searches the threshold with a local optimiser; here the corpus total is piecewise constant in
the threshold and changes only at the distinct scores, so we evaluate it exactly at every distinct score
with one sort and a cumulative sum: the result is the global optimum (never worse than NAB's search).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

PROBATION_FRACTION = 0.15
# NAB caps the probationary period at 15 % of 5000 rows.
PROBATION_CAP_ROWS = 5000


@dataclass(frozen=True)
class CostProfile:
    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


def load_profiles(path: Path) -> dict[str, CostProfile]:
    """Read NAB's profiles.json (``{name: {"CostMatrix": {"tpWeight": .., ...}}}``)."""
    raw = json.loads(path.read_text())
    out: dict[str, CostProfile] = {}
    for name, body in raw.items():
        m = body["CostMatrix"]
        out[name] = CostProfile(name, float(m["tpWeight"]), float(m["fpWeight"]), float(m["fnWeight"]))
    return out


def probation_length(n_rows: int, fraction: float = PROBATION_FRACTION) -> int:
    """Number of leading rows that are not scored: floor(15 % of the rows), at most 750."""
    return int(min(math.floor(fraction * n_rows), math.floor(fraction * PROBATION_CAP_ROWS)))


def scaled_sigmoid(position: np.ndarray | float) -> np.ndarray:
    """NAB's reward curve: 2/(1+exp(5y)) - 1, and exactly -1 from y >= 3 on (far after a window)."""
    y = np.asarray(position, dtype=float)
    # Clip the exponent only to avoid overflow warnings; the value is already -1 to machine precision.
    val = 2.0 / (1.0 + np.exp(np.clip(5.0 * y, -700.0, 700.0))) - 1.0
    return np.where(y >= 3.0, -1.0, val)


MAX_TP = float(scaled_sigmoid(-1.0))  # reward of a flag on a window's first row, before scaling to tpWeight


def window_rows(
    timestamps: Sequence[datetime], windows: Sequence[tuple[datetime, datetime]]
) -> list[tuple[int, int]]:
    """Map each window ``(start, end)`` to inclusive row indices.

    Like NAB, a window starts at the first row whose timestamp equals its start and ends at the first row at
    or after that one whose timestamp equals its end (so repeated timestamps and files that go backwards in
    time are handled the same way). If a bound is not an exact timestamp of the file we fall back to the
    first row at or after the start and the last row at or before the end.
    """
    out: list[tuple[int, int]] = []
    first_index: dict[datetime, int] = {}
    for i, ts in enumerate(timestamps):
        first_index.setdefault(ts, i)
    for start, end in windows:
        if start in first_index:
            lo = first_index[start]
        else:
            lo = next((i for i, ts in enumerate(timestamps) if ts >= start), len(timestamps))
        hi = next((i for i in range(lo, len(timestamps)) if timestamps[i] == end), None)
        if hi is None:
            below = [i for i in range(lo, len(timestamps)) if timestamps[i] <= end]
            hi = below[-1] if below else lo - 1
        if hi >= lo:
            out.append((lo, hi))
    return out


@dataclass
class LabelledFile:
    """Per-row scoring geometry of one file, independent of the detector and of the cost profile.

    ``window_id[i]`` is the window (0..k-1 within the file) containing row ``i``, or -1;
    ``unit[i]`` is the row's reward per unit weight: ``S(y)/S(-1)`` inside a window (multiplied by
    tpWeight), ``S(y)`` (negative) or -1 outside (multiplied by fpWeight); ``scored[i]`` is False in the
    probationary period. ``n_windows`` counts only windows with at least one scored row, as NAB does.
    """

    name: str
    n_rows: int
    windows: list[tuple[int, int]]
    window_id: np.ndarray
    unit: np.ndarray
    scored: np.ndarray
    n_windows: int = field(init=False)

    def __post_init__(self) -> None:
        live = np.unique(self.window_id[self.scored & (self.window_id >= 0)])
        self.n_windows = len(live)

    @property
    def category(self) -> str:
        return self.name.split("/", 1)[0] if "/" in self.name else ""


def label_file(name: str, n_rows: int, windows: Sequence[tuple[int, int]]) -> LabelledFile:
    """Build the per-row geometry from inclusive window row ranges (sorted, non-overlapping)."""
    window_id = np.full(n_rows, -1, dtype=np.int64)
    unit = np.full(n_rows, -1.0)
    idx = np.arange(n_rows, dtype=float)
    ordered = sorted(windows)
    for k, (lo, hi) in enumerate(ordered):
        width = hi - lo + 1
        window_id[lo : hi + 1] = k
        # NAB: position -(right - i + 1)/width: exactly -1 at the first row, -1/width at the last.
        unit[lo : hi + 1] = scaled_sigmoid(-(hi - idx[lo : hi + 1] + 1) / width) / MAX_TP
        nxt = ordered[k + 1][0] if k + 1 < len(ordered) else n_rows
        if hi + 1 < nxt:
            # After the window: distance past its last row in units of (width - 1).
            denom = max(width - 1, 1)
            unit[hi + 1 : nxt] = scaled_sigmoid(np.abs(idx[hi + 1 : nxt] - hi) / denom)
    scored = np.arange(n_rows) >= probation_length(n_rows)
    return LabelledFile(name, n_rows, list(ordered), window_id, unit, scored)


@dataclass(frozen=True)
class FileResult:
    name: str
    raw: float
    n_windows: int
    tp: int  # windows detected
    fn: int  # windows missed
    fp: int  # flagged rows outside windows (scored rows only)


def score_file(lab: LabelledFile, scores: np.ndarray, threshold: float, profile: CostProfile) -> FileResult:
    """Raw NAB score of one file at a fixed threshold (flag = score >= threshold)."""
    flags = (np.asarray(scores, dtype=float) >= threshold) & lab.scored
    outside = flags & (lab.window_id < 0)
    raw = float(np.sum(lab.unit[outside])) * profile.fp_weight
    tp = 0
    live = np.unique(lab.window_id[lab.scored & (lab.window_id >= 0)])
    for k in live:
        hit = np.flatnonzero(flags & (lab.window_id == k))
        if hit.size:
            tp += 1
            raw += profile.tp_weight * float(lab.unit[hit[0]])  # earliest flag has the largest reward
        else:
            raw -= profile.fn_weight
    return FileResult(lab.name, raw, len(live), tp, len(live) - tp, int(outside.sum()))


def null_and_perfect(n_windows: int, profile: CostProfile) -> tuple[float, float]:
    return -profile.fn_weight * n_windows, profile.tp_weight * n_windows


def normalise(raw: float, n_windows: int, profile: CostProfile) -> float:
    """100 * (raw - null) / (perfect - null); NaN when there is no window to normalise by."""
    null, perfect = null_and_perfect(n_windows, profile)
    if perfect == null:
        return float("nan")
    return 100.0 * (raw - null) / (perfect - null)


def _row_deltas(lab: LabelledFile, scores: np.ndarray, profile: CostProfile) -> tuple[np.ndarray, np.ndarray]:
    """For the scored rows: (score, delta) such that the file's raw score at threshold t equals
    ``-fnWeight * n_windows + sum(delta[score >= t])``.

    Outside windows the delta is the row's own FP cost. Inside a window, taking the window's rows by
    decreasing score (the order in which a falling threshold flags them), the window's value goes from
    -fnWeight to tpWeight * (best reward flagged so far); each row's delta is its step in that running
    value, so any prefix of the order sums to the right window value.
    """
    s = np.asarray(scores, dtype=float)[lab.scored]
    wid = lab.window_id[lab.scored]
    unit = lab.unit[lab.scored]
    delta = np.where(wid < 0, unit * profile.fp_weight, 0.0)
    for k in np.unique(wid[wid >= 0]):
        pos = np.flatnonzero(wid == k)
        order = pos[np.argsort(-s[pos], kind="stable")]
        running = profile.tp_weight * np.maximum.accumulate(unit[order])
        delta[order] = np.diff(np.concatenate(([-profile.fn_weight], running)))
    return s, delta


@dataclass(frozen=True)
class SweepResult:
    threshold: float
    raw: float
    null: float
    perfect: float
    score: float  # normalised


def sweep_threshold(
    files: Sequence[LabelledFile], scores: Mapping[str, np.ndarray], profile: CostProfile
) -> SweepResult:
    """Exact corpus-wide threshold optimisation for one profile.

    Evaluates the corpus total at every distinct score (flag = score >= t) and at "never flag", and
    returns the best; among equal totals the highest threshold wins (fewest flags).
    """
    all_s: list[np.ndarray] = []
    all_d: list[np.ndarray] = []
    n_windows = 0
    for lab in files:
        s, d = _row_deltas(lab, scores[lab.name], profile)
        all_s.append(s)
        all_d.append(d)
        n_windows += lab.n_windows
    null, perfect = null_and_perfect(n_windows, profile)
    s = np.concatenate(all_s) if all_s else np.zeros(0)
    d = np.concatenate(all_d) if all_d else np.zeros(0)
    best_t, best_raw = math.inf, null  # "never flag"
    if s.size:
        order = np.argsort(-s, kind="stable")
        s_sorted = s[order]
        total = null + np.cumsum(d[order])
        # A threshold t flags every row with score >= t: evaluate at the last row of each group of ties.
        ends = np.flatnonzero(np.append(s_sorted[1:] != s_sorted[:-1], True))
        i = ends[int(np.argmax(total[ends]))]
        if total[i] > best_raw + 1e-12:
            best_t, best_raw = float(s_sorted[i]), float(total[i])
    score = 100.0 * (best_raw - null) / (perfect - null) if perfect != null else float("nan")
    return SweepResult(best_t, best_raw, null, perfect, score)
