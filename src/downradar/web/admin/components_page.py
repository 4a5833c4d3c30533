"""Component statuses of one service, set by hand or through the incidents that claim them.

A component's status is the worst of its claims (lifecycle's rule): each open incident's, active
maintenance's, and the one an operator sets directly, without an incident, as Statuspage's "set component
status" does. The page shows each component's status and where it comes from, one form that sets every
component's manual status ("operational" removes it), and one form per open incident of the service for
the statuses that incident claims. With no incident open, the page says so and links to the composer.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from downradar import incidents as lifecycle
from downradar.core.model import ComponentStatus
from downradar.incidents import IncidentError, NotFound
from downradar.incidents.claims import component_claims
from downradar.incidents.lifecycle import set_component_status
from downradar.incidents.queries import load_incidents, load_services
from downradar.web.admin.guard import ACTOR, Posted, admin_router, posted, signed_in
from downradar.web.admin.incident_pages import LABELS, chosen_components, claims
from downradar.web.admin.session import AdminSession
from downradar.web.admin.views import done, field_errors, missing, page, refused
from downradar.web.api.models import ComponentStatusChange, IncidentChange, error_fields
from downradar.web.runtime import runtime

router = admin_router()
MANUAL_FORM = "manual"  # prefix of the manual-status form's controls: #manual-status-<slug>


def _context(request: Request, service_id: str) -> dict[str, Any] | None:
    rt = runtime(request)
    with rt.engine.connect() as conn:
        found = load_services(conn, service_id)
        if not found:
            return None
        service = found[0]
        open_incidents = load_incidents(conn, kind="incident", unresolved=True, service_id=service_id)
        by_component = component_claims(conn, [c.id for c in service.components])
        return {
            "service": service,
            "open_incidents": [(i, claims(conn, i.id)) for i in open_incidents],
            "component_claims": {c.slug: by_component[c.id] for c in service.components},
            "manual": {
                c.slug: c.manual_status or ComponentStatus.operational.value for c in service.components
            },
        }


@router.get("/services/{service_id}/components", response_class=HTMLResponse)
def components(request: Request, service_id: str, session: AdminSession = Depends(signed_in)) -> Response:
    context = _context(request, service_id)
    if context is None:
        return missing(request, session, f"There is no service “{service_id}”.")
    return page(request, session, "components.html", context)


@router.post("/services/{service_id}/components", response_class=HTMLResponse)
def set_manual_statuses(request: Request, service_id: str, form: Posted = Depends(posted)) -> Response:
    """Every component's manual status from one form, in one transaction (one bad choice changes none)."""
    rt = runtime(request)
    context = _context(request, service_id)
    if context is None:
        return missing(request, form.session, f"There is no service “{service_id}”.")
    service = context["service"]
    # A component missing from the form (added to the catalog since the page was drawn) is left alone; an
    # unchanged choice writes nothing (set_component_status records nothing then).
    wanted = {
        c.slug: chosen for c in service.components if (chosen := form.get(f"{MANUAL_FORM}-status-{c.slug}"))
    }
    slug = ""
    try:
        with rt.engine.begin() as conn:
            now = rt.clock.now()
            for slug, status in wanted.items():
                body = ComponentStatusChange(status=status)
                set_component_status(conn, (service_id, slug), body.status, actor=ACTOR, now=now)
    except NotFound as exc:
        return missing(request, form.session, str(exc))
    except (ValidationError, IncidentError) as exc:
        name = next(c.name for c in service.components if c.slug == slug)
        message = exc.message if isinstance(exc, IncidentError) else error_fields(exc.errors())[0]["message"]
        context.update(field_errors(MANUAL_FORM, f"status.{slug}", message, {f"status.{slug}": name}))
        context["manual"] = {**context["manual"], **wanted}
        return page(request, form.session, "components.html", context, status_code=422)
    return done(f"/admin/services/{service_id}/components", "components-updated")


@router.post("/services/{service_id}/components/{incident_id}", response_class=HTMLResponse)
def set_components(
    request: Request, service_id: str, incident_id: str, form: Posted = Depends(posted)
) -> Response:
    rt = runtime(request)
    context = _context(request, service_id)
    if context is None:
        return missing(request, form.session, f"There is no service “{service_id}”.")
    prefix = f"components-{incident_id}"
    wanted = chosen_components(form, prefix, context["service"])
    try:
        body = IncidentChange(components=wanted, message=form.get("message").strip() or None)
        with rt.engine.begin() as conn:
            lifecycle.update_incident(
                conn,
                incident_id,
                actor=ACTOR,
                now=rt.clock.now(),
                components_status=body.components,
                message=body.message,
            )
    except NotFound as exc:
        return missing(request, form.session, str(exc))
    except (ValidationError, IncidentError) as exc:
        context.update(refused(prefix, exc, LABELS))
        return page(request, form.session, "components.html", context, status_code=422)
    return done(f"/admin/services/{service_id}/components", "components-updated")
