"""The outbox: one row per (event, recipient), written in the same transaction as the incident event.

So a committed incident change always has its outbox rows, and a change that rolled back has none; the
worker only ever reads committed rows and groups them into messages (notify/grouping.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from downradar.notify.recipients import ACTIVE, route_key, subscriber_key, wants
from downradar.store.schema import alert_routes, outbox, subscribers

EVENT = "event"
REMINDER = "reminder"


def enqueue(
    conn: Connection,
    *,
    event_id: int,
    event_type: str,
    incident_id: str,
    service_id: str,
    components: list[str],
    now: datetime,
) -> int:
    """Queue the event for every enabled route and active subscriber that wants it; returns how many."""
    keys = [
        route_key(route.id)
        for route in conn.execute(
            select(alert_routes.c.id, alert_routes.c.services).where(alert_routes.c.enabled.is_(True))
        )
        if not route.services or service_id in route.services
    ]
    already_told: set[str] = set()
    if event_type == "incident.resolved":
        # A resolve reaches everyone who heard of the incident, even if its components changed since.
        already_told = set(
            conn.scalars(select(outbox.c.recipient).where(outbox.c.incident_id == incident_id).distinct())
        )
    for subscriber in conn.execute(
        select(subscribers.c.id, subscribers.c.components).where(subscribers.c.state == ACTIVE)
    ):
        key = subscriber_key(subscriber.id)
        if key in already_told or wants(subscriber.components, service_id, components):
            keys.append(key)
    rows = [
        {
            "recipient": key,
            "event_id": event_id,
            "incident_id": incident_id,
            "kind": EVENT,
            "created_at": now,
        }
        for key in keys
    ]
    if rows:
        conn.execute(outbox.insert(), rows)
    return len(rows)
