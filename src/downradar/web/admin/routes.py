"""The admin UI's router: every page module's routes under /admin, each guarded by AdminRoute."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from downradar.web.admin import (
    components_page,
    dashboard,
    incident_pages,
    login,
    maintenance_page,
    moderation,
    people_pages,
)
from downradar.web.admin.guard import AdminRoute, signed_in
from downradar.web.admin.session import AdminSession
from downradar.web.admin.views import missing

PREFIX = "/admin"
# The prefix goes on each include, not on this router: FastAPI refuses an empty path under an empty prefix,
# and the dashboard is /admin itself.
router = APIRouter(include_in_schema=False, route_class=AdminRoute)
for module in (login, dashboard, incident_pages, components_page, maintenance_page, people_pages, moderation):
    router.include_router(module.router, prefix=PREFIX)


@router.api_route(PREFIX + "/{anything:path}", methods=["GET", "POST"], response_class=HTMLResponse)
def no_such_page(request: Request, anything: str, session: AdminSession = Depends(signed_in)) -> HTMLResponse:
    """Last: any other /admin address is a 404 page (after signing in), never cached like the rest."""
    return missing(request, session, "There is no such admin page.")
