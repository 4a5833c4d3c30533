"""Admin API for alert routes (webhooks and Apprise channels). Secrets go in and never come out."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from downradar.notify import routes
from downradar.notify.targets import AllowList
from downradar.web.api.auth import require_admin
from downradar.web.responses import JSON
from downradar.web.runtime import runtime

router = APIRouter(
    prefix="/api/v1/alert-routes", tags=["alert routes"], dependencies=[Depends(require_admin)]
)


class RouteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    channel: Literal["webhook", "apprise"] = Field(
        default="webhook", description="webhook: signed JSON POSTs; apprise: any Apprise URL"
    )
    url: str = Field(
        description="webhook: an http(s) URL reaching a public address; apprise: an Apprise URL "
        "(slack://…, pagerduty://…, ntfys://…); shown redacted afterwards"
    )
    secret: str | None = Field(
        default=None, description="webhook only: HMAC-SHA256 signing key, 16 to 200 characters; never shown"
    )
    services: list[str] = Field(default_factory=list, description="service ids; empty for every service")
    enabled: bool = True
    group_wait_seconds: float | None = Field(default=None, description="default DOWNRADAR_GROUP_WAIT_SECONDS")
    group_interval_seconds: float | None = Field(
        default=None, description="default DOWNRADAR_GROUP_INTERVAL_SECONDS"
    )
    repeat_interval_seconds: float | None = Field(
        default=None, description="remind of open incidents this often; 0 never; default the server's"
    )


@router.post("", status_code=201, summary="Add an alert route")
def create_route(request: Request, body: RouteCreate) -> JSON:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        route = routes.create_route(
            conn,
            name=body.name,
            url=body.url,
            secret=body.secret,
            services_=body.services,
            enabled=body.enabled,
            channel=body.channel,
            group_wait_seconds=body.group_wait_seconds,
            group_interval_seconds=body.group_interval_seconds,
            repeat_interval_seconds=body.repeat_interval_seconds,
            allow=AllowList.parse(rt.settings.allow_targets),
            actor="admin",
            now=rt.clock.now(),
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
