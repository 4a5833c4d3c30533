"""Admin API: open, update and resolve incidents, schedule maintenance, set component statuses, read the
audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from downradar import incidents as lifecycle
from downradar.incidents import NotFound, audit
from downradar.incidents.claims import component_claims
from downradar.incidents.lifecycle import set_component_status
from downradar.incidents.queries import load_incidents, load_services
from downradar.web.api.auth import require_admin
from downradar.web.api.models import (
    ComponentStatusChange,
    IncidentChange,
    IncidentCreate,
    IncidentDismiss,
    IncidentResolve,
    IncidentUpdatePost,
    MaintenanceCreate,
)
from downradar.web.api.statuspage_json import StatuspageFormatter
from downradar.web.responses import JSON
from downradar.web.runtime import Runtime, runtime
from downradar.web.timefmt import iso

router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[Depends(require_admin)])


def incident_json(rt: Runtime, incident_id: str) -> dict[str, Any]:
    with rt.engine.connect() as conn:
        found = load_incidents(conn, kind="any", ids=[incident_id])
        if not found:
            raise NotFound(f"unknown incident {incident_id!r}")
        by_id = {c.id: c for s in load_services(conn, found[0].service_id) for c in s.components}
    body = StatuspageFormatter(rt.catalog.page).incident(found[0], by_id)
    body["service"] = found[0].service_id
    body["kind"] = found[0].kind
    body["source"] = found[0].source
    body["managed_by"] = found[0].managed_by
    body["confirmed_at"] = iso(found[0].confirmed_at, rt.catalog.page.time_zone)
    body["dismissed_at"] = iso(found[0].dismissed_at, rt.catalog.page.time_zone)
    return body


@router.post("/incidents", status_code=201, summary="Open an incident")
def create_incident(request: Request, body: IncidentCreate) -> JSON:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        incident_id = body.open(conn, actor="admin", now=rt.clock.now())
    return JSON(incident_json(rt, incident_id), status_code=201)


@router.get("/incidents", summary="Incidents and maintenance, newest first")
def list_incidents(
    request: Request,
    service: str | None = None,
    unresolved: bool = False,
    kind: str = Query("incident", pattern="^(incident|maintenance|any)$"),
    limit: int = Query(50, ge=1, le=500),
) -> JSON:
    rt = runtime(request)
    with rt.engine.connect() as conn:
        ids = [
            i.id
            for i in load_incidents(conn, kind=kind, unresolved=unresolved, service_id=service, limit=limit)
        ]
    return JSON({"incidents": [incident_json(rt, i) for i in ids]})


@router.get("/incidents/{incident_id}", summary="One incident or maintenance with its timeline")
def get_incident(request: Request, incident_id: str) -> JSON:
    return JSON(incident_json(runtime(request), incident_id))


def _change(rt: Runtime, incident_id: str, **changes: Any) -> JSON:
    with rt.engine.begin() as conn:
        lifecycle.update_incident(conn, incident_id, actor="admin", now=rt.clock.now(), **changes)
    return JSON(incident_json(rt, incident_id))


@router.patch("/incidents/{incident_id}", summary="Change an incident's name, status, impact or components")
def patch_incident(request: Request, incident_id: str, body: IncidentChange) -> JSON:
    return _change(
        runtime(request),
        incident_id,
        name=body.name,
        status=body.status,
        impact=body.impact,
        message=body.message,
        components_status=body.components,
    )


@router.post("/incidents/{incident_id}/updates", summary="Post an update to the incident's timeline")
def post_update(request: Request, incident_id: str, body: IncidentUpdatePost) -> JSON:
    return _change(
        runtime(request),
        incident_id,
        message=body.message,
        status=body.status,
        components_status=body.components,
    )


@router.post("/incidents/{incident_id}/resolve", summary="Resolve an incident (or complete maintenance)")
def resolve(request: Request, incident_id: str, body: IncidentResolve | None = None) -> JSON:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        lifecycle.resolve_incident(
            conn, incident_id, actor="admin", now=rt.clock.now(), message=body.message if body else None
        )
    return JSON(incident_json(rt, incident_id))


@router.post("/incidents/{incident_id}/confirm", summary="Confirm a detected incident (operators take over)")
def confirm(request: Request, incident_id: str) -> JSON:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        lifecycle.confirm_incident(conn, incident_id, actor="admin", now=rt.clock.now())
    return JSON(incident_json(rt, incident_id))


@router.post("/incidents/{incident_id}/dismiss", summary="Dismiss a detected incident as not real")
def dismiss(request: Request, incident_id: str, body: IncidentDismiss) -> JSON:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        lifecycle.dismiss_incident(conn, incident_id, actor="admin", now=rt.clock.now(), reason=body.reason)
    return JSON(incident_json(rt, incident_id))


@router.post("/maintenances", status_code=201, summary="Schedule maintenance")
def create_maintenance(request: Request, body: MaintenanceCreate) -> JSON:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        maintenance_id = body.schedule(conn, actor="admin", now=rt.clock.now())
    return JSON(incident_json(rt, maintenance_id), status_code=201)


@router.patch("/maintenances/{maintenance_id}", summary="Change a maintenance's status or post an update")
def patch_maintenance(request: Request, maintenance_id: str, body: IncidentChange) -> JSON:
    return patch_incident(request, maintenance_id, body)


@router.get("/audit", summary="The audit log, newest first")
def audit_log(
    request: Request,
    entity: str | None = None,
    entity_id: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> JSON:
    rt = runtime(request)
    with rt.engine.connect() as conn:
        rows = audit.entries(conn, entity=entity, entity_id=entity_id, limit=limit)
    for row in rows:
        row["at"] = row["at"].isoformat()
    return JSON({"entries": rows})


def component_json(rt: Runtime, service_id: str, slug: str) -> dict[str, Any]:
    """The Statuspage component, plus its slug, its manual status and the claims that make its status."""
    with rt.engine.connect() as conn:
        found = load_services(conn, service_id)
        component = next((c for c in found[0].components if c.slug == slug), None) if found else None
        if component is None:
            raise NotFound(f"unknown component {slug!r} of service {service_id!r}")
        claims = component_claims(conn, [component.id])[component.id]
    body = StatuspageFormatter(rt.catalog.page).component(component)
    body["service"] = service_id
    body["slug"] = slug
    body["manual_status"] = component.manual_status
    at = component.manual_status_at
    body["manual_status_at"] = iso(at, rt.catalog.page.time_zone) if at else None
    body["manual_status_by"] = component.manual_status_by
    body["claims"] = [
        {"source": c.source, "status": c.status, "incident_id": c.incident_id, "name": c.name} for c in claims
    ]
    return body


@router.patch(
    "/services/{service_id}/components/{slug}",
    summary="Set a component's status by hand (no incident needed); 'operational' clears it",
)
def patch_component(request: Request, service_id: str, slug: str, body: ComponentStatusChange) -> JSON:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        set_component_status(conn, (service_id, slug), body.status, actor="admin", now=rt.clock.now())
    return JSON(component_json(rt, service_id, slug))
