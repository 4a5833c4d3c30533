"""Plain typed records and enums shared by every room. Enum strings are Atlassian Statuspage's."""

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
COMPONENT_SEVERITY = {
    ComponentStatus.operational: 0,
    ComponentStatus.under_maintenance: 1,
    ComponentStatus.degraded_performance: 2,
    ComponentStatus.partial_outage: 3,
    ComponentStatus.major_outage: 4,
}


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


IMPACT_SEVERITY = {
    Impact.none: 0,
    Impact.maintenance: 0,
    Impact.minor: 1,
    Impact.major: 2,
    Impact.critical: 3,
}

CLOSED_STATUSES = frozenset({"resolved", "postmortem", "completed"})


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
        if self.indicator in ("minor", "major", "critical") or self.incidents:
            return True
        return any(status not in ("operational", "under_maintenance") for status in self.components.values())

    @property
    def admitted_at(self) -> datetime:
        """When the provider first said so: its earliest open incident's creation, else when we saw it."""
        times = [i.created_at for i in self.incidents if i.created_at is not None]
        return min(times) if times else self.ts
