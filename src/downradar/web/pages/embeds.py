"""What other sites embed: SVG status badges and a small status widget for an <iframe>.

Both are cached briefly by anyone (they are the same for every reader), and both say the state in words:
the badge as its text, the widget as a sentence. Only the widget may be framed by other sites.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from downradar.core.model import status_label
from downradar.incidents.queries import load_incidents, load_services
from downradar.web.pages.templating import render
from downradar.web.render.badge import badge_svg
from downradar.web.runtime import runtime

router = APIRouter(include_in_schema=False)

EMBED_MAX_AGE = 30  # seconds: short, so a badge turns red within half a minute of an incident
BADGE_HEADERS = {
    "Cache-Control": f"public, max-age={EMBED_MAX_AGE}",
    # An SVG opened on its own is a document: it may run nothing and load nothing.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}
WIDGET_HEADERS = {
    "Cache-Control": f"public, max-age={EMBED_MAX_AGE}",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; "
        "base-uri 'none'; frame-ancestors *"
    ),
}


def _badge(label: str, message: str, status: str | None, status_code: int = 200) -> Response:
    return Response(
        badge_svg(label, message, status),
        status_code=status_code,
        media_type="image/svg+xml",
        headers=BADGE_HEADERS,
    )


@router.get("/badge/{service_id}.svg")
def service_badge(request: Request, service_id: str) -> Response:
    """The service's state: its worst component status, in words."""
    with runtime(request).engine.connect() as conn:
        found = load_services(conn, service_id)
    if not found:
        return _badge(service_id, "unknown", None, 404)
    return _badge(found[0].name, status_label(found[0].status), found[0].status)


@router.get("/badge/{service_id}/{component_slug}.svg")
def component_badge(request: Request, service_id: str, component_slug: str) -> Response:
    with runtime(request).engine.connect() as conn:
        found = load_services(conn, service_id)
    component = next((c for c in found[0].components if c.slug == component_slug), None) if found else None
    if component is None:
        return _badge(f"{service_id} {component_slug}", "unknown", None, 404)
    return _badge(f"{found[0].name} {component.name}", status_label(component.status), component.status)


@router.get("/embed/{service_id}", response_class=HTMLResponse)
def widget(request: Request, service_id: str) -> HTMLResponse:
    """A small page for an <iframe>: the service's state, its open incident, a link to the full page."""
    rt = runtime(request)
    with rt.engine.connect() as conn:
        found = load_services(conn, service_id)
        open_incidents = load_incidents(conn, unresolved=True, service_id=service_id) if found else []
    base_url = rt.catalog.page.url.rstrip("/")
    context = {
        "service": found[0] if found else None,
        "service_id": service_id,
        "incident": open_incidents[0] if open_incidents else None,
        "more_open": max(0, len(open_incidents) - 1),
        "base_url": base_url,
    }
    return render(request, "widget.html", context, status_code=200 if found else 404, headers=WIDGET_HEADERS)
