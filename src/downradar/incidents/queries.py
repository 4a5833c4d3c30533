"""The read side: services with their components, incidents with their timelines, the page's overall state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select

from downradar.core.model import (
    CLOSED_STATUSES,
    IMPACT_SEVERITY,
    OUTAGE_STATUSES,
    ComponentStatus,
    Impact,
    worst_component_status,
)
from downradar.store.schema import components, incident_components, incident_updates, incidents, services


@dataclass(frozen=True)
class ComponentView:
    id: str
    service_id: str
    slug: str
    name: str
    description: str
    group_name: str | None
    position: int
    status: str
    showcase: bool
    only_show_if_degraded: bool
    created_at: datetime
    updated_at: datetime
    # A status an operator set by hand (one claim among the incidents'; `status` is already the worst).
    manual_status: str | None = None
    manual_status_at: datetime | None = None
    manual_status_by: str | None = None


@dataclass(frozen=True)
class ServiceView:
    id: str
    name: str
    description: str
    url: str | None
    position: int
    created_at: datetime
    updated_at: datetime
    components: list[ComponentView] = field(default_factory=list)

    @property
    def status(self) -> str:
        return worst_component_status([c.status for c in self.components])

    @property
    def components_updated_at(self) -> datetime:
        return max([self.updated_at, *(c.updated_at for c in self.components)])


@dataclass(frozen=True)
class UpdateView:
    id: str
    incident_id: str
    status: str
    body: str
    created_at: datetime
    updated_at: datetime
    display_at: datetime
    affected_components: list[dict[str, str]]


@dataclass(frozen=True)
class IncidentView:
    id: str
    service_id: str
    kind: str
    name: str
    status: str
    impact: str
    source: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    scheduled_for: datetime | None
    scheduled_until: datetime | None
    auto_transition: bool
    managed_by: str
    confirmed_at: datetime | None
    dismissed_at: datetime | None
    signals: list[str] | None  # kinds of signal that agreed (detector incidents)
    acknowledged_at: datetime | None  # when the provider's own page first admitted it
    acknowledgement: str | None
    updates: list[UpdateView]  # newest first, as Statuspage lists them
    component_ids: list[str]

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES


def load_services(conn: Connection, service_id: str | None = None) -> list[ServiceView]:
    service_query = select(services).order_by(services.c.position)
    component_query = select(components).order_by(components.c.position)
    if service_id is not None:
        service_query = service_query.where(services.c.id == service_id)
        component_query = component_query.where(components.c.service_id == service_id)
    by_service: dict[str, list[ComponentView]] = {}
    for row in conn.execute(component_query).mappings():
        by_service.setdefault(row["service_id"], []).append(ComponentView(**row))
    return [
        ServiceView(**row, components=by_service.get(row["id"], []))
        for row in conn.execute(service_query).mappings()
    ]


def load_incidents(
    conn: Connection,
    *,
    kind: str = "incident",
    unresolved: bool = False,
    service_id: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    ids: list[str] | None = None,
) -> list[IncidentView]:
    query = select(incidents).order_by(incidents.c.created_at.desc(), incidents.c.id)
    if kind != "any":
        query = query.where(incidents.c.kind == kind)
    if unresolved:
        query = query.where(incidents.c.status.not_in(CLOSED_STATUSES))
    if service_id is not None:
        query = query.where(incidents.c.service_id == service_id)
    if since is not None:
        query = query.where(incidents.c.created_at >= since)
    if ids is not None:
        query = query.where(incidents.c.id.in_(ids))
    if limit is not None:
        query = query.limit(limit)
    rows = list(conn.execute(query).mappings())
    if not rows:
        return []
    incident_ids = [row["id"] for row in rows]
    updates: dict[str, list[UpdateView]] = {}
    update_rows = conn.execute(
        select(incident_updates)
        .where(incident_updates.c.incident_id.in_(incident_ids))
        .order_by(incident_updates.c.display_at.desc(), incident_updates.c.created_at.desc())
    ).mappings()
    for row in update_rows:
        updates.setdefault(row["incident_id"], []).append(UpdateView(**row))
    affected: dict[str, list[str]] = {}
    for link in conn.execute(
        select(incident_components.c.incident_id, incident_components.c.component_id)
        .where(incident_components.c.incident_id.in_(incident_ids))
        .order_by(incident_components.c.component_id)
    ):
        affected.setdefault(link.incident_id, []).append(link.component_id)
    return [
        IncidentView(**row, updates=updates.get(row["id"], []), component_ids=affected.get(row["id"], []))
        for row in rows
    ]


def page_status(all_services: list[ServiceView], open_incidents: list[IncidentView]) -> tuple[str, str]:
    """Statuspage's blended (indicator, description) from component statuses and unresolved incidents."""
    statuses = [c.status for s in all_services for c in s.components]
    indicator, description = Impact.none.value, "All Systems Operational"
    if statuses:
        if all(s == ComponentStatus.major_outage for s in statuses):
            indicator, description = Impact.critical.value, "Major System Outage"
        elif any(s in OUTAGE_STATUSES for s in statuses):
            indicator, description = Impact.major.value, "Partial System Outage"
        elif all(s == ComponentStatus.degraded_performance for s in statuses):
            indicator, description = Impact.minor.value, "Degraded System Service"
        elif ComponentStatus.degraded_performance in statuses:
            indicator, description = Impact.minor.value, "Partially Degraded Service"
        elif ComponentStatus.under_maintenance in statuses:
            indicator, description = Impact.maintenance.value, "Service Under Maintenance"
    worst_impact = max(
        (Impact(i.impact) for i in open_incidents if i.kind == "incident"),
        key=lambda impact: IMPACT_SEVERITY[impact],
        default=Impact.none,
    )
    by_impact = {
        Impact.minor: (Impact.minor.value, "Minor Service Outage"),
        Impact.major: (Impact.major.value, "Partial System Outage"),
        Impact.critical: (Impact.critical.value, "Major System Outage"),
    }
    if worst_impact in by_impact and IMPACT_SEVERITY[worst_impact] > IMPACT_SEVERITY[indicator]:
        indicator, description = by_impact[worst_impact]
    return indicator, description
