"""The incident composer and an incident's admin page: edit, update, resolve, confirm or dismiss.

Every form is validated with the JSON API's own model (web/api/models.py) and every change goes through
incidents/lifecycle.py, the API's own path; pydantic's errors and the lifecycle's IncidentError come back as
messages next to the fields they name.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import Connection, select

from downradar import incidents as lifecycle
from downradar.core.model import INCIDENT_FLOW, MAINTENANCE_FLOW, Impact, IncidentStatus
from downradar.incidents import IncidentError, NotFound
from downradar.incidents.lifecycle import DETECTOR
from downradar.incidents.queries import IncidentView, ServiceView, load_incidents, load_services
from downradar.store.schema import components, incident_components
from downradar.web.admin import suggest
from downradar.web.admin.guard import ACTOR, Posted, admin_router, posted, signed_in
from downradar.web.admin.session import AdminSession
from downradar.web.admin.views import done, missing, page, refused
from downradar.web.api.models import (
    IncidentChange,
    IncidentCreate,
    IncidentDismiss,
    IncidentResolve,
)
from downradar.web.runtime import Runtime, runtime

router = admin_router()
LABELS = {
    "service": "Service",
    "name": "Name",
    "status": "Status",
    "impact": "Impact",
    "message": "Message",
    "components": "Components",
    "reason": "Reason",
    "incident": "Incident",
    "body": "Update",
}


def chosen_components(form: Posted, prefix: str, service: ServiceView) -> dict[str, str]:
    """slug → status for each component select of the form that is set (empty: not affected)."""
    chosen = {}
    for component in service.components:
        value = form.get(f"{prefix}-{component.slug}")
        if value:
            chosen[component.slug] = value
    return chosen


def claims(conn: Connection, incident_id: str) -> dict[str, str]:
    """slug → the status this incident gives each component it affects."""
    rows = conn.execute(
        select(components.c.slug, incident_components.c.status)
        .join(incident_components, incident_components.c.component_id == components.c.id)
        .where(incident_components.c.incident_id == incident_id)
    )
    return {slug: status for slug, status in rows}


def _service(conn: Connection, service_id: str) -> ServiceView | None:
    found = load_services(conn, service_id)
    return found[0] if found else None


# -- the composer ----------------------------------------------------------------------------------------


def _composer(
    rt: Runtime, service_id: str | None, template_key: str | None, values: dict[str, Any] | None
) -> dict[str, Any] | None:
    with rt.engine.connect() as conn:
        services = load_services(conn)
        if not services:
            return None
        service = next((s for s in services if s.id == service_id), services[0])
        suggestion = suggest.for_service(rt, conn, service.id, service.name)
    template = suggest.fill(template_key, service.name)
    form = {
        "name": "",
        "status": IncidentStatus.investigating.value,
        "impact": Impact.minor.value,
        "message": "",
        "components": {},
    }
    if suggestion is not None and suggestion.incident_id is None:
        form["message"] = suggestion.message
    if template is not None:
        form.update(status=template.status, message=template.message)
    form.update(values or {})
    return {
        "services": services,
        "service": service,
        "templates": suggest.filled_all(service.name),
        "template_key": template.key if template else "",
        "suggestion": suggestion,
        "form": form,
    }


@router.get("/incidents/new", response_class=HTMLResponse)
def composer(
    request: Request,
    service: str | None = None,
    template: str | None = None,
    session: AdminSession = Depends(signed_in),
) -> Response:
    context = _composer(runtime(request), service, template, None)
    if context is None:
        return missing(request, session, "The catalog has no services to open an incident for.")
    return page(request, session, "composer.html", context)


@router.post("/incidents", response_class=HTMLResponse)
def open_incident(request: Request, form: Posted = Depends(posted)) -> Response:
    rt = runtime(request)
    service_id = form.get("service")
    with rt.engine.connect() as conn:
        service = _service(conn, service_id)
    if service is None:
        return missing(request, form.session, f"There is no service “{service_id}”.")
    wanted = chosen_components(form, "incident-components", service)
    values = {
        "name": form.get("name"),
        "status": form.get("status"),
        "impact": form.get("impact"),
        "message": form.get("message"),
        "components": wanted,
    }
    try:
        body = IncidentCreate.model_validate({"service": service.id, **values})
        with rt.engine.begin() as conn:
            incident_id = body.open(conn, actor=ACTOR, now=rt.clock.now())
    except (ValidationError, IncidentError) as exc:
        context = _composer(rt, service.id, None, values) or {}
        context.update(refused("incident", exc, LABELS))
        return page(request, form.session, "composer.html", context, status_code=422)
    return done(f"/admin/incidents/{incident_id}", "incident-opened")


# -- one incident ----------------------------------------------------------------------------------------


def _incident(
    rt: Runtime, incident_id: str
) -> tuple[IncidentView, ServiceView | None, dict[str, str], Any] | None:
    with rt.engine.connect() as conn:
        found = load_incidents(conn, kind="any", ids=[incident_id])
        if not found:
            return None
        incident = found[0]
        return (
            incident,
            _service(conn, incident.service_id),
            claims(conn, incident_id),
            suggest.from_incident(conn, incident),
        )


def _incident_context(
    rt: Runtime, incident_id: str, template_key: str | None, values: dict[str, Any] | None
) -> dict[str, Any] | None:
    loaded = _incident(rt, incident_id)
    if loaded is None:
        return None
    incident, service, current, suggestion = loaded
    template = suggest.fill(template_key, service.name if service else incident.service_id)
    if incident.kind != "incident":
        template = None  # the templates speak of incidents, with incident statuses
    form: dict[str, Any] = {
        "name": incident.name,
        "impact": incident.impact,
        "status": incident.status,
        "message": "",
        "components": current,
        "reason": "",
    }
    if template is not None:
        form.update(status=template.status, message=template.message)
    form.update(values or {})
    return {
        "incident": incident,
        "service": service,
        "claims": current,
        "suggestion": suggestion,
        "awaiting": incident.source == "detector"
        and incident.is_open
        and incident.confirmed_at is None
        and incident.dismissed_at is None,
        "detector_managed": incident.managed_by == DETECTOR,
        "templates": suggest.filled_all(service.name if service else incident.service_id),
        "template_key": template.key if template else "",
        "form": form,
        "statuses": suggest_statuses(incident),
    }


def suggest_statuses(incident: IncidentView) -> tuple[str, ...]:
    if incident.kind == "maintenance":
        return MAINTENANCE_FLOW
    return INCIDENT_FLOW


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(
    request: Request,
    incident_id: str,
    template: str | None = None,
    session: AdminSession = Depends(signed_in),
) -> Response:
    context = _incident_context(runtime(request), incident_id, template, None)
    if context is None:
        return missing(request, session, f"There is no incident “{incident_id}”.")
    return page(request, session, "incident.html", context)


def _change(
    request: Request,
    form: Posted,
    incident_id: str,
    prefix: str,
    notice: str,
    action: Any,
    values: dict[str, Any] | None = None,
) -> Response:
    """Run one lifecycle call (which validates its form's model first); when either refuses, show the
    incident page again with the fields marked."""
    rt = runtime(request)
    try:
        with rt.engine.begin() as conn:
            action(conn, rt.clock.now())
    except NotFound as exc:
        return missing(request, form.session, str(exc))
    except (ValidationError, IncidentError) as exc:
        context = _incident_context(rt, incident_id, None, values) or {}
        context.update(refused(prefix, exc, LABELS))
        context["failed_form"] = prefix
        return page(request, form.session, "incident.html", context, status_code=422)
    return done(f"/admin/incidents/{incident_id}", notice)


@router.post("/incidents/{incident_id}/edit", response_class=HTMLResponse)
def edit(request: Request, incident_id: str, form: Posted = Depends(posted)) -> Response:
    """Change the title (and, for incidents, the impact) without posting to the timeline."""
    rt = runtime(request)
    loaded = _incident(rt, incident_id)
    if loaded is None:
        return missing(request, form.session, f"There is no incident “{incident_id}”.")
    incident = loaded[0]
    name = form.get("name").strip()  # so a title changed only by spaces is "nothing to change"
    # Maintenance has no impact control; a hand-made one still reaches the lifecycle, which refuses it.
    impact = form.get("impact") or None
    values = {"name": name, "impact": impact or incident.impact}
    handed_over = incident.managed_by == DETECTOR

    def action(conn: Connection, now: Any) -> None:
        if not incident.is_open:
            # The page offers this form only while it is open; a closed incident's record stays as it was.
            raise IncidentError("incident", f"incident {incident_id} is {incident.status}; it is not edited")
        body = IncidentChange(name=name, impact=impact)
        try:
            lifecycle.update_incident(
                conn, incident_id, actor=ACTOR, now=now, name=body.name, impact=body.impact
            )
        except IncidentError as exc:
            if exc.field != "body":
                raise
            # "Nothing to change" names the update's body, which this form does not have.
            raise IncidentError("name", "nothing to change: the title and impact are as they were") from None

    notice = "incident-edited-handed-over" if handed_over else "incident-edited"
    return _change(request, form, incident_id, "edit", notice, action, values)


@router.post("/incidents/{incident_id}/updates", response_class=HTMLResponse)
def post_update(request: Request, incident_id: str, form: Posted = Depends(posted)) -> Response:
    rt = runtime(request)
    loaded = _incident(rt, incident_id)
    if loaded is None or (service := loaded[1]) is None:
        return missing(request, form.session, f"There is no incident “{incident_id}”.")
    _, _, current, _ = loaded
    wanted = chosen_components(form, "update-components", service)
    status = form.get("status") or None
    message = form.get("message").strip() or None
    values = {"status": status or "", "message": message or "", "components": wanted}

    def action(conn: Connection, now: Any) -> None:
        body = IncidentChange(status=status, message=message, components=wanted)
        lifecycle.update_incident(
            conn,
            incident_id,
            actor=ACTOR,
            now=now,
            status=body.status,
            message=body.message,
            components_status=body.components if body.components != current else None,
        )

    return _change(request, form, incident_id, "update", "incident-updated", action, values)


@router.post("/incidents/{incident_id}/resolve", response_class=HTMLResponse)
def resolve(request: Request, incident_id: str, form: Posted = Depends(posted)) -> Response:
    message = form.get("message").strip() or None

    def action(conn: Connection, now: Any) -> None:
        body = IncidentResolve(message=message)
        lifecycle.resolve_incident(conn, incident_id, actor=ACTOR, now=now, message=body.message)

    return _change(request, form, incident_id, "resolve", "incident-resolved", action)


@router.post("/incidents/{incident_id}/confirm", response_class=HTMLResponse)
def confirm(request: Request, incident_id: str, form: Posted = Depends(posted)) -> Response:
    def action(conn: Connection, now: Any) -> None:
        lifecycle.confirm_incident(conn, incident_id, actor=ACTOR, now=now)

    return _change(request, form, incident_id, "confirm", "incident-confirmed", action)


@router.post("/incidents/{incident_id}/dismiss", response_class=HTMLResponse)
def dismiss(request: Request, incident_id: str, form: Posted = Depends(posted)) -> Response:
    reason = form.get("reason")

    def action(conn: Connection, now: Any) -> None:
        body = IncidentDismiss.model_validate({"reason": reason})
        try:
            lifecycle.dismiss_incident(conn, incident_id, actor=ACTOR, now=now, reason=body.reason)
        except IncidentError as exc:
            # The reason becomes the update's message, so the lifecycle names it "message".
            raise IncidentError("reason", exc.message) if exc.field == "message" else exc from None

    return _change(request, form, incident_id, "dismiss", "incident-dismissed", action, {"reason": reason})
