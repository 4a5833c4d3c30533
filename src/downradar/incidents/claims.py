"""Who claims which status for a component: open incidents, active maintenance and an operator's own;
and the status changes operators' own claims caused, for the uptime history.

A component's status is the worst of these claims (lifecycle's `_recompute` writes it); the admin page
shows them so an operator can see where a status comes from before changing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, select

from downradar.core.model import ACTIVE_MAINTENANCE, CLOSED_STATUSES, ComponentStatus
from downradar.store.schema import audit_log, components, incident_components, incidents

ClaimSource = Literal["manual", "incident", "maintenance"]


@dataclass(frozen=True)
class Claim:
    status: str
    source: ClaimSource
    incident_id: str | None = None  # the incident or maintenance making the claim; None for a manual one
    name: str | None = None  # its name
    actor: str | None = None  # who set a manual status, and when
    at: datetime | None = None


def component_claims(conn: Connection, component_ids: Iterable[str]) -> dict[str, list[Claim]]:
    """component id → its claims: the manual one first, then incidents and maintenance as they started."""
    ids = sorted(set(component_ids))
    claimed: dict[str, list[Claim]] = {cid: [] for cid in ids}
    if not ids:
        return claimed
    manual = conn.execute(
        select(
            components.c.id,
            components.c.manual_status,
            components.c.manual_status_by,
            components.c.manual_status_at,
        ).where(components.c.id.in_(ids), components.c.manual_status.is_not(None))
    )
    for setting in manual:
        claimed[setting.id].append(
            Claim(
                setting.manual_status, "manual", actor=setting.manual_status_by, at=setting.manual_status_at
            )
        )
    rows = conn.execute(
        select(
            incident_components.c.component_id,
            incident_components.c.status,
            incidents.c.id,
            incidents.c.name,
            incidents.c.kind,
            incidents.c.status.label("incident_status"),
        )
        .join(incidents, incidents.c.id == incident_components.c.incident_id)
        .where(incident_components.c.component_id.in_(ids))
        .order_by(incidents.c.started_at, incidents.c.id)
    )
    for row in rows:
        if row.kind == "incident" and row.incident_status not in CLOSED_STATUSES:
            claimed[row.component_id].append(Claim(row.status, "incident", row.id, row.name))
        elif row.kind == "maintenance" and row.incident_status in ACTIVE_MAINTENANCE:
            under = ComponentStatus.under_maintenance.value
            claimed[row.component_id].append(Claim(under, "maintenance", row.id, row.name))
    return claimed


MANUAL_ACTIONS = ("component.status_set", "component.status_cleared")


@dataclass(frozen=True)
class ManualChange:
    """A component status change an operator's manual status caused (no incident update records it)."""

    component_id: str
    at: datetime
    old_status: str
    new_status: str


def manual_changes(conn: Connection, since: datetime) -> list[ManualChange]:
    """Status changes caused by setting or clearing a manual status since `since`, oldest first.

    Read from the audit log, which `set_component_status` writes in the same transaction as the change;
    setting a manual status that an incident's worse claim outranks changed nothing and is left out.
    """
    rows = conn.execute(
        select(audit_log.c.entity_id, audit_log.c.at, audit_log.c.detail)
        .where(audit_log.c.action.in_(MANUAL_ACTIONS), audit_log.c.at >= since)
        .order_by(audit_log.c.id)
    )
    return [
        ManualChange(row.entity_id, row.at, row.detail["old_status"], row.detail["status"])
        for row in rows
        if row.detail.get("old_status") != row.detail.get("status")
    ]
