"""What a service page shows besides user reports: its probes (state per location, availability,
latency) and the provider's official status next to ours (the honesty gap, the acknowledgement grade)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from markupsafe import Markup
from sqlalchemy import Connection

from downradar.core.model import ComponentStatus, ProbeResult
from downradar.incidents.honesty import Honesty, honesty_by_service
from downradar.probes.registry import list_probes
from downradar.probes.results import availability, latest_results, probe_series
from downradar.probes.spec import ProbeSpec
from downradar.web.render.probe_chart import probe_chart
from downradar.web.runtime import Runtime

CHART_MINUTES = 60
AVAILABILITY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class LocationView:
    name: str
    down: bool  # by this location's own count of failures in a row
    last: ProbeResult | None


@dataclass(frozen=True)
class ProbeView:
    id: str
    name: str
    kind: str
    target: str  # without query strings or credentials: the public page shows it
    component: str | None
    down: bool  # by quorum
    quorum_text: str  # e.g. "down from 2 of 3 locations" / "up from 3 locations"
    locations: list[LocationView]
    availability: float | None  # share of ok checks over 24 h
    latency_ms: float | None  # the last check's
    chart: Markup

    @property
    def status(self) -> str:
        """The status fusion gives the probe's component while the probe is down (detect/fusion.py)."""
        return (ComponentStatus.major_outage if self.down else ComponentStatus.operational).value


def public_target(spec: ProbeSpec) -> str:
    if spec.kind != "http" or spec.url is None:
        return spec.target()
    parts = urlsplit(spec.url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{spec.method} {parts.scheme}://{host}{port}{parts.path or '/'}"


def probe_views(rt: Runtime, conn: Connection, service_id: str, now: datetime) -> list[ProbeView]:
    stored = [p for p in list_probes(conn, service=service_id) if p.enabled]
    if not stored:
        return []
    latest = latest_results(conn, [p.id for p in stored])
    verdicts = {v.probe: v for v in (rt.detection.verdicts if rt.detection else [])}
    states = rt.detection.probes if rt.detection else None
    views = []
    for probe in stored:
        own = states.location_states(probe.id) if states is not None else {}
        names = sorted({loc for (pid, loc) in latest if pid == probe.id} | set(own))
        locations = [LocationView(n, own.get(n, False), latest.get((probe.id, n))) for n in names]
        verdict = verdicts.get(probe.id)
        down = verdict.down if verdict is not None else False
        if verdict is not None and verdict.locations:
            if down:
                quorum = f"down from {len(verdict.locations_down)} of {len(verdict.locations)} locations"
            else:
                quorum = f"up ({len(verdict.locations) - len(verdict.locations_down)} of "
                quorum += f"{len(verdict.locations)} locations see it up)"
        else:
            quorum = "no recent checks"
        newest = max((v.last for v in locations if v.last), key=lambda r: r.ts, default=None)
        points = probe_series(conn, probe.id, now - timedelta(minutes=CHART_MINUTES - 1), CHART_MINUTES)
        name = probe.spec.name or probe.slug
        views.append(
            ProbeView(
                id=probe.id,
                name=name,
                kind=probe.spec.kind,
                target=public_target(probe.spec),
                component=probe.component,
                down=down,
                quorum_text=quorum,
                locations=locations,
                availability=availability(conn, probe.id, now - AVAILABILITY_WINDOW),
                latency_ms=newest.latency_ms if newest else None,
                chart=probe_chart(
                    points,
                    title=f"{name}: latency and failed checks, last {CHART_MINUTES} minutes",
                    chart_id="probe-" + re.sub(r"[^a-z0-9-]", "-", probe.id),
                ),
            )
        )
    return views


def honesty_for(conn: Connection, service_id: str, now: datetime) -> Honesty | None:
    return honesty_by_service(conn, now).get(service_id)
