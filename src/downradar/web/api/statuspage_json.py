"""Statuspage v2 JSON: Atlassian's field names and enums, built from the read-side views.

Each service is a component group (id = service id) whose children are its components
(id = "<service>.<component>"), so a Statuspage client sees the whole page.

Downradar's own additions sit under a `downradar` key (Statuspage clients ignore unknown fields; the
Statuspage fields keep their meaning): on each group, the provider's official status and the honesty
gap; on each incident, the signals that agreed and when the provider acknowledged it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from downradar.core.catalog import Page
from downradar.incidents.honesty import Honesty
from downradar.incidents.links import incident_url
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

    def group(self, service: ServiceView, honesty: Honesty | None = None) -> dict[str, Any]:
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
            "downradar": self.honesty(honesty),
        }

    def honesty(self, honesty: Honesty | None) -> dict[str, Any]:
        """The extension on a group: official status, honesty gap, acknowledgement grade."""
        if honesty is None or not honesty.watched:
            official = None
        else:
            state = honesty.official
            official = {
                "indicator": state.indicator if state else None,
                "description": state.description if state else None,
                "admits_problem": state.admits_problem if state else None,
                "seen_at": iso(state.ts, self.tz) if state else None,
                "reachable": honesty.reachable,
                "last_ok_at": iso(honesty.last_ok_at, self.tz),
            }
        grade = honesty.grade if honesty is not None else None
        return {
            "official_status": official,
            "honesty_gap": bool(honesty and honesty.gap),
            "state": honesty.state if honesty is not None else None,
            "acknowledgement": None
            if grade is None
            else {
                "grade": grade.letter,
                "average_delay_minutes": round(grade.average_minutes, 1),
                "incidents": grade.incidents,
                "acknowledged": grade.acknowledged,
                "window_days": 90,
            },
        }

    def components(
        self, services: list[ServiceView], honesty: dict[str, Honesty] | None = None
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for service in services:
            out.append(self.group(service, (honesty or {}).get(service.id)))
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
            "shortlink": incident_url(self.page_info.url, incident.id),
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
        if incident.kind == "incident":
            delay = None
            if incident.acknowledged_at is not None:
                delay = max(0.0, (incident.acknowledged_at - incident.created_at).total_seconds() / 60)
            body["downradar"] = {
                "signals": incident.signals or [],
                "acknowledged_at": iso(incident.acknowledged_at, self.tz),
                "acknowledgement": incident.acknowledgement,
                "acknowledgement_delay_minutes": None if delay is None else round(delay, 1),
            }
        if incident.kind == "maintenance":
            body["scheduled_for"] = iso(incident.scheduled_for, self.tz)
            body["scheduled_until"] = iso(incident.scheduled_until, self.tz)
        return body
