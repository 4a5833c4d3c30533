"""Bring the services and components tables in line with the catalog file, keeping their statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from downradar.core.catalog import Catalog, Component, Service
from downradar.core.model import ComponentStatus
from downradar.store.schema import components, incident_components, services


def sync_catalog(conn: Connection, catalog: Catalog, now: datetime) -> None:
    existing_services = set(conn.scalars(select(services.c.id)))
    existing_components = set(conn.scalars(select(components.c.id)))
    for position, service in enumerate(catalog.services, start=1):
        if service.id in existing_services:
            values = service_values(service, position)
            conn.execute(update(services).where(services.c.id == service.id).values(**values))
        else:
            conn.execute(services.insert().values(**new_service_row(service, position, now)))
        for comp_position, component in enumerate(service.components, start=1):
            component_id = f"{service.id}.{component.id}"
            if component_id in existing_components:
                values = component_values(component, comp_position)
                conn.execute(update(components).where(components.c.id == component_id).values(**values))
            else:
                conn.execute(
                    components.insert().values(**new_component_row(service, component, comp_position, now))
                )
    # Components dropped from the catalog go too, unless an incident still names them (history stays whole).
    wanted = {f"{s.id}.{c.id}" for s in catalog.services for c in s.components}
    referenced = set(conn.scalars(select(incident_components.c.component_id).distinct()))
    stale = existing_components - wanted - referenced
    if stale:
        conn.execute(delete(components).where(components.c.id.in_(stale)))


def service_values(service: Service, position: int) -> dict[str, Any]:
    """The services columns the catalog decides."""
    return {
        "name": service.name,
        "description": service.description,
        "url": service.url,
        "position": position,
    }


def component_values(component: Component, position: int) -> dict[str, Any]:
    """The components columns the catalog decides."""
    return {
        "name": component.name,
        "description": component.description,
        "group_name": component.group,
        "position": position,
        "showcase": component.showcase,
        "only_show_if_degraded": component.only_show_if_degraded,
    }


def new_service_row(service: Service, position: int, now: datetime) -> dict[str, Any]:
    return {"id": service.id, "created_at": now, "updated_at": now, **service_values(service, position)}


def new_component_row(service: Service, component: Component, position: int, now: datetime) -> dict[str, Any]:
    return {
        "id": f"{service.id}.{component.id}",
        "service_id": service.id,
        "slug": component.id,
        "status": ComponentStatus.operational.value,
        "created_at": now,
        "updated_at": now,
        **component_values(component, position),
    }
