"""NAB scoring (bench/nab_scoring.py) against known facts of NAB v1.1, on tiny hand-made cases."""

from __future__ import annotations

import math
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.append(str(BENCH))  # bench/ is not a package; lowest precedence

from nab_scoring import (  # noqa: E402
    MAX_TP,
    CostProfile,
    label_file,
    load_profiles,
    normalise,
    probation_length,
    scaled_sigmoid,
    score_file,
    sweep_threshold,
    window_rows,
)

NAB = Path(__file__).resolve().parents[2] / "shared" / "nab"
STANDARD = CostProfile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
LOW_FN = CostProfile("reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0)

# 1000 rows: probation = 150 rows; windows at rows 300..399 and 700..799.
N = 1000
WINDOWS = [(300, 399), (700, 799)]


def _lab(windows: list[tuple[int, int]] = WINDOWS, n: int = N, name: str = "cat/f.csv"):
    return label_file(name, n, windows)


def _scores(flags: list[int], n: int = N) -> np.ndarray:
    s = np.zeros(n)
    s[flags] = 1.0
    return s


def test_probation_is_15_percent_capped_at_750() -> None:
    assert probation_length(1000) == 150
    assert probation_length(4032) == 604
    assert probation_length(15902) == 750
    assert probation_length(5) == 0


def test_scaled_sigmoid_landmarks() -> None:
    assert float(scaled_sigmoid(-1.0)) == pytest.approx(0.98661, abs=1e-5)  # window start
    assert float(scaled_sigmoid(-0.5)) == pytest.approx(0.84828, abs=1e-5)  # window middle
    assert float(scaled_sigmoid(0.0)) == pytest.approx(0.0, abs=1e-12)  # window end
    assert float(scaled_sigmoid(1.0)) == pytest.approx(-0.98661, abs=1e-5)  # a window-width after
    assert float(scaled_sigmoid(3.0)) == -1.0  # far after: full FP cost


def test_perfect_detector_scores_100_and_null_scores_0() -> None:
    lab = _lab()
    perfect = score_file(lab, _scores([300, 700]), 0.5, STANDARD)
    assert perfect.raw == pytest.approx(2.0)  # each window flagged at its start earns exactly tpWeight
    assert normalise(perfect.raw, 2, STANDARD) == pytest.approx(100.0)
    null = score_file(lab, np.zeros(N), 0.5, STANDARD)
    assert null.raw == pytest.approx(-2.0)
    assert normalise(null.raw, 2, STANDARD) == pytest.approx(0.0)
    assert (null.tp, null.fn, null.fp) == (0, 2, 0)


def test_detection_at_window_start_is_tp_weight_and_at_end_about_zero() -> None:
    lab = _lab([(300, 399)])
    start = score_file(lab, _scores([300]), 0.5, STANDARD)
    end = score_file(lab, _scores([399]), 0.5, STANDARD)
    middle = score_file(lab, _scores([350]), 0.5, STANDARD)
    assert start.raw == pytest.approx(1.0)
    assert end.raw == pytest.approx(float(scaled_sigmoid(-1 / 100)) / MAX_TP)
    assert 0 < end.raw < 0.03
    assert middle.raw == pytest.approx(float(scaled_sigmoid(-0.5)) / MAX_TP)


def test_only_the_first_detection_in_a_window_counts() -> None:
    lab = _lab([(300, 399)])
    once = score_file(lab, _scores([320]), 0.5, STANDARD)
    many = score_file(lab, _scores([320, 330, 360, 399]), 0.5, STANDARD)
    later_only = score_file(lab, _scores([360]), 0.5, STANDARD)
    assert many.raw == pytest.approx(once.raw)
    assert later_only.raw < once.raw
    assert many.tp == 1 and many.fp == 0


def test_false_positive_costs_fp_weight_before_any_window() -> None:
    lab = _lab()
    base = score_file(lab, _scores([300, 700]), 0.5, STANDARD)
    one_fp = score_file(lab, _scores([200, 300, 700]), 0.5, STANDARD)
    assert one_fp.fp == 1
    assert base.raw - one_fp.raw == pytest.approx(0.11)


def test_false_positive_is_cheap_just_after_a_window_and_full_later() -> None:
    lab = _lab()
    base = score_file(lab, _scores([300, 700]), 0.5, STANDARD)
    just_after = score_file(lab, _scores([300, 400, 700]), 0.5, STANDARD)
    one_width = score_file(lab, _scores([300, 399 + 99, 700]), 0.5, STANDARD)
    far = score_file(lab, _scores([300, 690, 700]), 0.5, STANDARD)
    # Position past the window is distance / (width - 1): 1/99 -> almost free, 1.0 -> S(1) * fpWeight.
    assert base.raw - just_after.raw == pytest.approx(-0.11 * float(scaled_sigmoid(1 / 99)))
    assert base.raw - just_after.raw < 0.01
    assert base.raw - one_width.raw == pytest.approx(0.11 * 0.98661, abs=1e-5)
    assert base.raw - far.raw == pytest.approx(0.11)  # 291 rows after a 100-row window: y >= 3


def test_missed_window_costs_fn_weight() -> None:
    lab = _lab()
    one_missed = score_file(lab, _scores([300]), 0.5, LOW_FN)
    assert one_missed.raw == pytest.approx(1.0 - 2.0)
    assert normalise(one_missed.raw, 2, LOW_FN) == pytest.approx(100 * (-1 + 4) / (2 + 4))


def test_probationary_rows_are_not_scored() -> None:
    lab = _lab()
    with_early_flags = score_file(lab, _scores([0, 10, 149, 300, 700]), 0.5, STANDARD)
    assert with_early_flags.fp == 0
    assert with_early_flags.raw == pytest.approx(2.0)
    flag_at_150 = score_file(lab, _scores([150, 300, 700]), 0.5, STANDARD)
    assert flag_at_150.fp == 1


def test_window_inside_probation_is_ignored() -> None:
    lab = _lab([(10, 20), (300, 399)])
    assert lab.n_windows == 1
    r = score_file(lab, _scores([300]), 0.5, STANDARD)
    assert r.raw == pytest.approx(1.0) and r.n_windows == 1


def test_threshold_sweep_finds_the_best_corpus_threshold() -> None:
    # Two files; scores are graded so that lower thresholds add first a TP, then FPs.
    a, b = _lab(name="x/a.csv"), _lab([(500, 599)], name="y/b.csv")
    sa = np.zeros(N)
    sa[[300, 700]] = 0.9  # both windows at their start
    sa[[200, 250, 260]] = 0.5  # three FPs
    sb = np.zeros(N)
    sb[550] = 0.6  # mid-window in b
    sb[[900]] = 0.95  # an FP that outranks everything
    scores = {"x/a.csv": sa, "y/b.csv": sb}
    res = sweep_threshold([a, b], scores, STANDARD)
    assert res.threshold == pytest.approx(0.6)
    expected_raw = 2.0 + float(scaled_sigmoid(-0.5)) / MAX_TP - 0.11
    assert res.raw == pytest.approx(expected_raw)
    assert res.null == pytest.approx(-3.0) and res.perfect == pytest.approx(3.0)
    assert res.score == pytest.approx(100 * (expected_raw + 3) / 6)


def test_sweep_matches_brute_force_on_random_scores() -> None:
    rng = np.random.default_rng(7)
    labs = [_lab(name="c/a.csv"), _lab([(200, 260), (600, 900)], name="c/b.csv"), _lab([], name="d/c.csv")]
    scores = {lab.name: np.round(rng.random(N) ** 8, 3) for lab in labs}  # many ties, like real detectors
    for profile in (STANDARD, LOW_FN):
        res = sweep_threshold(labs, scores, profile)
        candidates = np.unique(np.concatenate(list(scores.values())))
        brute = max(
            sum(score_file(lab, scores[lab.name], t, profile).raw for lab in labs) for t in candidates
        )
        assert res.raw == pytest.approx(max(brute, res.null))
        at_best = sum(score_file(lab, scores[lab.name], res.threshold, profile).raw for lab in labs)
        assert at_best == pytest.approx(res.raw)


def test_never_firing_detector_sweeps_to_zero() -> None:
    labs = [_lab()]
    res = sweep_threshold(labs, {labs[0].name: np.zeros(N)}, STANDARD)
    # Flagging every row (the only threshold) is worse than never flagging: null wins, score 0.
    assert res.score == pytest.approx(0.0)
    assert math.isinf(res.threshold)


def test_window_rows_follow_nab_timestamp_matching() -> None:
    t0 = datetime(2015, 1, 1)
    ts = [t0 + timedelta(minutes=5 * i) for i in range(10)]
    ts.insert(4, ts[3])  # a repeated timestamp
    rows = window_rows(ts, [(ts[2], ts[6])])
    assert rows == [(2, 6)]
    # A bound that is not a timestamp of the file falls back to the rows inside the interval.
    rows = window_rows(ts, [(t0 + timedelta(minutes=7), t0 + timedelta(minutes=23))])
    assert rows == [(2, 5)]


@pytest.mark.skipif(not (NAB / "profiles.json").is_file(), reason="NAB data (../shared/nab) not present")
def test_profiles_file_has_nab_weights() -> None:
    profiles = load_profiles(NAB / "profiles.json")
    assert profiles["standard"] == STANDARD
    assert profiles["reward_low_FP_rate"].fp_weight == pytest.approx(0.22)
    assert profiles["reward_low_FN_rate"].fn_weight == pytest.approx(2.0)
