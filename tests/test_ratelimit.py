"""The per-address limit on its own, on a clock the test moves: a burst of N, then one per period/N."""

from __future__ import annotations

from downradar.intake.ratelimit import ReportRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_n_then_one_every_period_over_n() -> None:
    clock = Clock()
    limiter = ReportRateLimiter("3/minute", clock=clock)
    assert [limiter.retry_after("a") for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("a") == 20  # the next allowance comes back after 60 s / 3
    clock.now += 19.5
    assert limiter.retry_after("a") == 1
    clock.now += 0.5
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") == 20


def test_addresses_have_their_own_allowance_and_refusals_cost_nothing() -> None:
    clock = Clock()
    limiter = ReportRateLimiter("2/second", clock=clock)
    assert [limiter.retry_after("a") for _ in range(5)] == [None, None, 1, 1, 1]
    assert limiter.retry_after("b") is None
    clock.now += 0.5  # refused hits did not push a's allowance further out
    assert limiter.retry_after("a") is None


def test_exactly_n_per_period_despite_rounding() -> None:
    limiter = ReportRateLimiter("1000/second", clock=Clock())
    assert sum(limiter.retry_after("x") is None for _ in range(1200)) == 1000


def test_addresses_whose_allowance_is_full_again_are_forgotten() -> None:
    clock = Clock()
    limiter = ReportRateLimiter("10/minute", clock=clock)
    for n in range(10_000):
        limiter.retry_after(f"address-{n}")
        clock.now += 0.01
    # The sweep after 10,000 hits keeps only addresses seen within the last 6 s (one interval).
    assert 0 < len(limiter) <= 601
