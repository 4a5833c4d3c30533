"""Plain typed records and enums shared by every room. Enum strings are Atlassian Statuspage's."""

from __future__ import annotations

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
