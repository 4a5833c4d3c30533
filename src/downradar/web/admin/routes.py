"""The admin UI's router: every page module's routes under /admin, each guarded by AdminRoute."""

from __future__ import annotations

from fastapi import APIRouter

from downradar.web.admin import (
    components_page,
    dashboard,
    incident_pages,
    login,
    maintenance_page,
    moderation,
    people_pages,
)
from downradar.web.admin.guard import AdminRoute

PREFIX = "/admin"
# The prefix goes on each include, not on this router: FastAPI refuses an empty path under an empty prefix,
# and the dashboard is /admin itself.
router = APIRouter(include_in_schema=False, route_class=AdminRoute)
for module in (login, dashboard, incident_pages, components_page, maintenance_page, people_pages, moderation):
    router.include_router(module.router, prefix=PREFIX)
