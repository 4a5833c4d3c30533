"""Incident events (DESIGN.md 3.2): one record per open, update and resolve, for machines to follow.

They are written in the same transaction as the change, together with one outbox row per alert
route and subscriber that wants them (notify/outbox.py); `replay` copies them to an NDJSON file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from downradar.notify.outbox import enqueue
from downradar.store import changes
from downradar.store.schema import events


@dataclass(frozen=True)
class Evidence:
    """What the detector saw when it made a change; manual changes carry none (zeros)."""

    reports_per_min: float = 0.0
    baseline_per_min: float = 0.0
    score: float = 0.0
    regions: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()  # kinds of signal that agree: reports, probes, official


def record_event(
    conn: Connection,
    *,
    event_type: str,
    incident_id: str,
    service_id: str,
    components: list[str],
    status: str,
    impact: str,
    evidence: Evidence | None,
    now: datetime,
) -> dict[str, Any]:
    evidence = evidence or Evidence()
    record = {
        "ts": now.isoformat().replace("+00:00", "Z"),
        "type": event_type,
        "incident_id": incident_id,
        "service": service_id,
        "components": components,
        "regions": list(evidence.regions),
        "status": status,
        "impact": impact,
        "reports_per_min": round(evidence.reports_per_min, 3),
        "baseline_per_min": round(evidence.baseline_per_min, 3),
        "score": round(evidence.score, 3),
        "signals": list(evidence.signals),
    }
    inserted = conn.execute(
        events.insert().values(
            ts=now, type=event_type, incident_id=incident_id, service_id=service_id, record=record
        )
    )
    assert inserted.inserted_primary_key is not None  # a single-row INSERT always reports its key
    event_id = inserted.inserted_primary_key[0]
    changes.record(conn, "incident")  # every incident change passes here: the page cache renders anew
    enqueue(
        conn,
        event_id=event_id,
        event_type=event_type,
        incident_id=incident_id,
        service_id=service_id,
        components=components,
        now=now,
    )
    return record


def events_after(conn: Connection, after_id: int = 0, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
    """Events in the order they were written, after a cursor (an event id)."""
    rows = conn.execute(
        select(events.c.id, events.c.record).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
    )
    return [(row.id, row.record) for row in rows]
