"""The counting rule live intake and replay share (intake/counting.py), on its own."""

from __future__ import annotations

from downradar.intake.counting import DEDUP_WINDOW, judge, minute_of

WINDOW = DEDUP_WINDOW.total_seconds()


def test_a_clients_first_report_counts_and_the_next_within_the_window_does_not() -> None:
    last: dict[str, float] = {}
    assert judge(last, "a", 1000.0, WINDOW)
    assert not judge(last, "a", 1000.0 + WINDOW - 1, WINDOW)
    assert judge(last, "a", 1000.0 + WINDOW, WINDOW)  # a window after the last counted one
    assert judge(last, "b", 1001.0, WINDOW)  # another client


def test_the_window_reaches_both_ways_and_a_late_report_never_moves_it_back() -> None:
    last: dict[str, float] = {}
    assert judge(last, "a", 5000.0, WINDOW)
    assert not judge(last, "a", 5000.0 - 60, WINDOW)  # sent a minute earlier, arrived later
    assert judge(last, "a", 5000.0 - WINDOW - 1, WINDOW)  # well before: counts...
    assert last["a"] == 5000.0  # ...but the later counted time stays the window's anchor
    assert not judge(last, "a", 5000.0 + 60, WINDOW)


def test_a_report_counts_in_the_minute_of_its_time() -> None:
    assert minute_of(0.0) == 0
    assert minute_of(59.999) == 0
    assert minute_of(60.0) == 1
    assert minute_of(1_772_409_617.0) == 1_772_409_617 // 60
