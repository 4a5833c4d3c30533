"""Open, update and resolve incidents; schedule and advance maintenance; set a component's status by hand.
One code path for every caller.

Each change writes the incident row, an update for the timeline (with the component changes it caused),
the affected components' new statuses, and an audit entry, all in the caller's transaction.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, delete, func, select, update

from downradar.core.model import (
    CLOSED_STATUSES,
    INCIDENT_IMPACTS,
    OPEN_STATUSES,
    ComponentStatus,
    Impact,
    IncidentStatus,
    MaintenanceStatus,
    worst_component_status,
)
from downradar.incidents import audit
from downradar.incidents.claims import component_claims
from downradar.incidents.errors import IncidentError, NotFound
from downradar.incidents.events import Evidence, record_event
from downradar.store import changes as change_bus
from downradar.store.schema import components, incident_components, incident_updates, incidents, services

_ID_ALPHABET = string.ascii_lowercase + string.digits
MAX_NAME = 300
MAX_BODY = 20_000
DETECTOR = "detector"


def new_id() -> str:
    """A 12-character lowercase id, like Statuspage's."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def open_incident(
    conn: Connection,
    *,
    service_id: str,
    name: str,
    message: str,
    status: str = IncidentStatus.investigating.value,
    impact: str = Impact.minor.value,
    components_status: Mapping[str, str] | None = None,
    actor: str,
    now: datetime,
    source: str = "manual",
    started_at: datetime | None = None,
    evidence: Evidence | None = None,
    incident_id: str | None = None,
) -> str:
    """Open an incident; `incident_id` may be given where ids must be reproducible (replays)."""
    _require_service(conn, service_id)
    name = _check_name(name)
    status = _check_enum("status", status, IncidentStatus)
    impact = _check_impact(impact)
    wanted = _check_components(conn, service_id, components_status or {})
    incident_id = incident_id or new_id()
    closed = status in CLOSED_STATUSES
    conn.execute(
        incidents.insert().values(
            id=incident_id,
            service_id=service_id,
            kind="incident",
            name=name,
            status=status,
            impact=impact,
            source=source,
            created_at=now,
            updated_at=now,
            started_at=started_at or now,
            monitoring_at=now if status == IncidentStatus.monitoring else None,
            resolved_at=now if closed else None,
            scheduled_for=None,
            scheduled_until=None,
            auto_transition=False,
            managed_by="detector" if source == "detector" else "operator",
        )
    )
    changes = _set_incident_components(conn, incident_id, wanted, now)
    _add_update(conn, incident_id, status, _check_body(message), changes, now)
    _event(conn, "incident.opened", incident_id, evidence, now)
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="incident.opened",
        entity="incident",
        entity_id=incident_id,
        detail={
            "service": service_id,
            "name": name,
            "status": status,
            "impact": impact,
            "source": source,
            "components": dict(wanted),
        },
    )
    return incident_id


