"""Sign-in throttling: after 10 wrong tokens from one address within a minute, that address waits.

Only failures count, so an operator signing in from several tabs is never locked out; while an address
is blocked even the right token is refused, or guessing could simply go on. One process's memory: a
second server process counts on its own, which still bounds guessing to 10 a minute per process.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

MAX_FAILURES = 10
WINDOW_SECONDS = 60.0
_SWEEP_EVERY = 1_000  # failures between sweeps of addresses whose window has passed


class FailedAttempts:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._times: dict[str, deque[float]] = {}
        self._since_sweep = 0

    def retry_after(self, address: str) -> int | None:
        """None when the address may try; else the whole seconds until its oldest failure expires."""
        now = self._clock()
        with self._lock:
            times = self._recent(address, now)
            if len(times) < self.max_failures:
                return None
            return max(1, math.ceil(times[0] + self.window - now))

    def add(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            self._recent(address, now).append(now)
            self._since_sweep += 1
            if self._since_sweep >= _SWEEP_EVERY:
                self._since_sweep = 0
                self._times = {a: t for a, t in self._times.items() if t and t[-1] > now - self.window}

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._times.setdefault(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
