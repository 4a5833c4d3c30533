"""ChatGPT's own status page and front door as they behaved on 4 February 2026, played for `downradar demo`.

DEMO DATA, served only by the demo: nothing here is OpenAI's. The router plays a Statuspage
`summary.json` and a health endpoint, both scripted from the demo clock and episode.toml, so the
demo's real upstream poller and a real probe watch them the way they would watch the provider:

- the status page says "All Systems Operational" until `provider_acknowledged_after_minutes` after the
  onset (09:30 PST on the day), then carries an incident until the reports are back to normal (the end of
  the episode's curve), then is operational again;
- the front door answers 503 during the worst of it: from `FRONT_DOOR_DOWN_AFTER` into the outage until
  the reports fall below `FRONT_DOOR_UP_BELOW` of their peak.

Between our detection and the provider's acknowledgement the service page shows the honesty gap.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from downradar.core.catalog import Catalog
from downradar.core.clock import Clock
from downradar.core.config import Settings
from downradar.demo.traffic import DemoTraffic
from downradar.probes.spec import ProbeSpec
from downradar.upstream.spec import UpstreamSpec
from downradar.web.app import DownradarApp, create_app

SERVICE = "chatgpt"
PREFIX = f"/demo/provider/{SERVICE}"
FRONT_DOOR_DOWN_AFTER = timedelta(minutes=4)
FRONT_DOOR_UP_BELOW = 0.20  # of the curve's peak
PAGE_CREATED = datetime(2023, 3, 1, tzinfo=UTC)
INCIDENT_NAME = "Elevated errors for ChatGPT users"
# The provider's component names (as its page spells them) -> our component slugs; "Voice mode" is one
# of theirs we don't list, to show that unmapped components are simply ignored.
PROVIDER_COMPONENTS: dict[str, str | None] = {
    "Conversations": "conversations",
    "Login": "login",
    "Search": "search",
    "Image Generation": "image-generation",
    "File uploads": "file-uploads",
    "Chat history": "chat-history",
    "Projects": "projects",
    "GPTs": "custom-gpts",
    "Voice mode": None,
    "Codex": "codex",
}
AFFECTED = {"Conversations": "partial_outage"}


@dataclass(frozen=True)
class ProviderScript:
    """When the scripted provider says what, in demo time."""

    onset: datetime
    acknowledged_at: datetime
    resolved_at: datetime
    front_door_down_from: datetime
    front_door_down_until: datetime

    @classmethod
    def for_traffic(cls, traffic: DemoTraffic, onset: datetime) -> ProviderScript:
        curve = traffic.episode["curve"]
        peak_at, peak = max(curve, key=lambda point: point[1])
        # The first minute after the peak when the reports are below the threshold (curve points are
        # minutes apart, so a quarter-minute step is plenty).
        step = 0.25
        minutes = float(peak_at)
        threshold = FRONT_DOOR_UP_BELOW * peak
        while minutes < traffic.episode_minutes and traffic.episode_level(minutes) >= threshold:
            minutes += step
        return cls(
            onset=onset,
            acknowledged_at=onset + timedelta(minutes=traffic.episode["provider_acknowledged_after_minutes"]),
            resolved_at=onset + timedelta(minutes=traffic.episode_minutes),
            front_door_down_from=onset + FRONT_DOOR_DOWN_AFTER,
            front_door_down_until=onset + timedelta(minutes=minutes),
        )

    def admits_problem(self, now: datetime) -> bool:
        return self.acknowledged_at <= now < self.resolved_at

    def front_door_up(self, now: datetime) -> bool:
        return not self.front_door_down_from <= now < self.front_door_down_until

    def page_updated_at(self, now: datetime) -> datetime:
        """The last change of the page as of `now` (stable within a phase, so the ETag is too)."""
        if now >= self.resolved_at:
            return self.resolved_at
        if now >= self.acknowledged_at:
            return self.acknowledged_at
        return PAGE_CREATED


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def summary(script: ProviderScript | None, now: datetime) -> dict[str, Any]:
    """The provider's Statuspage summary as of `now` (operational while the traffic has not started)."""
    incident = script is not None and script.admits_problem(now)
    updated = script.page_updated_at(now) if script is not None else PAGE_CREATED
    page = {
        "id": "demo-openai",
        "name": "OpenAI (demo)",
        "url": "https://status.openai.com",
        "time_zone": "Etc/UTC",
        "updated_at": _iso(updated),
    }
    components = [
        {
            "id": f"demo-{re.sub(r'[^a-z0-9]+', '-', name.lower())}",
            "name": name,
            "status": AFFECTED.get(name, "operational") if incident else "operational",
            "created_at": _iso(PAGE_CREATED),
            "updated_at": _iso(updated),
            "position": position,
            "description": None,
            "showcase": True,
            "start_date": None,
            "group_id": None,
            "page_id": page["id"],
            "group": False,
            "only_show_if_degraded": False,
        }
        for position, name in enumerate(PROVIDER_COMPONENTS, start=1)
    ]
    incidents = [_incident(script.acknowledged_at, components)] if script is not None and incident else []
    status = (
        {"indicator": "major", "description": "Partial System Outage"}
        if incident
        else {"indicator": "none", "description": "All Systems Operational"}
    )
    return {
        "demo": True,
        "page": page,
        "status": status,
        "components": components,
        "incidents": incidents,
        "scheduled_maintenances": [],
    }


