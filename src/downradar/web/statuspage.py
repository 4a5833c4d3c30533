"""Statuspage v2 JSON: Atlassian's field names and enums, built from the read-side views.

Each service is a component group (id = service id) whose children are its components
(id = "<service>.<component>"), so a Statuspage client sees the whole page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from downradar.catalog import Page
from downradar.incidents.queries import ComponentView, IncidentView, ServiceView, page_status
from downradar.web.timefmt import iso, zone


class StatuspageFormatter:
    def __init__(self, page: Page) -> None:
        self.page_info = page
        self.tz = page.time_zone

    def page(self, updated_at: datetime | None) -> dict[str, Any]:
        return {
            "id": self.page_info.id,
            "name": self.page_info.name,
            "url": self.page_info.url,
            "time_zone": self.tz,
            "updated_at": iso(updated_at, self.tz),
        }

    def status(self, services: list[ServiceView], open_incidents: list[IncidentView]) -> dict[str, str]:
        indicator, description = page_status(services, open_incidents)
        return {"indicator": indicator, "description": description}

    def component(self, component: ComponentView) -> dict[str, Any]:
        return {
            "id": component.id,
            "name": component.name,
            "status": component.status,
            "created_at": iso(component.created_at, self.tz),
            "updated_at": iso(component.updated_at, self.tz),
            "position": component.position,
            "description": component.description or None,
            "showcase": component.showcase,
            "start_date": component.created_at.astimezone(zone(self.tz)).date().isoformat(),
            "group_id": component.service_id,
            "page_id": self.page_info.id,
            "group": False,
            "only_show_if_degraded": component.only_show_if_degraded,
        }

    def group(self, service: ServiceView) -> dict[str, Any]:
        return {
            "id": service.id,
            "name": service.name,
            "status": service.status,
            "created_at": iso(service.created_at, self.tz),
            "updated_at": iso(service.components_updated_at, self.tz),
            "position": service.position,
            "description": service.description or None,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": self.page_info.id,
            "group": True,
            "only_show_if_degraded": False,
            "components": [c.id for c in service.components],
        }

    def components(self, services: list[ServiceView]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for service in services:
            out.append(self.group(service))
            out.extend(self.component(c) for c in service.components)
        return out

    def incident(self, incident: IncidentView, components_by_id: dict[str, ComponentView]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": incident.id,
            "name": incident.name,
            "status": incident.status,
            "created_at": iso(incident.created_at, self.tz),
            "updated_at": iso(incident.updated_at, self.tz),
            "monitoring_at": iso(incident.monitoring_at, self.tz),
            "resolved_at": iso(incident.resolved_at, self.tz),
            "impact": incident.impact,
            "shortlink": f"{self.page_info.url.rstrip('/')}/incidents/{incident.id}",
            "started_at": iso(incident.started_at, self.tz),
            "page_id": self.page_info.id,
            "incident_updates": [
                {
                    "id": update.id,
                    "status": update.status,
                    "body": update.body,
                    "incident_id": update.incident_id,
                    "created_at": iso(update.created_at, self.tz),
                    "updated_at": iso(update.updated_at, self.tz),
                    "display_at": iso(update.display_at, self.tz),
                    "affected_components": update.affected_components,
                    "deliver_notifications": True,
                    "custom_tweet": None,
                    "tweet_id": None,
                }
                for update in incident.updates
            ],
            "components": [
                self.component(components_by_id[cid])
                for cid in incident.component_ids
                if cid in components_by_id
            ],
        }
        if incident.kind == "maintenance":
            body["scheduled_for"] = iso(incident.scheduled_for, self.tz)
            body["scheduled_until"] = iso(incident.scheduled_until, self.tz)
        return body
