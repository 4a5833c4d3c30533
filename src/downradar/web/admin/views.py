"""Rendering admin pages: the shared context (CSRF token, navigation, notices) and the error pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from downradar.core.model import COMPONENT_STATUSES, INCIDENT_FLOW, INCIDENT_IMPACTS
from downradar.incidents import IncidentError
from downradar.notify.routes import RouteError
from downradar.web.admin import csrf
from downradar.web.admin.headers import ADMIN_CSP, NO_STORE
from downradar.web.admin.session import AdminSession
from downradar.web.api.models import error_fields
from downradar.web.pages.templating import render

NAV = (
    ("/admin", "Dashboard"),
    ("/admin/incidents/new", "New incident"),
    ("/admin/maintenance/new", "Maintenance"),
    ("/admin/subscribers", "Subscribers"),
    ("/admin/alert-routes", "Alert routes"),
    ("/admin/comments", "Comments"),
)
# Notices after a redirect are picked by key, so no text from the address is ever shown.
NOTICES = {
    "signed-in": "You are signed in.",
    "incident-opened": "The incident is open and on the public page.",
    "incident-updated": "The update is posted.",
    "incident-edited": "The title and impact are saved.",
    "incident-edited-handed-over": "The title and impact are saved; operators manage this incident now, "
    "not the detector.",
    "incident-resolved": "The incident is resolved.",
    "incident-confirmed": "The detected incident is confirmed; operators manage it now.",
    "incident-dismissed": "The detected incident is dismissed.",
    "components-updated": "Component statuses are changed.",
    "maintenance-scheduled": "The maintenance is scheduled.",
    "subscriber-removed": "The subscriber is removed.",
    "route-removed": "The alert route is removed.",
    "comment-hidden": "The comment is hidden from the public page.",
    "comment-shown": "The comment is shown on the public page again.",
}
HEADERS = {**NO_STORE, "Content-Security-Policy": ADMIN_CSP}
# What refuses a form: its model (the JSON API's), or the domain code the API calls too.
Refusal = ValidationError | IncidentError | RouteError


def page(
    request: Request,
    session: AdminSession | None,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    notice = NOTICES.get(request.query_params.get("done", ""))
    base: dict[str, Any] = {
        "refresh_seconds": None,  # a reload would throw away what the operator is typing
        "csrf_field": csrf.FIELD,
        "csrf_token": session.csrf_token if session else "",
        "signed_in": session is not None,
        "nav": NAV,
        "current": request.url.path,
        "notice": notice,
        "component_statuses": COMPONENT_STATUSES,
        "incident_statuses": INCIDENT_FLOW,
        "impacts": INCIDENT_IMPACTS,
        "errors": {},
        "error_summary": [],
    }
    return render(request, f"admin/{template}", {**base, **context}, status_code=status_code, headers=HEADERS)


def done(path: str, key: str) -> RedirectResponse:
    """After a successful POST: back to a page (303, so a reload does not post again) with a notice."""
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}done={key}", status_code=303)


def forbidden(request: Request, message: str) -> HTMLResponse:
    return page(request, None, "forbidden.html", {"message": message}, status_code=403)


def missing(request: Request, session: AdminSession | None, message: str) -> HTMLResponse:
    return page(request, session, "missing.html", {"message": message}, status_code=404)


def field_errors(prefix: str, field: str, message: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The context that marks one field wrong and lists the error above the form, linked to the field."""
    return marked(prefix, [{"field": field, "message": message}], labels)


def refused(prefix: str, exc: Refusal, labels: Mapping[str, str]) -> dict[str, Any]:
    """The context for a form refused by its model (pydantic's errors, as the JSON API reports them) or by
    the domain (IncidentError, RouteError: one field)."""
    if isinstance(exc, ValidationError):
        return marked(prefix, error_fields(exc.errors()), labels)
    return field_errors(prefix, exc.field, exc.message, labels)


def marked(prefix: str, problems: Sequence[Mapping[str, str]], labels: Mapping[str, str]) -> dict[str, Any]:
    """The context that marks each named field wrong and lists the errors above the form, linked to them.

    A field `components.login` of form `incident` is the control `#incident-components-login`.
    """
    errors: dict[str, str] = {}
    summary = []
    for problem in problems:
        field, message = problem["field"], problem["message"]
        errors.setdefault(field, message)
        label = labels.get(field, labels.get(field.split(".")[0], field))
        summary.append({"target": f"{prefix}-{field.replace('.', '-')}", "label": label, "message": message})
    return {"errors": errors, "error_summary": summary}
