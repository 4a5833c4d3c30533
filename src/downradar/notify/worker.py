"""The delivery worker: groups queued changes into messages, sends them, retries, expires the too old.

All state is in the database, so a worker may be killed at any moment and another one started: a message
becomes `sent` only after its channel accepted it, so a kill between the two re-sends it (at least once;
receivers de-duplicate on the message id, which stays the same on every retry). Sends run concurrently
(`deliver_concurrency`); the database work runs in a thread, so the server's event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import threading
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, select, update

from downradar.core.clock import Clock, wait_until_set
from downradar.core.config import NotifySettings
from downradar.notify import paging, reminders
from downradar.notify import recipients as recipients_
from downradar.notify.channels import Channel, Failed
from downradar.notify.channels.apprise_channel import AppriseChannel
from downradar.notify.channels.email import EmailChannel, NotConfiguredChannel
from downradar.notify.channels.webhook import WebhookChannel
from downradar.notify.grouping import EXPIRED, PENDING, SENT, form_messages, prune
from downradar.notify.recipients import Recipient
from downradar.notify.render import Notification, load_items
from downradar.notify.targets import AllowList
from downradar.store.schema import messages

log = logging.getLogger("downradar.notify")
BATCH = 1000
MAX_ERROR = 500
PRUNE_EVERY = timedelta(minutes=10)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: the n-th retry waits uniformly in [0, min(cap, base·2ⁿ⁻¹)]."""

    base_seconds: float
    cap_seconds: float

    def delay(self, attempts: int, draw: Callable[[], float] = random.random) -> timedelta:
        bound = min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=draw() * bound)


@dataclass(frozen=True)
class Outgoing:
    recipient: Recipient
    notification: Notification
    attempts: int  # including this one


@dataclass(frozen=True)
class Outcome:
    message_id: str
    attempts: int
    error: str | None


