"""Grouping: a recipient's queued outbox rows become one message when its group is ready.

The rule is Alertmanager's: a first change waits `group wait` for others to join it; after a message, the
next waits until `group interval` has passed since. A recipient has at most one unsent message at a time,
so its messages arrive in the order their changes happened, and a recipient that is down holds up no one
else. Nothing is dropped here: every queued row ends up in a message, resolves included.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, select, update

from downradar.core.config import NotifySettings
from downradar.notify import recipients as recipients_
from downradar.store.schema import alert_routes, messages, outbox, subscribers

PENDING = "pending"
SENT = "sent"
EXPIRED = "expired"


def new_message_id() -> str:
    """Random, so ids from different databases or restored backups never collide at a receiver."""
    return "dlv_" + secrets.token_hex(12)


def form_messages(conn: Connection, settings: NotifySettings, now: datetime) -> int:
    """Turn every ready recipient's queued rows into a pending message; returns how many were made."""
    queued = conn.execute(
        select(outbox.c.recipient, func.min(outbox.c.created_at), func.max(outbox.c.id))
        .where(outbox.c.message_id.is_(None))
        .group_by(outbox.c.recipient)
    ).all()
    if not queued:
        return 0
    busy = set(conn.scalars(select(messages.c.recipient).where(messages.c.status == PENDING).distinct()))
    known = recipients_.load(conn, [key for key, _, _ in queued if key not in busy], settings)
    made: list[dict[str, object]] = []
    assigned: list[dict[str, object]] = []
    gone: list[dict[str, object]] = []
    for key, first_queued, last_id in queued:
        if key in busy:
            continue
        recipient = known.get(key)
        if recipient is None or not recipient.enabled:
            # Removed, disabled or unsubscribed: what was queued for it is not wanted any more.
            gone.append({"r": key, "last": last_id})
            continue
        if recipient.grouping.ready_at(first_queued, recipient.last_notified_at) > now:
            continue
        message_id = new_message_id()
        made.append(
            {
                "id": message_id,
                "recipient": key,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                # The age limit counts from the first change it carries, not from when it was grouped.
                "created_at": first_queued,
            }
        )
        assigned.append({"m": message_id, "r": key, "last": last_id})
    if gone:
        conn.execute(
            delete(outbox).where(
                outbox.c.recipient == bindparam("r"),
                outbox.c.message_id.is_(None),
                outbox.c.id <= bindparam("last"),
            ),
            gone,
        )
    if not made:
        return 0
    conn.execute(messages.insert(), made)
    conn.execute(
        update(outbox)
        .where(
            outbox.c.recipient == bindparam("r"),
            outbox.c.message_id.is_(None),
            outbox.c.id <= bindparam("last"),
        )
        .values(message_id=bindparam("m")),
        assigned,
    )
    _mark_notified(conn, [str(row["recipient"]) for row in made], now)
    return len(made)


def _mark_notified(conn: Connection, keys: list[str], now: datetime) -> None:
    route_ids, subscriber_ids = recipients_.split_keys(keys)
    for table, ids in ((alert_routes, route_ids), (subscribers, subscriber_ids)):
        if ids:
            conn.execute(
                update(table).where(table.c.id == bindparam("i")).values(last_notified_at=now),
                [{"i": row_id} for row_id in ids],
            )


def prune(conn: Connection, before: datetime) -> int:
    """Delete messages sent or expired before a time, with their outbox rows; returns messages deleted.

    Unsent work is never touched. An open incident whose recipient gets reminders has a row at least
    every repeat interval, so its reminders go on unless that interval is longer than the keep time.
    """
    done = select(messages.c.id).where(messages.c.status.in_((SENT, EXPIRED)), messages.c.created_at < before)
    conn.execute(delete(outbox).where(outbox.c.message_id.in_(done)))
    return conn.execute(delete(messages).where(messages.c.id.in_(done))).rowcount
