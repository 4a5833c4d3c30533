"""What a message says: its items (the grouped changes) and one title and text for every channel.

A message about one incident reads like that incident's latest update. A message about several services
lists them; at `storm_services` services or more it is a storm summary: one correlated outage, named
once, instead of one alert per service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select

from downradar.core.model import status_label
from downradar.incidents.links import incident_url
from downradar.store.schema import events, incident_updates, incidents, outbox, services

LISTED = 10  # services named in a storm title before "and N more"


def dedup_key(service_id: str, incident_id: str) -> str:
    """Stable per (service, incident): paging tools fold every message with it into one alert."""
    return f"downradar/{service_id}/{incident_id}"


@dataclass(frozen=True)
class Item:
    kind: str  # event | reminder
    event_id: int
    record: dict[str, Any]  # the DESIGN.md 3.2 event record
    service_name: str
    incident_name: str
    update_body: str  # the incident's update text at the event's time ("" if none)
    incident_url: str

    @property
    def service_id(self) -> str:
        return str(self.record["service"])

    @property
    def incident_id(self) -> str:
        return str(self.record["incident_id"])

    @property
    def resolved(self) -> bool:
        return bool(self.record["type"] == "incident.resolved")

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.service_id, self.incident_id)

    def line(self) -> str:
        status = status_label(str(self.record["status"]))
        prefix = "Still open — " if self.kind == "reminder" else ""
        text = f"{prefix}{self.service_name}: {self.incident_name} [{status}]"
        if self.update_body:
            text += f" — {self.update_body}"
        return f"{text}\n  {self.incident_url}"


@dataclass(frozen=True)
class Notification:
    id: str
    items: tuple[Item, ...]
    storm_services: int
    # For paging routes: the alerts this message updates (notify/paging.py); empty for everyone else.
    pages: tuple[Any, ...] = ()

    @property
    def services(self) -> list[str]:
        """Service names in the order they first appear."""
        return list(dict.fromkeys(item.service_name for item in self.items))

    @property
    def is_storm(self) -> bool:
        return len({item.service_id for item in self.items}) >= self.storm_services

    @property
    def all_resolved(self) -> bool:
        """Does every incident in the message end resolved? (Chat colours and paging resolves use it.)"""
        latest = {item.incident_id: item for item in self.items}
        return all(item.resolved for item in latest.values())

    @property
    def title(self) -> str:
        names = self.services
        if self.is_storm:
            shown = ", ".join(names[:LISTED])
            more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
            return f"Correlated outage: {len(names)} services affected — {shown}{more}"
        incident_ids = {item.incident_id for item in self.items}
        if len(incident_ids) == 1:
            last = self.items[-1]
            status = status_label(str(last.record["status"]))
            prefix = "Still open: " if all(item.kind == "reminder" for item in self.items) else ""
            return f"{prefix}{last.service_name}: {last.incident_name} — {status}"
        return f"{len(incident_ids)} incidents changed — {', '.join(names)}"

    @property
    def text(self) -> str:
        lines = [item.line() for item in self.items]
        if self.is_storm:
            lines.insert(0, f"{len(self.services)} services reported problems at about the same time.")
        return "\n\n".join(lines)

    def webhook_body(self) -> bytes:
        """The JSON a webhook gets (documented in the README): the id, a summary and every event."""
        return orjson.dumps(
            {
                "id": self.id,
                "type": "notification",
                "storm": self.is_storm,
                "title": self.title,
                "text": self.text,
                "events": [
                    {
                        **item.record,
                        "reminder": item.kind == "reminder",
                        "incident_url": item.incident_url,
                        "dedup_key": item.dedup_key,
                    }
                    for item in self.items
                ],
            }
        )


def load_items(conn: Connection, message_ids: Iterable[str], page_url: str) -> dict[str, list[Item]]:
    """The items of each message, in outbox order, with the names and texts a reader needs."""
    ids = list(message_ids)
    found: dict[str, list[Item]] = {message_id: [] for message_id in ids}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(
                outbox.c.message_id,
                outbox.c.kind,
                events.c.id.label("event_id"),
                events.c.ts,
                events.c.record,
                incidents.c.name.label("incident_name"),
                services.c.name.label("service_name"),
            )
            .join(events, events.c.id == outbox.c.event_id)
            .join(incidents, incidents.c.id == outbox.c.incident_id)
            .join(services, services.c.id == incidents.c.service_id)
            .where(outbox.c.message_id.in_(ids[start : start + 500]))
            .order_by(outbox.c.id)
        ).all()
        bodies = _update_bodies(conn, {(row.record["incident_id"], row.ts) for row in rows})
        for row in rows:
            found[row.message_id].append(
                Item(
                    kind=row.kind,
                    event_id=row.event_id,
                    record=row.record,
                    service_name=row.service_name,
                    incident_name=row.incident_name,
                    update_body=bodies.get((row.record["incident_id"], row.ts), ""),
                    incident_url=incident_url(page_url, row.record["incident_id"]),
                )
            )
    return found


def _update_bodies(conn: Connection, wanted: set[tuple[str, Any]]) -> dict[tuple[str, Any], str]:
    """The latest update text of each incident at each time (an event and its update share a time)."""
    incident_ids = sorted({incident_id for incident_id, _ in wanted})
    updates: dict[str, list[tuple[Any, str]]] = {}
    for start in range(0, len(incident_ids), 500):
        for row in conn.execute(
            select(incident_updates.c.incident_id, incident_updates.c.created_at, incident_updates.c.body)
            .where(incident_updates.c.incident_id.in_(incident_ids[start : start + 500]))
            .order_by(incident_updates.c.created_at, incident_updates.c.id)
        ):
            updates.setdefault(row.incident_id, []).append((row.created_at, row.body))
    bodies: dict[tuple[str, Any], str] = {}
    for incident_id, ts in wanted:
        earlier = [body for created_at, body in updates.get(incident_id, []) if created_at <= ts]
        bodies[(incident_id, ts)] = earlier[-1] if earlier else ""
    return bodies
