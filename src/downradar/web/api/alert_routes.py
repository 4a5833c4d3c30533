"""Admin API for alert routes (webhooks and Apprise channels). Secrets go in and never come out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from downradar.notify import routes
from downradar.notify.targets import AllowList
from downradar.web.api.auth import require_admin
from downradar.web.api.models import RouteCreate
from downradar.web.responses import JSON
from downradar.web.runtime import runtime

router = APIRouter(
    prefix="/api/v1/alert-routes", tags=["alert routes"], dependencies=[Depends(require_admin)]
)


@router.post("", status_code=201, summary="Add an alert route")
def create_route(request: Request, body: RouteCreate) -> JSON:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        route = body.create(
            conn, allow=AllowList.parse(rt.areas.notify.allow_targets), actor="admin", now=rt.clock.now()
        )
    return JSON(route, status_code=201)


@router.get("", summary="Alert routes, oldest first (without their secrets)")
def list_routes(request: Request) -> JSON:
    with runtime(request).engine.connect() as conn:
        return JSON({"alert_routes": routes.list_routes(conn)})


@router.delete("/{route_id}", status_code=204, summary="Remove an alert route and its deliveries")
def delete_route(request: Request, route_id: str) -> Response:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        routes.remove_route(conn, route_id, actor="admin", now=rt.clock.now())
    return Response(status_code=204)
