"""Sign-up throttling: DOWNRADAR_SUBSCRIBE_RATE_LIMIT per client address and, separately, per e-mail
address, so neither one client nor many clients can make the server mail one inbox over and over.

The same GCRA limiter as single reports (intake/ratelimit.py): in memory, per process. That is enough
here: the limit is against abuse of one server's mail, and a restart forgetting it is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from downradar.intake.ratelimit import ReportRateLimiter


class Throttled(Exception):
    def __init__(self, retry_after: int, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SignupLimits:
    def __init__(self, rule: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._clients = ReportRateLimiter(rule, clock)
        self._addresses = ReportRateLimiter(rule, clock)

    def check_client(self, client: str) -> None:
        retry = self._clients.retry_after(client)
        if retry is not None:
            raise Throttled(retry, f"too many sign-ups from your address; try again in {retry} s")

    def check_address(self, address: str) -> None:
        retry = self._addresses.retry_after(address.lower())
        if retry is not None:
            raise Throttled(retry, f"too many sign-ups for this e-mail address; try again in {retry} s")
