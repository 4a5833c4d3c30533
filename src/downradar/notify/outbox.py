"""The outbox: deliveries written in the same transaction as the incident event they carry.

So a committed incident change always has its deliveries, and a change that rolled back has none; the
worker only ever reads committed rows.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, select

from downradar.store.schema import alert_routes, deliveries

PENDING = "pending"
SENT = "sent"
EXPIRED = "expired"


def new_delivery_id() -> str:
    """Random, so ids from different databases or restored backups never collide at a receiver."""
    return "dlv_" + secrets.token_hex(12)


def enqueue(
    conn: Connection, *, event_id: int, incident_id: str, service_id: str, now: datetime
) -> list[str]:
    """One pending delivery per enabled route that wants this service; returns their ids."""
    routes = conn.execute(
        select(alert_routes.c.id, alert_routes.c.services).where(alert_routes.c.enabled.is_(True))
    ).all()
    rows = [
        {
            "id": new_delivery_id(),
            "event_id": event_id,
            "route_id": route.id,
            "incident_id": incident_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for route in routes
        if not route.services or service_id in route.services
    ]
    if rows:
        conn.execute(deliveries.insert(), rows)
    return [row["id"] for row in rows]