def update_incident(
    conn: Connection,
    incident_id: str,
    *,
    actor: str,
    now: datetime,
    name: str | None = None,
    status: str | None = None,
    impact: str | None = None,
    message: str | None = None,
    components_status: Mapping[str, str] | None = None,
    evidence: Evidence | None = None,
    action: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Change an incident; `extra` sets bookkeeping columns (managed_by, confirmed_at, dismissed_at).

    A change by anyone but the detector hands a detector-opened incident to the operators.
    """
    row = _require_incident(conn, incident_id)
    kind = row["kind"]
    changes: dict[str, Any] = dict(extra or {})
    if actor != DETECTOR and row["managed_by"] == DETECTOR:
        changes.setdefault("managed_by", "operator")
    if name is not None and name != row["name"]:
        changes["name"] = _check_name(name)
    if status is not None and status != row["status"]:
        enum = IncidentStatus if kind == "incident" else MaintenanceStatus
        changes["status"] = _check_enum("status", status, enum)
    if impact is not None and impact != row["impact"]:
        if kind == "maintenance":
            raise IncidentError("impact", "maintenance always has impact 'maintenance'")
        changes["impact"] = _check_impact(impact)
    wanted = (
        _check_components(conn, row["service_id"], components_status)
        if components_status is not None
        else None
    )
    body = _check_body(message) if message is not None else None
    if not changes.keys() - {"managed_by"} and wanted is None and body is None:
        raise IncidentError("body", "nothing to change: give status, impact, name, message or components")

    new_status = changes.get("status", row["status"])
    if "status" in changes:
        if new_status == IncidentStatus.monitoring and row["monitoring_at"] is None:
            changes["monitoring_at"] = now
        if new_status in CLOSED_STATUSES:
            if row["resolved_at"] is None:
                changes["resolved_at"] = now
        else:
            changes["resolved_at"] = None  # reopened
    changes["updated_at"] = now
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**changes))

    if wanted is not None:
        component_changes = _set_incident_components(conn, incident_id, wanted, now)
    else:
        component_changes = _recompute(conn, _incident_component_ids(conn, incident_id), now)
    if body is not None or "status" in changes or component_changes:
        _add_update(conn, incident_id, new_status, body or _default_body(new_status), component_changes, now)
    closing = new_status in CLOSED_STATUSES and "status" in changes
    if kind == "incident":
        _event(conn, "incident.resolved" if closing else "incident.updated", incident_id, evidence, now)
    action = action or (f"{kind}.resolved" if closing else f"{kind}.updated")
    detail = {
        key: value.isoformat() if isinstance(value, datetime) else value for key, value in changes.items()
    }
    if wanted is not None:
        detail["components"] = dict(wanted)
    if body is not None:
        detail["message"] = body
    audit.record(conn, at=now, actor=actor, action=action, entity=kind, entity_id=incident_id, detail=detail)


def resolve_incident(
    conn: Connection,
    incident_id: str,
    *,
    actor: str,
    now: datetime,
    message: str | None = None,
    evidence: Evidence | None = None,
) -> None:
    row = _require_incident(conn, incident_id)
    final = IncidentStatus.resolved.value if row["kind"] == "incident" else MaintenanceStatus.completed.value
    if row["status"] in CLOSED_STATUSES:
        raise IncidentError("status", f"{row['kind']} {incident_id} is already {row['status']}")
    update_incident(
        conn,
        incident_id,
        actor=actor,
        now=now,
        status=final,
        message=message or _default_body(final),
        evidence=evidence,
    )


def confirm_incident(conn: Connection, incident_id: str, *, actor: str, now: datetime) -> None:
    """An operator says a detector-opened incident is real; from now on the operators manage it."""
    row = _require_incident(conn, incident_id)
    if row["source"] != DETECTOR:
        raise IncidentError(
            "incident", f"incident {incident_id} was opened by hand; only detected ones are confirmed"
        )
    if row["confirmed_at"] is not None:
        raise IncidentError("incident", f"incident {incident_id} is already confirmed")
    update_incident(
        conn,
        incident_id,
        actor=actor,
        now=now,
        message="An operator has confirmed the problem users report.",
        action="incident.confirmed",
        extra={"confirmed_at": now, "managed_by": "operator"},
    )


def dismiss_incident(conn: Connection, incident_id: str, *, actor: str, now: datetime, reason: str) -> None:
    """An operator says a detected incident is not real: it is closed, kept, and not reopened this episode."""
    row = _require_incident(conn, incident_id)
    if row["source"] != DETECTOR:
        raise IncidentError("incident", f"incident {incident_id} was opened by hand; resolve it instead")
    if row["status"] in CLOSED_STATUSES:
        raise IncidentError("status", f"incident {incident_id} is already {row['status']}")
    update_incident(
        conn,
        incident_id,
        actor=actor,
        now=now,
        status=IncidentStatus.resolved.value,
        message=f"Dismissed by an operator: {_check_body(reason)}",
        action="incident.dismissed",
        extra={"dismissed_at": now, "managed_by": "operator"},
    )


def schedule_maintenance(
    conn: Connection,
    *,
    service_id: str,
    name: str,
    message: str,
    scheduled_for: datetime,
    scheduled_until: datetime,
    component_slugs: Iterable[str] = (),
    auto_transition: bool = True,
    actor: str,
    now: datetime,
) -> str:
    _require_service(conn, service_id)
    name = _check_name(name)
    if scheduled_until <= scheduled_for:
        raise IncidentError("scheduled_until", "must be after scheduled_for")
    wanted = _check_components(
        conn, service_id, {slug: ComponentStatus.under_maintenance.value for slug in component_slugs}
    )
    maintenance_id = new_id()
    conn.execute(
        incidents.insert().values(
            id=maintenance_id,
            service_id=service_id,
            kind="maintenance",
            name=name,
            status=MaintenanceStatus.scheduled.value,
            impact=Impact.maintenance.value,
            source="manual",
            created_at=now,
            updated_at=now,
            started_at=scheduled_for,
            monitoring_at=None,
            resolved_at=None,
            scheduled_for=scheduled_for,
            scheduled_until=scheduled_until,
            auto_transition=auto_transition,
        )
    )
    changes = _set_incident_components(conn, maintenance_id, wanted, now)
    _add_update(conn, maintenance_id, MaintenanceStatus.scheduled.value, _check_body(message), changes, now)
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="maintenance.scheduled",
        entity="maintenance",
        entity_id=maintenance_id,
        detail={
            "service": service_id,
            "name": name,
            "scheduled_for": scheduled_for.isoformat(),
            "scheduled_until": scheduled_until.isoformat(),
            "components": sorted(wanted),
        },
    )
    if auto_transition:
        advance_maintenances(conn, now)
    return maintenance_id


def advance_maintenances(conn: Connection, now: datetime, actor: str = "scheduler") -> list[str]:
    """Start maintenance whose window has begun and complete maintenance whose window has ended."""
    rows = conn.execute(
        select(
            incidents.c.id, incidents.c.status, incidents.c.scheduled_for, incidents.c.scheduled_until
        ).where(
            incidents.c.kind == "maintenance",
            incidents.c.auto_transition.is_(True),
            incidents.c.status.in_([s.value for s in MaintenanceStatus if s.value in OPEN_STATUSES]),
        )
    ).all()
    moved = []
    for row in rows:
        if row.scheduled_until <= now:
            update_incident(
                conn,
                row.id,
                actor=actor,
                now=now,
                status=MaintenanceStatus.completed.value,
                message="The scheduled maintenance has been completed.",
            )
            moved.append(row.id)
        elif row.status == MaintenanceStatus.scheduled and row.scheduled_for <= now:
            update_incident(
                conn,
                row.id,
                actor=actor,
                now=now,
                status=MaintenanceStatus.in_progress.value,
                message="Scheduled maintenance is currently in progress.",
            )
            moved.append(row.id)
    return moved


@dataclass(frozen=True)
class ComponentStatusSet:
    """What `set_component_status` did: the component, its manual status and its status now."""

    component_id: str
    manual_status: str | None  # None: no manual claim
    status: str  # the worst of every claim, as the public page shows it
    changed: bool  # False when the manual status already was the one asked for (nothing written)


def set_component_status(
    conn: Connection,
    component: str | tuple[str, str],
    status: str | None,
    *,
    actor: str,
    now: datetime,
) -> ComponentStatusSet:
    """Set a component's status by hand, as Statuspage's "set component status" does: no incident needed.

    `component` is a component id ("<service>.<slug>") or (service id, slug). The manual status is one
    claim among the open incidents' and active maintenance's, so the component shows the worst of them;
    "operational" (or None) removes the manual claim. The change is audited; it records no event, since
    the event stream (DESIGN.md 3.2) is about incidents only. Asking for the manual status a component
    already has writes nothing.
    """
    row = _require_component(conn, component)
    wanted = None if status is None else _check_enum("status", status, ComponentStatus)
    if wanted == ComponentStatus.operational.value:
        wanted = None
    if wanted == row["manual_status"]:
        return ComponentStatusSet(row["id"], wanted, row["status"], changed=False)
    conn.execute(
        update(components)
        .where(components.c.id == row["id"])
        .values(
            manual_status=wanted,
            manual_status_at=now if wanted is not None else None,
            manual_status_by=actor if wanted is not None else None,
        )
    )
    changes = _recompute(conn, [row["id"]], now)
    new_status = changes[0]["new_status"] if changes else row["status"]
    change_bus.record(conn, "component")  # the admin page's "where it comes from" changed even if not this
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="component.status_set" if wanted is not None else "component.status_cleared",
        entity="component",
        entity_id=row["id"],
        detail={
            "service": row["service_id"],
            "component": row["slug"],
            "manual_status": wanted,
            "old_manual_status": row["manual_status"],
            "status": new_status,
            "old_status": row["status"],
        },
    )
    return ComponentStatusSet(row["id"], wanted, new_status, changed=True)


# -- helpers -----------------------------------------------------------------------------------------


def _require_service(conn: Connection, service_id: str) -> None:
    if conn.scalar(select(services.c.id).where(services.c.id == service_id)) is None:
        raise NotFound(f"unknown service {service_id!r}")


def _require_component(conn: Connection, component: str | tuple[str, str]) -> RowMapping:
    if isinstance(component, tuple):
        service_id, slug = component
        _require_service(conn, service_id)
        where: ColumnElement[bool] = (components.c.service_id == service_id) & (components.c.slug == slug)
        unknown = f"unknown component {slug!r} of service {service_id!r}"
    else:
        where = components.c.id == component
        unknown = f"unknown component {component!r}"
    row = conn.execute(select(components).where(where)).mappings().first()
    if row is None:
        raise NotFound(unknown)
    return row


def _require_incident(conn: Connection, incident_id: str) -> RowMapping:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).mappings().first()
    if row is None:
        raise NotFound(f"unknown incident {incident_id!r}")
    return row


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise IncidentError("name", "must not be empty")
    if len(name) > MAX_NAME:
        raise IncidentError("name", f"at most {MAX_NAME} characters")
    return name


def _check_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise IncidentError("message", "must not be empty")
    if len(body) > MAX_BODY:
        raise IncidentError("message", f"at most {MAX_BODY} characters")
    return body


def _check_enum(field: str, value: str, enum: type[StrEnum]) -> str:
    try:
        return enum(value).value
    except ValueError:
        allowed = "|".join(member.value for member in enum)
        raise IncidentError(field, f"{value!r} is not one of {allowed}") from None


def _check_impact(impact: str) -> str:
    if impact not in INCIDENT_IMPACTS:
        raise IncidentError("impact", f"{impact!r} is not one of {'|'.join(INCIDENT_IMPACTS)}")
    return impact


def _check_components(conn: Connection, service_id: str, wanted: Mapping[str, str]) -> dict[str, str]:
    known = dict(
        conn.execute(
            select(components.c.slug, components.c.id).where(components.c.service_id == service_id)
        ).all()
    )
    checked: dict[str, str] = {}
    for slug, status in wanted.items():
        if slug not in known:
            raise IncidentError(f"components.{slug}", f"unknown component {slug!r} of service {service_id!r}")
        checked[known[slug]] = _check_enum(f"components.{slug}", status, ComponentStatus)
    return checked


def _incident_component_ids(conn: Connection, incident_id: str) -> list[str]:
    query = select(incident_components.c.component_id).where(incident_components.c.incident_id == incident_id)
    return list(conn.scalars(query))


def _set_incident_components(
    conn: Connection, incident_id: str, wanted: Mapping[str, str], now: datetime
) -> list[dict[str, str]]:
    before = _incident_component_ids(conn, incident_id)
    conn.execute(delete(incident_components).where(incident_components.c.incident_id == incident_id))
    if wanted:
        conn.execute(
            incident_components.insert(),
            [{"incident_id": incident_id, "component_id": cid, "status": st} for cid, st in wanted.items()],
        )
    return _recompute(conn, set(before) | set(wanted), now)


def _recompute(conn: Connection, component_ids: Iterable[str], now: datetime) -> list[dict[str, str]]:
    """Set each component to the worst status any open incident, active maintenance or operator (a manual
    status) gives it."""
    ids = sorted(set(component_ids))
    if not ids:
        return []
    claimed = {cid: [c.status for c in found] for cid, found in component_claims(conn, ids).items()}
    current = conn.execute(
        select(components.c.id, components.c.name, components.c.status).where(components.c.id.in_(ids))
    ).all()
    changes = []
    for row in current:
        new_status = worst_component_status(claimed[row.id])
        if new_status != row.status:
            conn.execute(
                update(components).where(components.c.id == row.id).values(status=new_status, updated_at=now)
            )
            change_bus.record(conn, "component")
            changes.append(
                {"code": row.id, "name": row.name, "old_status": row.status, "new_status": new_status}
            )
    return changes


def _event(
    conn: Connection, event_type: str, incident_id: str, evidence: Evidence | None, now: datetime
) -> None:
    row = _require_incident(conn, incident_id)
    slugs = conn.execute(
        select(components.c.slug)
        .join(incident_components, incident_components.c.component_id == components.c.id)
        .where(incident_components.c.incident_id == incident_id)
        .order_by(components.c.slug)
    )
    record_event(
        conn,
        event_type=event_type,
        incident_id=incident_id,
        service_id=row["service_id"],
        components=list(slugs.scalars()),
        status=row["status"],
        impact=row["impact"],
        evidence=evidence,
        now=now,
    )


def _add_update(
    conn: Connection, incident_id: str, status: str, body: str, changes: list[dict[str, str]], now: datetime
) -> None:
    # Timelines sort newest first by time; two updates in one instant (maintenance scheduled and started
    # in one request, or a fixed replay clock) would tie, so a later update is stamped a microsecond later.
    latest = conn.scalar(
        select(func.max(incident_updates.c.created_at)).where(incident_updates.c.incident_id == incident_id)
    )
    if latest is not None and latest >= now:
        now = latest + timedelta(microseconds=1)
    conn.execute(
        incident_updates.insert().values(
            id=new_id(),
            incident_id=incident_id,
            status=status,
            body=body,
            created_at=now,
            updated_at=now,
            display_at=now,
            affected_components=changes,
        )
    )
    change_bus.record(conn, "incident")  # scheduled maintenance records no event: the cache hears here


def _default_body(status: str) -> str:
    bodies: dict[str, str] = {  # StrEnum keys: a status string finds its own
        IncidentStatus.investigating: "We are investigating this issue.",
        IncidentStatus.identified: "The issue has been identified and a fix is being implemented.",
        IncidentStatus.monitoring: "A fix has been implemented and we are monitoring the results.",
        IncidentStatus.resolved: "This incident has been resolved.",
        IncidentStatus.postmortem: "A postmortem has been published.",
        MaintenanceStatus.scheduled: "Maintenance has been scheduled.",
        MaintenanceStatus.in_progress: "Scheduled maintenance is currently in progress.",
        MaintenanceStatus.verifying: "Verification is currently underway for the maintenance items.",
        MaintenanceStatus.completed: "The scheduled maintenance has been completed.",
    }
    return bodies[status]
