"""Per-address limit on single reports, with the seconds to wait for a 429's Retry-After.

The generic cell rate algorithm: one number per address, the time its allowance is next full. A rule
of N per period lets a burst of N through, then one every period/N. It is O(1) per hit with no
background work; limits' in-memory storage (whose rule syntax we keep) runs a timer thread every 10 ms
that walks every key, which during an outage means every reporter.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from limits import parse

_SLACK = 1e-9  # seconds: N intervals must add up to the period despite rounding
_PRUNE_EVERY = 10_000  # hits between sweeps of addresses whose allowance is full again


class ReportRateLimiter:
    def __init__(self, rule: str, clock: Callable[[], float] = time.monotonic) -> None:
        item = parse(rule)
        self._period = float(item.get_expiry())
        self._interval = self._period / item.amount
        self._clock = clock
        self._full_at: dict[str, float] = {}
        self._hits = 0

    def retry_after(self, key: str) -> int | None:
        """None when the hit is allowed (and counted); otherwise the whole seconds until it would be."""
        now = self._clock()
        full_at = max(self._full_at.get(key, now), now) + self._interval
        if full_at - now > self._period + _SLACK:
            return max(1, math.ceil(full_at - now - self._period))
        self._full_at[key] = full_at
        self._hits += 1
        if self._hits >= _PRUNE_EVERY:
            self._prune(now)
        return None

    def __len__(self) -> int:
        """Addresses whose allowance is not known to be full again."""
        return len(self._full_at)

    def _prune(self, now: float) -> None:
        self._hits = 0
        self._full_at = {k: t for k, t in self._full_at.items() if t > now}