def _incident(acknowledged_at: datetime, components: list[dict[str, Any]]) -> dict[str, Any]:
    """The provider's incident, as its page shows it from the moment it acknowledged the problem."""
    at = _iso(acknowledged_at)
    affected = [c for c in components if c["name"] in AFFECTED]
    update = {
        "id": "demo-20260204-chatgpt-1",
        "status": "identified",
        "body": "We are seeing elevated errors for ChatGPT users and are working on a fix. (demo data)",
        "incident_id": "demo-20260204-chatgpt",
        "created_at": at,
        "updated_at": at,
        "display_at": at,
        "affected_components": [
            {"code": c["id"], "name": c["name"], "old_status": "operational", "new_status": c["status"]}
            for c in affected
        ],
    }
    return {
        "id": "demo-20260204-chatgpt",
        "name": INCIDENT_NAME,
        "status": "identified",
        "impact": "major",
        "created_at": at,
        "updated_at": at,
        "started_at": at,
        "monitoring_at": None,
        "resolved_at": None,
        "shortlink": "https://status.openai.com/incidents/demo",
        "page_id": components[0]["page_id"] if components else None,
        "incident_updates": [update],
        "components": affected,
    }


def provider_router(traffic: DemoTraffic, clock: Clock) -> APIRouter:
    """The scripted provider's endpoints under PREFIX; the script starts once the traffic has its onset."""
    router = APIRouter(prefix=PREFIX, tags=["demo provider"], include_in_schema=False)
    scripts: dict[datetime, ProviderScript] = {}

    def script() -> ProviderScript | None:
        if traffic.onset is None:
            return None
        if traffic.onset not in scripts:
            scripts[traffic.onset] = ProviderScript.for_traffic(traffic, traffic.onset)
        return scripts[traffic.onset]

    @router.get("/api/v2/summary.json")
    def status_page(request: Request) -> Response:
        now = clock.now()
        current = script()
        body = json.dumps(summary(current, now), separators=(",", ":")).encode()
        etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        updated = current.page_updated_at(now) if current is not None else PAGE_CREATED
        headers = {
            "ETag": etag,
            "Last-Modified": format_datetime(updated.astimezone(UTC), usegmt=True),
            "Cache-Control": "no-cache",
        }
        if _not_modified(request.headers, etag, updated):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @router.get("/health")
    def front_door() -> JSONResponse:
        current = script()
        if current is None or current.front_door_up(clock.now()):
            return JSONResponse({"status": "ok", "demo": True})
        return JSONResponse({"status": "unavailable", "demo": True}, status_code=503)

    return router


def _not_modified(headers: Mapping[str, str], etag: str, updated: datetime) -> bool:
    """RFC 9110: If-None-Match decides when sent; If-Modified-Since only without it."""
    if "if-none-match" in headers:
        return etag in [tag.strip() for tag in headers["if-none-match"].split(",")] or (
            headers["if-none-match"].strip() == "*"
        )
    since = headers.get("if-modified-since")
    if since:
        try:
            return updated.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


# -- wiring it into the demo ---------------------------------------------------------------------------


def provider_url(settings: Settings) -> str:
    """Where the demo server itself serves the scripted provider, as seen from the server."""
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}{PREFIX}"


def watched_catalog(catalog: Catalog, base_url: str) -> Catalog:
    """The catalog with ChatGPT watching the scripted provider: its status page and a front-door probe.
    A catalog without ChatGPT is returned as it is."""
    service = catalog.service(SERVICE)
    if service is None:
        return catalog
    known = {c.id for c in service.components}
    upstream = UpstreamSpec(
        url=base_url,
        kind="statuspage",
        interval_seconds=5,
        timeout_seconds=2,
        components={theirs: ours for theirs, ours in PROVIDER_COMPONENTS.items() if ours in known},
    )
    probe = ProbeSpec(
        id="front-door",
        name="Front door",
        url=f"{base_url}/health",
        interval_seconds=1,
        timeout_seconds=1,
        fail_after=3,
        recover_after=2,
    )
    probes = [p for p in service.probes if p.id != probe.id] + [probe]
    watched = service.model_copy(update={"upstream": upstream, "probes": probes})
    services = [watched if s.id == SERVICE else s for s in catalog.services]
    # Through validation, not model_copy alone: the catalog's own checks must hold for the copy too.
    return Catalog.model_validate({**catalog.model_dump(), "services": [s.model_dump() for s in services]})


def demo_app(settings: Settings, clock: Clock, traffic: DemoTraffic, catalog: Catalog) -> DownradarApp:
    """The demo's server: the ordinary app on the demo's catalog, its live traffic, and the scripted
    provider's endpoints."""
    app = create_app(settings, clock=clock, traffic=traffic, catalog=catalog)
    app.include_router(provider_router(traffic, clock))
    return app
