"""Incident lifecycle, maintenance windows and the audit of every change. Detection and humans share it."""

from downradar.incidents.errors import IncidentError, NotFound
from downradar.incidents.events import Evidence
from downradar.incidents.lifecycle import (
    advance_maintenances,
    confirm_incident,
    dismiss_incident,
    open_incident,
    resolve_incident,
    schedule_maintenance,
    update_incident,
)

__all__ = [
    "Evidence",
    "IncidentError",
    "NotFound",
    "advance_maintenances",
    "confirm_incident",
    "dismiss_incident",
    "open_incident",
    "resolve_incident",
    "schedule_maintenance",
    "update_incident",
]