class DeliveryWorker:
    def __init__(self, engine: Engine, settings: NotifySettings, *, page_url: str, clock: Clock) -> None:
        self.engine = engine
        self.settings = settings
        self.page_url = page_url
        self.clock = clock
        self.allow = AllowList.parse(settings.allow_targets)
        self.backoff = Backoff(settings.deliver_backoff_base_seconds, settings.deliver_backoff_cap_seconds)
        self.max_age = timedelta(seconds=settings.deliver_max_age_seconds)
        self.poll_seconds = settings.deliver_poll_seconds
        # A claimed message is hidden from other workers for a round's sending time (plus slack); if its
        # worker dies, it becomes due again after that.
        self.lease = timedelta(seconds=settings.deliver_timeout_seconds * 2 + 5)
        self.concurrency = settings.deliver_concurrency
        self.keep = timedelta(days=settings.deliver_keep_days)
        self._pruned_at: datetime | None = None
        self._stopping = threading.Event()
        self._wake: asyncio.Event | None = None  # cuts the async loop's idle wait short on stop()
        self._wake_loop: asyncio.AbstractEventLoop | None = None
        # The supervisor's name for this loop, and how long stop() may take: a round's sends may run up
        # to the channel timeout, then the outcomes are recorded.
        self.name = "delivery"
        self.stop_timeout = settings.deliver_timeout_seconds + 5

    def stop(self) -> None:
        """Ask a running loop to finish after the sends in flight (safe from any thread)."""
        self._stopping.set()
        if self._wake is not None and self._wake_loop is not None:
            with contextlib.suppress(RuntimeError):  # its event loop already closed
                self._wake_loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """The supervisor's loop (`run_forever_async`); a new run after stop() runs again."""
        self._stopping.clear()
        await self.run_forever_async()

    def close(self) -> None:
        """Nothing to release between runs: channels live as long as one run."""

    # -- running ----------------------------------------------------------------------------------------

    def run_once(self) -> int:
        """One round (prepare, claim, send, record) with channels of its own; returns messages attempted."""

        async def one_round() -> int:
            async with AsyncExitStack() as stack:
                return await self._round(await self._open_channels(stack))

        return asyncio.run(one_round())

    def run_forever(self) -> None:
        """The loop of `downradar worker`, until stop()."""
        asyncio.run(self.run_forever_async())

    async def run_forever_async(self) -> None:
        """The same loop as a background task of the server; after stop(), it returns once the round in
        flight is sent and recorded."""
        self._wake, self._wake_loop = asyncio.Event(), asyncio.get_running_loop()
        async with AsyncExitStack() as stack:
            channels = await self._open_channels(stack)
            while not self._stopping.is_set():
                try:
                    attempted = await self._round(channels)
                except Exception:
                    log.exception("delivery round failed; retrying")
                    attempted = 0
                if not attempted and not self._stopping.is_set():
                    await wait_until_set(self.clock, self._wake, self.poll_seconds)

    async def _open_channels(self, stack: AsyncExitStack) -> dict[str, Channel]:
        webhook = WebhookChannel(
            allow=self.allow, timeout=self.settings.deliver_timeout_seconds, concurrency=self.concurrency
        )
        stack.push_async_callback(webhook.aclose)
        channels: dict[str, Channel] = {"webhook": webhook, "apprise": AppriseChannel(allow=self.allow)}
        if self.settings.smtp_host:
            email = EmailChannel(self.settings, page_url=self.page_url)
            stack.push_async_callback(email.aclose)
            channels["email"] = email
        else:
            channels["email"] = NotConfiguredChannel()  # e-mail messages then fail saying why
        return channels

    async def _round(self, channels: dict[str, Channel]) -> int:
        await asyncio.to_thread(self._prepare)
        batch = await asyncio.to_thread(self._claim)
        if not batch:
            return 0
        # A fixed set of senders each taking the next message: a semaphore over a thousand tasks costs
        # more than the sends (every release scans the waiters).
        queue = list(reversed(batch))
        outcomes: list[Outcome] = []

        async def sender() -> None:
            while queue:
                outcomes.append(await self._send(channels, queue.pop()))

        try:
            await asyncio.gather(*(sender() for _ in range(min(self.concurrency, len(batch)))))
        except asyncio.CancelledError:
            # Cancelled mid-round (shutdown past its time): what was sent is recorded sent, the rest goes
            # back to the queue at once, not held claimed until its lease runs out. Blocking, on purpose:
            # a cancelled task has no later turn to do it in.
            self._record(outcomes)
            self._release([o.notification.id for o in batch], {o.message_id for o in outcomes})
            raise
        await asyncio.to_thread(self._record, outcomes)
        return len(batch)

    # -- the database side ------------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Expire what is too old, queue reminders that are due, and group what is ready into messages."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(
                update(messages)
                .where(messages.c.status == PENDING, messages.c.created_at <= now - self.max_age)
                .values(status=EXPIRED, claim=None)
            )
            reminders.queue_due(conn, self.settings, now)
            form_messages(conn, self.settings, now)
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                prune(conn, now - self.keep)
                self._pruned_at = now

    def _claim(self) -> list[Outgoing]:
        """Take up to BATCH due messages for one lease, then load what they say and whom they go to."""
        now = self.clock.now()
        token = secrets.token_hex(8)
        due = (
            select(messages.c.id)
            .where(messages.c.status == PENDING, messages.c.next_attempt_at <= now)
            .order_by(messages.c.created_at, messages.c.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)  # PostgreSQL: workers take disjoint batches
        )
        with self.engine.begin() as conn:
            # The ids, then an update by id: PostgreSQL's generic plan for one `UPDATE … WHERE id IN
            # (subquery)` or `UPDATE … FROM (subquery)`, costed while the table was empty, took seconds per
            # batch of 10,000 (bench/README.md "Notification fan-out").
            ids = list(conn.scalars(due))
            if not ids:
                return []
            # The status and time are checked again row by row, so two workers never take the same message.
            conn.execute(
                update(messages)
                .where(
                    messages.c.id.in_(ids),
                    messages.c.status == PENDING,
                    messages.c.next_attempt_at <= now,
                )
                .values(claim=token, attempts=messages.c.attempts + 1, next_attempt_at=now + self.lease)
            )
        with self.engine.begin() as conn:
            claimed = conn.execute(
                select(messages.c.id, messages.c.recipient, messages.c.attempts).where(
                    messages.c.claim == token
                )
            ).all()
            if not claimed:
                return []
            items = load_items(conn, [row.id for row in claimed], self.page_url)
            known = recipients_.load(conn, [row.recipient for row in claimed], self.settings)
            outgoing = []
            for row in claimed:
                recipient = known.get(row.recipient)
                if recipient is None:
                    continue  # removed since; its messages went with it
                notification = Notification(
                    id=row.id, items=tuple(items[row.id]), storm_services=self.settings.storm_services
                )
                if paging.is_paging(recipient):
                    pages = paging.plan_pages(conn, recipient, notification)
                    notification = replace(notification, pages=pages)
                outgoing.append(Outgoing(recipient, notification, row.attempts))
        return outgoing

    def _record(self, outcomes: list[Outcome]) -> None:
        now = self.clock.now()
        sent = [{"m": outcome.message_id} for outcome in outcomes if outcome.error is None]
        failed = [
            {
                "m": outcome.message_id,
                "next": now + self.backoff.delay(outcome.attempts),
                "error": outcome.error[:MAX_ERROR],
            }
            for outcome in outcomes
            if outcome.error is not None
        ]
        mine = (messages.c.id == bindparam("m"), messages.c.status == PENDING)
        with self.engine.begin() as conn:
            if sent:
                conn.execute(
                    update(messages)
                    .where(*mine)
                    .values(status=SENT, sent_at=now, last_error=None, claim=None),
                    sent,
                )
            if failed:
                conn.execute(
                    update(messages)
                    .where(*mine)
                    .values(next_attempt_at=bindparam("next"), last_error=bindparam("error"), claim=None),
                    failed,
                )

    def _release(self, claimed: list[str], recorded: set[str]) -> None:
        """Give claimed messages that were not sent back to the queue, due now, with the attempt undone."""
        unsent = [{"m": message_id} for message_id in claimed if message_id not in recorded]
        if not unsent:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(messages)
                .where(messages.c.id == bindparam("m"), messages.c.status == PENDING)
                .values(claim=None, next_attempt_at=self.clock.now(), attempts=messages.c.attempts - 1),
                unsent,
            )
        log.info("released %d unsent messages back to the queue", len(unsent))

    # -- the sending side -------------------------------------------------------------------------------

    async def _send(self, channels: dict[str, Channel], outgoing: Outgoing) -> Outcome:
        recipient, notification = outgoing.recipient, outgoing.notification
        channel = channels.get(recipient.channel)
        error: str | None = None
        try:
            if channel is None:
                raise Failed(f"channel {recipient.channel!r} is not configured on this server")
            await channel.send(recipient, notification)
        except Failed as exc:
            error = str(exc) or type(exc).__name__
        except Exception as exc:  # a channel bug must not stop the other sends of the round
            log.exception("channel %s failed unexpectedly", recipient.channel)
            error = f"{type(exc).__name__}: {exc}"
        if error is not None:
            # The recipient's key, never its address: URLs and Apprise URLs carry credentials.
            log.warning(
                "message %s to %s failed (attempt %d): %s",
                notification.id,
                recipient.key,
                outgoing.attempts,
                error,
            )
        return Outcome(notification.id, outgoing.attempts, error)
