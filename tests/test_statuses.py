"""The one definition of statuses and impacts (core/model.py): every status has a label and a place in
the open/closed split, every component status a severity, and what people read is what the pages show."""

from __future__ import annotations

from downradar.core.model import (
    ACTIVE_MAINTENANCE,
    CLOSED_STATUSES,
    COMPONENT_SEVERITY,
    COMPONENT_STATUSES,
    IMPACT_LABELS,
    IMPACT_SEVERITY,
    INCIDENT_FLOW,
    INCIDENT_IMPACTS,
    MAINTENANCE_FLOW,
    OPEN_STATUSES,
    OUTAGE_STATUSES,
    STATUS_LABELS,
    ComponentStatus,
    Impact,
    IncidentStatus,
    MaintenanceStatus,
    component_severity,
    impact_label,
    status_label,
    worst_component_status,
)


def test_every_status_and_impact_has_a_label_and_a_severity() -> None:
    for status in (*ComponentStatus, *IncidentStatus, *MaintenanceStatus):
        assert STATUS_LABELS[status]
    assert set(COMPONENT_SEVERITY) == set(ComponentStatus) == set(COMPONENT_STATUSES)
    assert set(IMPACT_LABELS) == set(IMPACT_SEVERITY) == set(Impact)


def test_incident_and_maintenance_statuses_are_either_open_or_closed() -> None:
    everything = {s.value for s in (*IncidentStatus, *MaintenanceStatus)}
    assert everything == OPEN_STATUSES | CLOSED_STATUSES
    assert not OPEN_STATUSES & CLOSED_STATUSES
    assert {"resolved", "postmortem", "completed"} == CLOSED_STATUSES
    assert set(ACTIVE_MAINTENANCE) <= OPEN_STATUSES
    assert INCIDENT_FLOW == ("investigating", "identified", "monitoring", "resolved")
    assert MAINTENANCE_FLOW == ("scheduled", "in_progress", "verifying", "completed")
    assert INCIDENT_IMPACTS == ("none", "minor", "major", "critical")


def test_labels_read_as_people_expect_and_unknown_statuses_in_words() -> None:
    assert status_label("partial_outage") == "Partial outage"
    assert status_label("in_progress") == "In progress"
    assert status_label(ComponentStatus.under_maintenance) == "Under maintenance"
    assert impact_label("none") == "No impact"
    assert status_label("data_loss") == "Data loss"  # a provider's own status, in words


def test_severity_orders_outages_above_maintenance() -> None:
    assert worst_component_status(["operational", "under_maintenance", "degraded_performance"]) == (
        "degraded_performance"
    )
    assert component_severity("major_outage") > component_severity("partial_outage")
    assert component_severity("no-such-status") == 0
    assert {"partial_outage", "major_outage"} == OUTAGE_STATUSES
