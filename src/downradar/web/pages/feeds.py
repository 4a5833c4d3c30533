"""Atom and RSS feeds of incident history, as Statuspage serves them: `/history.atom`, `/history.rss`.

One entry per incident or maintenance, newest first; its content is the update timeline (newest first,
each with its time and status), so a feed reader shows what the incident page shows. `?component=`
narrows a feed to one service (`chatgpt`) or one component (`chatgpt.login`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from feedgen.feed import FeedGenerator

from downradar.core.catalog import Page
from downradar.core.model import status_label
from downradar.incidents.links import incident_url
from downradar.incidents.queries import IncidentView, load_incidents, load_services
from downradar.web.errors import error_response
from downradar.web.pages.templating import short_time
from downradar.web.runtime import runtime

router = APIRouter(tags=["feeds"])
FEED_ENTRIES = 50
EPOCH = datetime.fromtimestamp(0, tz=UTC)
FORMATS = {"atom": "application/atom+xml", "rss": "application/rss+xml"}


@router.get("/history.atom", summary="Incident history as an Atom feed (optionally one component's)")
def history_atom(request: Request, component: str | None = Query(None)) -> Response:
    return _history(request, "atom", component)


@router.get("/history.rss", summary="Incident history as an RSS 2.0 feed (optionally one component's)")
def history_rss(request: Request, component: str | None = Query(None)) -> Response:
    return _history(request, "rss", component)


def _history(request: Request, kind: str, component: str | None) -> Response:
    rt = runtime(request)
    title = rt.catalog.page.name
    service_id: str | None = None
    if component:
        with rt.engine.connect() as conn:
            services = load_services(conn)
        names = {s.id: s.name for s in services} | {
            c.id: f"{s.name} — {c.name}" for s in services for c in s.components
        }
        if component not in names:
            message = f"component: no service or component called {component!r}"
            return error_response(404, message, [{"field": "component", "message": message}])
        title = f"{title}: {names[component]}"
        service_id = component.split(".", 1)[0]
    with rt.engine.connect() as conn:
        # A component's incidents are picked from its service's, so those are not cut to the feed's size.
        found = load_incidents(
            conn, kind="any", service_id=service_id, limit=FEED_ENTRIES if service_id is None else None
        )
    if component and component != service_id:
        found = [i for i in found if component in i.component_ids]
    base_url = str(request.base_url).rstrip("/")
    body = history_feed(rt.catalog.page, found[:FEED_ENTRIES], base_url, kind, title, str(request.url))
    return Response(body, media_type=FORMATS[kind], headers={"Cache-Control": "no-cache"})


def history_feed(
    page: Page, found: Iterable[IncidentView], base_url: str, kind: str, title: str, self_url: str
) -> bytes:
    """The feed document: `found` newest first, links under `base_url`, times in the page's zone."""
    feed = FeedGenerator()
    feed.id(f"tag:{_authority(base_url)},2005:/history")
    feed.title(title)
    feed.link(href=f"{base_url}/", rel="alternate")
    feed.link(href=self_url, rel="self")
    feed.description(f"Incident history of {title}")
    feed.language("en")
    entries = list(found)
    feed.updated(max((i.updated_at for i in entries), default=EPOCH))
    for incident in reversed(entries):  # feedgen lists the last added first
        entry = feed.add_entry()
        entry.id(f"tag:{_authority(base_url)},2005:Incident/{incident.id}")
        link = incident_url(base_url, incident.id)
        entry.guid(link, permalink=True)
        entry.title(incident.name)
        entry.link(href=link)
        entry.published(incident.created_at)
        entry.updated(incident.updated_at)
        timeline = _timeline(incident, page.time_zone)
        entry.content(timeline, type="html")
        entry.description(timeline)
    rendered: bytes = feed.atom_str(pretty=True) if kind == "atom" else feed.rss_str(pretty=True)
    return rendered


def _timeline(incident: IncidentView, time_zone: str) -> str:
    return "".join(
        f"<p><small>{escape(short_time(u.display_at, time_zone))}</small><br>"
        f"<strong>{escape(status_label(u.status))}</strong> - {escape(u.body)}</p>"
        for u in incident.updates
    )


def _authority(base_url: str) -> str:
    return base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
