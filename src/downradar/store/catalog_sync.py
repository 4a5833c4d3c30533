"""Bring the services and components tables in line with the catalog file, keeping their statuses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from downradar.catalog import Catalog
from downradar.store.schema import components, incident_components, services


def sync_catalog(conn: Connection, catalog: Catalog, now: datetime) -> None:
    existing_services = set(conn.scalars(select(services.c.id)))
    existing_components = set(conn.scalars(select(components.c.id)))
    for position, service in enumerate(catalog.services, start=1):
        values = {
            "name": service.name,
            "description": service.description,
            "url": service.url,
            "position": position,
        }
        if service.id in existing_services:
            conn.execute(update(services).where(services.c.id == service.id).values(**values))
        else:
            conn.execute(services.insert().values(id=service.id, created_at=now, updated_at=now, **values))
        for comp_position, component in enumerate(service.components, start=1):
            component_id = f"{service.id}.{component.id}"
            values = {
                "name": component.name,
                "description": component.description,
                "group_name": component.group,
                "position": comp_position,
                "showcase": component.showcase,
                "only_show_if_degraded": component.only_show_if_degraded,
            }
            if component_id in existing_components:
                conn.execute(update(components).where(components.c.id == component_id).values(**values))
            else:
                conn.execute(
                    components.insert().values(
                        id=component_id,
                        service_id=service.id,
                        slug=component.id,
                        status="operational",
                        created_at=now,
                        updated_at=now,
                        **values,
                    )
                )
    # Components dropped from the catalog go too, unless an incident still names them (history stays whole).
    wanted = {f"{s.id}.{c.id}" for s in catalog.services for c in s.components}
    referenced = set(conn.scalars(select(incident_components.c.component_id).distinct()))
    stale = existing_components - wanted - referenced
    if stale:
        conn.execute(delete(components).where(components.c.id.in_(stale)))
