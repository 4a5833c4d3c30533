"""Per-address limit on single reports, with the seconds to wait for a 429's Retry-After."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class ReportRateLimiter:
    def __init__(self, rule: str) -> None:
        self._item = parse(rule)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, key: str) -> int | None:
        """None when the hit is allowed; otherwise the whole seconds until it would be."""
        if self._limiter.hit(self._item, key):
            return None
        reset_at, _remaining = self._limiter.get_window_stats(self._item, key)
        return max(1, math.ceil(reset_at - time.time()))
