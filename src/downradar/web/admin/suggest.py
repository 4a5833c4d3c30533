"""What the composer offers to start from: built-in message templates and the detector's suggested text.

For an incident the detector opened, the suggestion is its latest update and the evidence of its latest
event; for a new incident on a service the detector is currently alarmed about, a sentence saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from downradar.core.model import IncidentStatus, status_label
from downradar.incidents.queries import IncidentView, load_incidents
from downradar.store.schema import events
from downradar.web.runtime import Runtime


@dataclass(frozen=True)
class MessageTemplate:
    key: str
    label: str
    status: str
    message: str  # `{service}` is replaced by the service's name


TEMPLATES = {
    t.key: t
    for t in (
        MessageTemplate(status.value, status_label(status), status.value, message)
        for status, message in (
            (
                IncidentStatus.investigating,
                "We are investigating reports of problems with {service}. We will post an update soon.",
            ),
            (
                IncidentStatus.identified,
                "We have identified the cause of the problems with {service} and are working on a fix.",
            ),
            (
                IncidentStatus.monitoring,
                "A fix for {service} is in place and we are monitoring the results.",
            ),
            (
                IncidentStatus.resolved,
                "The problems with {service} are resolved. Thank you for your patience.",
            ),
        )
    )
}


@dataclass(frozen=True)
class Suggestion:
    """The detector's view, for the operator to start from."""

    message: str
    incident_id: str | None = None  # the detector-opened incident it comes from
    evidence: dict[str, Any] = field(default_factory=dict)


def fill(template_key: str | None, service_name: str) -> MessageTemplate | None:
    template = TEMPLATES.get(template_key or "")
    if template is None:
        return None
    return MessageTemplate(
        template.key, template.label, template.status, template.message.format(service=service_name)
    )


def filled_all(service_name: str) -> list[MessageTemplate]:
    return [t for t in (fill(key, service_name) for key in TEMPLATES) if t is not None]


def latest_evidence(conn: Connection, incident_id: str) -> dict[str, Any]:
    record = conn.scalar(
        select(events.c.record)
        .where(events.c.incident_id == incident_id)
        .order_by(events.c.id.desc())
        .limit(1)
    )
    if not record:
        return {}
    wanted = ("reports_per_min", "baseline_per_min", "score", "regions", "signals")
    return {key: record[key] for key in wanted if record.get(key) not in (None, [], 0, 0.0)}


def from_incident(conn: Connection, incident: IncidentView) -> Suggestion | None:
    """A detector-opened incident's latest automatic update and evidence."""
    if incident.source != "detector" or not incident.updates:
        return None
    return Suggestion(incident.updates[0].body, incident.id, latest_evidence(conn, incident.id))


def for_service(rt: Runtime, conn: Connection, service_id: str, service_name: str) -> Suggestion | None:
    """For a new incident: the open detected incident of the service, else the live detector's alarm."""
    for incident in load_incidents(conn, unresolved=True, service_id=service_id):
        suggestion = from_incident(conn, incident)
        if suggestion is not None:
            return suggestion
    score = rt.detection.score(service_id) if rt.detection is not None else 0.0
    if score <= 0:
        return None
    return Suggestion(
        f"We are seeing an unusual number of problem reports about {service_name} and are investigating.",
        evidence={"score": round(score, 3)},
    )
