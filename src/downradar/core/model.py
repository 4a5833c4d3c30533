"""Plain typed records and enums shared by every room. Enum strings are Atlassian Statuspage's.

The one place that defines each component, incident and maintenance status and each impact: its severity,
its label, and which statuses are open or closed. Everything else (detection, incidents, notifications,
pages, admin, templates through the `status_label`/`impact_label` filters) reads them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ComponentStatus(StrEnum):
    operational = "operational"
    degraded_performance = "degraded_performance"
    partial_outage = "partial_outage"
    major_outage = "major_outage"
    under_maintenance = "under_maintenance"


# Worse statuses sort higher; maintenance ranks below any real outage but above operational.
COMPONENT_SEVERITY: dict[str, int] = {
    ComponentStatus.operational: 0,
    ComponentStatus.under_maintenance: 1,
    ComponentStatus.degraded_performance: 2,
    ComponentStatus.partial_outage: 3,
    ComponentStatus.major_outage: 4,
}
COMPONENT_STATUSES = tuple(s.value for s in ComponentStatus)  # in the order a form offers them
# The statuses that count as downtime (uptime percentages, outage minutes).
OUTAGE_STATUSES = frozenset({ComponentStatus.partial_outage.value, ComponentStatus.major_outage.value})
# A provider or a component in these is not admitting a problem.
FINE_STATUSES = frozenset({ComponentStatus.operational.value, ComponentStatus.under_maintenance.value})


class IncidentStatus(StrEnum):
    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"
    postmortem = "postmortem"


class MaintenanceStatus(StrEnum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    verifying = "verifying"
    completed = "completed"


class Impact(StrEnum):
    none = "none"
    minor = "minor"
    major = "major"
    critical = "critical"
    maintenance = "maintenance"


IMPACT_SEVERITY: dict[str, int] = {
    Impact.none: 0,
    Impact.maintenance: 0,
    Impact.minor: 1,
    Impact.major: 2,
    Impact.critical: 3,
}
# An incident's own impact; `maintenance` is only ever a page indicator.
INCIDENT_IMPACTS = tuple(i.value for i in Impact if i is not Impact.maintenance)

CLOSED_STATUSES = frozenset(
    {IncidentStatus.resolved.value, IncidentStatus.postmortem.value, MaintenanceStatus.completed.value}
)
OPEN_STATUSES = frozenset(s.value for s in (*IncidentStatus, *MaintenanceStatus) if s not in CLOSED_STATUSES)
# The statuses an operator moves an incident or a maintenance through, in order (postmortem is reached
# by publishing one, not chosen).
INCIDENT_FLOW = tuple(s.value for s in IncidentStatus if s is not IncidentStatus.postmortem)
MAINTENANCE_FLOW = tuple(s.value for s in MaintenanceStatus)
# A maintenance that is happening now: its components show under maintenance.
ACTIVE_MAINTENANCE = (MaintenanceStatus.in_progress.value, MaintenanceStatus.verifying.value)

# What people read for each status and impact: pages, admin, feeds, badges and notifications alike.
STATUS_LABELS: dict[str, str] = {
    ComponentStatus.operational: "Operational",
    ComponentStatus.degraded_performance: "Degraded performance",
    ComponentStatus.partial_outage: "Partial outage",
    ComponentStatus.major_outage: "Major outage",
    ComponentStatus.under_maintenance: "Under maintenance",
    IncidentStatus.investigating: "Investigating",
    IncidentStatus.identified: "Identified",
    IncidentStatus.monitoring: "Monitoring",
    IncidentStatus.resolved: "Resolved",
    IncidentStatus.postmortem: "Postmortem",
    MaintenanceStatus.scheduled: "Scheduled",
    MaintenanceStatus.in_progress: "In progress",
    MaintenanceStatus.verifying: "Verifying",
    MaintenanceStatus.completed: "Completed",
}
IMPACT_LABELS: dict[str, str] = {
    Impact.none: "No impact",
    Impact.minor: "Minor",
    Impact.major: "Major",
    Impact.critical: "Critical",
    Impact.maintenance: "Maintenance",
}


def _words(slug: str) -> str:
    text = slug.replace("-", " ").replace("_", " ")
    return text[:1].upper() + text[1:]


def status_label(value: str) -> str:
    """A status as people read it ("Partial outage"); an unknown one (a provider's own) in words."""
    return STATUS_LABELS.get(value, _words(value))


def impact_label(value: str) -> str:
    return IMPACT_LABELS.get(value, _words(value))


def component_severity(status: str) -> int:
    """How bad a component status is (0 operational … 4 major outage); unknown statuses count as fine."""
    return COMPONENT_SEVERITY.get(status, 0)


def worst_component_status(statuses: list[str]) -> str:
    if not statuses:
        return ComponentStatus.operational.value
    return max(statuses, key=lambda s: COMPONENT_SEVERITY[ComponentStatus(s)])


@dataclass(frozen=True)
class ProbeResult:
    """One check a location ran. `probe` is the page-wide key "<service>.<probe slug>"; `ts` is when the
    check started. `error` says in words what failed (None when `ok`)."""

    probe: str
    location: str
    ts: datetime
    ok: bool
    latency_ms: float | None
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class UpstreamIncident:
    """An open incident on a provider's own status page."""

    id: str
    name: str
    status: str  # Statuspage incident status (investigating, identified, monitoring, …)
    impact: str  # none | minor | major | critical
    created_at: datetime | None
    components: tuple[str, ...] = ()  # our component slugs it names


@dataclass(frozen=True)
class UpstreamState:
    """What a provider's page says at `ts` (when we saw it), mapped onto our components.

    `indicator` is Statuspage's page indicator (none | minor | major | critical | maintenance);
    `components` holds our component slugs whose provider component is not operational.
    """

    service: str
    ts: datetime
    indicator: str
    description: str
    components: Mapping[str, str] = field(default_factory=dict)
    incidents: tuple[UpstreamIncident, ...] = ()
    provider_updated_at: datetime | None = None

    @property
    def admits_problem(self) -> bool:
        """The provider admits something is wrong (maintenance is not a problem)."""
        if IMPACT_SEVERITY.get(self.indicator, 0) > 0 or self.incidents:
            return True
        return any(status not in FINE_STATUSES for status in self.components.values())

    @property
    def admitted_at(self) -> datetime:
        """When the provider first said so: its earliest open incident's creation, else when we saw it."""
        times = [i.created_at for i in self.incidents if i.created_at is not None]
        return min(times) if times else self.ts
