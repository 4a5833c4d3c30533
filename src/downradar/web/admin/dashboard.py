"""The dashboard: open incidents, detected incidents awaiting a decision, maintenance, and services."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from downradar.core.model import ACTIVE_MAINTENANCE
from downradar.incidents.queries import load_incidents, load_services
from downradar.web.admin.guard import admin_router, signed_in
from downradar.web.admin.session import AdminSession
from downradar.web.admin.views import page
from downradar.web.runtime import runtime

router = admin_router()


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, session: AdminSession = Depends(signed_in)) -> HTMLResponse:
    rt = runtime(request)
    with rt.engine.connect() as conn:
        services = load_services(conn)
        open_incidents = load_incidents(conn, kind="incident", unresolved=True)
        maintenance = load_incidents(conn, kind="maintenance", unresolved=True)
    awaiting = [i for i in open_incidents if i.source == "detector" and i.confirmed_at is None]
    names = {s.id: s.name for s in services}
    return page(
        request,
        session,
        "dashboard.html",
        {
            "services": services,
            "service_names": names,
            "awaiting": awaiting,
            "open_incidents": [i for i in open_incidents if i not in awaiting],
            "maintenance": sorted(
                maintenance, key=lambda m: (m.status not in ACTIVE_MAINTENANCE, m.started_at)
            ),
        },
    )
