"""Scheduling maintenance: a window (in the page's time zone), the components it covers, a message.

The form is validated with the JSON API's MaintenanceCreate; only its times are read first, in the page's
time zone (a datetime-local control has none), and what is not a time goes on to be refused by the model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from downradar.incidents import IncidentError
from downradar.incidents.queries import load_services
from downradar.web.admin.guard import ACTOR, Posted, admin_router, posted, signed_in
from downradar.web.admin.session import AdminSession
from downradar.web.admin.views import done, missing, page, refused
from downradar.web.api.models import MaintenanceCreate
from downradar.web.runtime import Runtime, runtime
from downradar.web.timefmt import zone

router = admin_router()
LABELS = {
    "name": "Name",
    "message": "Message",
    "scheduled_for": "Starts",
    "scheduled_until": "Ends",
    "components": "Components",
}


def local_time(rt: Runtime, value: str) -> datetime | str:
    """A datetime-local value ('2026-02-04T10:00') read in the page's time zone; anything else as given,
    for the model to refuse as the API would."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(rt.catalog.page.time_zone))
    return moment


def _context(rt: Runtime, service_id: str | None, values: dict[str, Any] | None) -> dict[str, Any] | None:
    with rt.engine.connect() as conn:
        services = load_services(conn)
    if not services:
        return None
    service = next((s for s in services if s.id == service_id), services[0])
    form = {
        "name": "",
        "message": "",
        "scheduled_for": "",
        "scheduled_until": "",
        "components": [],
        "auto": True,
    }
    form.update(values or {})
    return {"services": services, "service": service, "form": form}


@router.get("/maintenance/new", response_class=HTMLResponse)
def maintenance_form(
    request: Request, service: str | None = None, session: AdminSession = Depends(signed_in)
) -> Response:
    context = _context(runtime(request), service, None)
    if context is None:
        return missing(request, session, "The catalog has no services.")
    return page(request, session, "maintenance.html", context)


@router.post("/maintenance", response_class=HTMLResponse)
def schedule(request: Request, form: Posted = Depends(posted)) -> Response:
    rt = runtime(request)
    context = _context(rt, form.get("service"), None)
    if context is None or context["service"].id != form.get("service"):
        return missing(request, form.session, f"There is no service “{form.get('service')}”.")
    service = context["service"]
    slugs = [c.slug for c in service.components if form.get(f"maintenance-components-{c.slug}")]
    values = {
        "name": form.get("name"),
        "message": form.get("message"),
        "scheduled_for": form.get("scheduled_for"),
        "scheduled_until": form.get("scheduled_until"),
        "components": slugs,
        "auto": bool(form.get("auto_transition")),
    }
    try:
        body = MaintenanceCreate.model_validate(
            {
                "service": service.id,
                "name": values["name"],
                "message": values["message"],
                "scheduled_for": local_time(rt, form.get("scheduled_for")),
                "scheduled_until": local_time(rt, form.get("scheduled_until")),
                "components": slugs,
                "auto_transition": values["auto"],
            }
        )
        with rt.engine.begin() as conn:
            maintenance_id = body.schedule(conn, actor=ACTOR, now=rt.clock.now())
    except (ValidationError, IncidentError) as exc:
        context["form"].update(values)
        context.update(refused("maintenance", exc, LABELS))
        return page(request, form.session, "maintenance.html", context, status_code=422)
    return done(f"/admin/incidents/{maintenance_id}", "maintenance-scheduled")
