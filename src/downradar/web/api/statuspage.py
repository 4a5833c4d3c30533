"""The Statuspage-compatible public API under /api/v2/, no auth, CORS open like Atlassian's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection

from downradar.core.model import ACTIVE_MAINTENANCE, MaintenanceStatus
from downradar.incidents.honesty import Honesty, honesty_by_service
from downradar.incidents.queries import IncidentView, ServiceView, load_incidents, load_services
from downradar.web.api.statuspage_json import StatuspageFormatter
from downradar.web.responses import JSON
from downradar.web.runtime import Runtime, runtime

router = APIRouter(prefix="/api/v2", tags=["statuspage v2"])
RECENT = 50


class _Snapshot:
    """Everything one v2 response needs, read in one transaction so the parts agree."""

    def __init__(self, rt: Runtime, conn: Connection) -> None:
        self.format = StatuspageFormatter(rt.catalog.page)
        self.services: list[ServiceView] = load_services(conn)
        self.components_by_id = {c.id: c for s in self.services for c in s.components}
        self.honesty: dict[str, Honesty] = honesty_by_service(conn, rt.clock.now())
        self.conn = conn

    def incidents(self, **filters: Any) -> list[IncidentView]:
        return load_incidents(self.conn, **filters)

    def page(self, *incident_lists: list[IncidentView]) -> dict[str, Any]:
        moments = [c.updated_at for c in self.components_by_id.values()]
        moments += [s.updated_at for s in self.services]
        moments += [i.updated_at for incidents in incident_lists for i in incidents]
        return self.format.page(max(moments, default=None))

    def incident_list(self, incidents: list[IncidentView]) -> list[dict[str, Any]]:
        return [self.format.incident(i, self.components_by_id) for i in incidents]


def _respond(body: dict[str, Any]) -> JSON:
    return JSON(body, headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"})


@contextmanager
def _snapshot(request: Request) -> Iterator[_Snapshot]:
    rt = runtime(request)
    with rt.engine.connect() as conn:
        yield _Snapshot(rt, conn)


@router.get("/summary.json", summary="Page, components, unresolved incidents, upcoming/active maintenance")
def summary(request: Request) -> JSON:
    with _snapshot(request) as snap:
        unresolved = snap.incidents(unresolved=True)
        maintenances = snap.incidents(kind="maintenance", unresolved=True)
        return _respond(
            {
                "page": snap.page(unresolved, maintenances),
                "components": snap.format.components(snap.services, snap.honesty),
                "incidents": snap.incident_list(unresolved),
                "scheduled_maintenances": snap.incident_list(maintenances),
                "status": snap.format.status(snap.services, unresolved),
            }
        )


@router.get("/status.json", summary="The page's blended status indicator")
def status(request: Request) -> JSON:
    with _snapshot(request) as snap:
        unresolved = snap.incidents(unresolved=True)
        return _respond(
            {"page": snap.page(unresolved), "status": snap.format.status(snap.services, unresolved)}
        )


@router.get("/components.json", summary="Every component; each service is a group")
def components(request: Request) -> JSON:
    with _snapshot(request) as snap:
        return _respond(
            {"page": snap.page(), "components": snap.format.components(snap.services, snap.honesty)}
        )


@router.get("/incidents.json", summary="The 50 most recent incidents")
def incidents(request: Request) -> JSON:
    return _incidents(request, kind="incident", limit=RECENT)


@router.get("/incidents/unresolved.json", summary="Incidents not yet resolved")
def unresolved_incidents(request: Request) -> JSON:
    return _incidents(request, kind="incident", unresolved=True)


@router.get("/scheduled-maintenances.json", summary="The 50 most recent scheduled maintenances")
def scheduled_maintenances(request: Request) -> JSON:
    return _maintenances(request, None)


@router.get("/scheduled-maintenances/upcoming.json", summary="Maintenance scheduled, not yet started")
def upcoming_maintenances(request: Request) -> JSON:
    return _maintenances(request, (MaintenanceStatus.scheduled.value,))


@router.get("/scheduled-maintenances/active.json", summary="Maintenance in progress or being verified")
def active_maintenances(request: Request) -> JSON:
    return _maintenances(request, ACTIVE_MAINTENANCE)


def _incidents(request: Request, **filters: Any) -> JSON:
    with _snapshot(request) as snap:
        found = snap.incidents(**filters)
        return _respond({"page": snap.page(found), "incidents": snap.incident_list(found)})


def _maintenances(request: Request, statuses: tuple[str, ...] | None) -> JSON:
    with _snapshot(request) as snap:
        if statuses is None:
            found = snap.incidents(kind="maintenance", limit=RECENT)
        else:
            found = [m for m in snap.incidents(kind="maintenance", unresolved=True) if m.status in statuses]
            found.sort(key=lambda m: m.scheduled_for or m.started_at)  # a maintenance starts when scheduled
        return _respond({"page": snap.page(found), "scheduled_maintenances": snap.incident_list(found)})
