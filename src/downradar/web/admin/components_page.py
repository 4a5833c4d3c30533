"""Component statuses of one service.

A component's status is the worst status any open incident or active maintenance gives it (lifecycle's
rule), so it is edited through the incidents that set it: one form per open incident of the service.
With none open, the page says so and links to the composer.
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from downradar import incidents as lifecycle
from downradar.incidents import IncidentError, NotFound
from downradar.incidents.queries import load_incidents, load_services
from downradar.web.admin.guard import ACTOR, Posted, admin_router, posted, signed_in
from downradar.web.admin.incident_pages import LABELS, chosen_components, claims
from downradar.web.admin.session import AdminSession
from downradar.web.admin.views import done, field_errors, missing, page
from downradar.web.runtime import runtime

router = admin_router()


def _context(request: Request, service_id: str) -> dict | None:  # type: ignore[type-arg]
    rt = runtime(request)
    with rt.engine.connect() as conn:
        found = load_services(conn, service_id)
        if not found:
            return None
        open_incidents = load_incidents(conn, kind="incident", unresolved=True, service_id=service_id)
        return {
            "service": found[0],
            "open_incidents": [(i, claims(conn, i.id)) for i in open_incidents],
        }


@router.get("/services/{service_id}/components", response_class=HTMLResponse)
def components(request: Request, service_id: str, session: AdminSession = Depends(signed_in)) -> Response:
    context = _context(request, service_id)
    if context is None:
        return missing(request, session, f"There is no service “{service_id}”.")
    return page(request, session, "components.html", context)


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
        with rt.engine.begin() as conn:
            lifecycle.update_incident(
                conn,
                incident_id,
                actor=ACTOR,
                now=rt.clock.now(),
                components_status=wanted,
                message=form.get("message").strip() or None,
            )
    except NotFound as exc:
        return missing(request, form.session, str(exc))
    except IncidentError as exc:
        context.update(field_errors(prefix, exc.field, exc.message, LABELS))
        return page(request, form.session, "components.html", context, status_code=422)
    return done(f"/admin/services/{service_id}/components", "components-updated")
