"""Repeat reminders: while an incident stays open, a recipient that heard nothing new about it for its
repeat interval is told again ("Still open"). Off unless a route sets `repeat_interval_seconds` or the
server sets DOWNRADAR_ROUTE_REPEAT_SECONDS / DOWNRADAR_SUBSCRIBER_REPEAT_SECONDS.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, or_, select

from downradar.core.config import NotifySettings
from downradar.core.model import OPEN_STATUSES
from downradar.notify import recipients as recipients_
from downradar.notify.grouping import PENDING
from downradar.notify.outbox import REMINDER
from downradar.store.schema import alert_routes, events, incidents, messages, outbox


def _anyone_repeats(conn: Connection, settings: NotifySettings) -> bool:
    if settings.route_repeat_seconds or settings.subscriber_repeat_seconds:
        return True
    return bool(conn.scalar(select(func.count()).where(alert_routes.c.repeat_interval_seconds > 0)))


def queue_due(conn: Connection, settings: NotifySettings, now: datetime) -> int:
    """Queue a reminder for every (recipient, open incident) pair that is due; returns how many."""
    if not _anyone_repeats(conn, settings):
        return 0
    last = (
        select(
            outbox.c.recipient,
            outbox.c.incident_id,
            func.max(outbox.c.created_at).label("last_at"),
        )
        .join(incidents, incidents.c.id == outbox.c.incident_id)
        .where(incidents.c.status.in_(OPEN_STATUSES))
        .group_by(outbox.c.recipient, outbox.c.incident_id)
    )
    candidates = conn.execute(last).all()
    if not candidates:
        return 0
    known = recipients_.load(conn, {row.recipient for row in candidates}, settings)
    due = []
    for row in candidates:
        recipient = known.get(row.recipient)
        if recipient is None or not recipient.enabled or recipient.grouping.repeat is None:
            continue
        if row.last_at <= now - recipient.grouping.repeat:
            due.append(row)
    if not due:
        return 0
    unsent = {
        (row.recipient, row.incident_id)
        for row in conn.execute(
            select(outbox.c.recipient, outbox.c.incident_id)
            .outerjoin(messages, messages.c.id == outbox.c.message_id)
            .where(or_(outbox.c.message_id.is_(None), messages.c.status == PENDING))
            .distinct()
        )
    }
    latest_event = dict(
        conn.execute(
            select(events.c.incident_id, func.max(events.c.id))
            .where(events.c.incident_id.in_({row.incident_id for row in due}))
            .group_by(events.c.incident_id)
        ).all()
    )
    rows = [
        {
            "recipient": row.recipient,
            "event_id": latest_event[row.incident_id],
            "incident_id": row.incident_id,
            "kind": REMINDER,
            "created_at": now,
        }
        for row in due
        if (row.recipient, row.incident_id) not in unsent and row.incident_id in latest_event
    ]
    if rows:
        conn.execute(outbox.insert(), rows)
    return len(rows)
