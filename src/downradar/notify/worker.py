"""The delivery worker: POSTs due outbox deliveries, retries with backoff, expires what is too old.

All state is in the `deliveries` table, so a worker may be killed at any moment and another one started:
a delivery becomes `sent` only after its receiver answered 2xx, so a kill between the answer and that
update re-sends it (at least once; receivers de-duplicate on the delivery id). Deliveries of one incident
to one route go out in event order: a delivery waits while an earlier one of that pair is still pending.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, exists, select, update

from downradar.clock import Clock
from downradar.config import Settings
from downradar.notify import webhook
from downradar.notify.outbox import EXPIRED, PENDING, SENT
from downradar.notify.targets import AllowList, TargetRefused, check_target
from downradar.store.schema import alert_routes, deliveries, events

log = logging.getLogger("downradar.notify")
BATCH = 100
MAX_ERROR = 500


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: the n-th retry waits uniformly in [0, min(cap, base·2ⁿ⁻¹)]."""

    base_seconds: float
    cap_seconds: float

    def delay(self, attempts: int, draw: Callable[[], float] = random.random) -> timedelta:
        bound = min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=draw() * bound)


class DeliveryWorker:
    def __init__(self, engine: Engine, settings: Settings, *, page_url: str, clock: Clock) -> None:
        self.engine = engine
        self.page_url = page_url
        self.clock = clock
        self.allow = AllowList.parse(settings.allow_targets)
        self.backoff = Backoff(settings.deliver_backoff_base_seconds, settings.deliver_backoff_cap_seconds)
        self.max_age = timedelta(seconds=settings.deliver_max_age_seconds)
        self.poll_seconds = settings.deliver_poll_seconds
        # A claimed delivery is hidden from other workers for one request's time (plus slack); if its
        # worker dies, it becomes due again after that.
        self.lease = timedelta(seconds=settings.deliver_timeout_seconds + 1)
        # No redirects and no proxies: either would make the address check before each send meaningless.
        self.http = httpx.Client(
            timeout=settings.deliver_timeout_seconds, follow_redirects=False, trust_env=False
        )
        self._stopping = threading.Event()

    def close(self) -> None:
        self.http.close()

    def stop(self) -> None:
        """Ask a running loop (and the batch in progress) to finish after the current request."""
        self._stopping.set()

    def run_once(self) -> int:
        """Expire old deliveries, then attempt every due one; returns how many were attempted."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.status == PENDING, deliveries.c.created_at <= now - self.max_age)
                .values(status=EXPIRED)
            )
        attempted = 0
        for due in self._due(now):
            if self._stopping.is_set():
                break
            if self._claim(due):
                self._attempt(due)
                attempted += 1
        return attempted

    def run_forever(self) -> None:
        """The loop of `downradar worker`, until stop()."""
        while not self._stopping.is_set():
            if not self._tick():
                self._stopping.wait(self.poll_seconds)

    async def run_forever_async(self) -> None:
        """The same loop as a background task of the server; the database and HTTP work run in a thread."""
        while not self._stopping.is_set():
            if not await asyncio.to_thread(self._tick):
                await asyncio.sleep(self.poll_seconds)

    def _tick(self) -> int:
        try:
            return self.run_once()
        except Exception:
            log.exception("delivery round failed; retrying")
            return 0

    def _due(self, now: datetime) -> list[Any]:
        earlier = deliveries.alias("earlier")
        blocked = exists().where(
            earlier.c.route_id == deliveries.c.route_id,
            earlier.c.incident_id == deliveries.c.incident_id,
            earlier.c.event_id < deliveries.c.event_id,
            earlier.c.status == PENDING,
        )
        query = (
            select(
                deliveries.c.id,
                deliveries.c.route_id,
                deliveries.c.incident_id,
                deliveries.c.attempts,
                alert_routes.c.url,
                alert_routes.c.secret,
                events.c.record,
            )
            .join(alert_routes, alert_routes.c.id == deliveries.c.route_id)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(
                deliveries.c.status == PENDING,
                deliveries.c.next_attempt_at <= now,
                alert_routes.c.enabled.is_(True),
                ~blocked,
            )
            .order_by(deliveries.c.event_id, deliveries.c.id)
            .limit(BATCH)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def _claim(self, due: Any) -> bool:
        """Take the delivery for one lease; `attempts` works as a version so only one worker wins."""
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == due.id,
                    deliveries.c.status == PENDING,
                    deliveries.c.attempts == due.attempts,
                )
                .values(attempts=due.attempts + 1, next_attempt_at=self.clock.now() + self.lease)
            )
        return claimed.rowcount == 1

    def _attempt(self, due: Any) -> None:
        body = webhook.payload(due.id, due.record, webhook.incident_url(self.page_url, due.incident_id))
        # The signed timestamp is real Unix time, whatever clock the server runs on: receivers compare it
        # with their own clock to refuse replays.
        timestamp = int(time.time())
        error: str | None
        try:
            check_target(due.url, self.allow)
            response = self.http.post(
                due.url, content=body, headers=webhook.headers(due.id, due.secret, timestamp, body)
            )
            error = None if response.is_success else f"HTTP {response.status_code}"
        except TargetRefused as exc:
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = due.attempts + 1
        now = self.clock.now()
        with self.engine.begin() as conn:
            pending = (deliveries.c.id == due.id, deliveries.c.status == PENDING)
            if error is None:
                conn.execute(
                    update(deliveries).where(*pending).values(status=SENT, sent_at=now, last_error=None)
                )
                return
            conn.execute(
                update(deliveries)
                .where(*pending)
                .values(next_attempt_at=now + self.backoff.delay(attempts), last_error=error[:MAX_ERROR])
            )
        log.warning(
            "delivery %s to alert route %s failed (attempt %d): %s", due.id, due.route_id, attempts, error
        )
