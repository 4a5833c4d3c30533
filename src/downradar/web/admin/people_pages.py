"""Subscribers (list, remove) and alert routes (list, add, remove). Secrets are never shown again.

A webhook subscriber's URL may carry a token in its query, so the list shows it without query and
credentials. Routes come from notify/routes.py already without secrets and with Apprise URLs redacted;
a signing secret the server generated is shown once, on the page that answers the creation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from downradar.incidents import NotFound
from downradar.incidents.queries import load_services
from downradar.notify import routes, subscribers
from downradar.notify.routes import RouteError
from downradar.notify.targets import AllowList
from downradar.web.admin.guard import ACTOR, Posted, admin_router, posted, signed_in
from downradar.web.admin.session import AdminSession
from downradar.web.admin.views import done, missing, page, refused
from downradar.web.api.models import RouteCreate
from downradar.web.runtime import Runtime, runtime

router = admin_router()
ROUTE_LABELS = {
    "name": "Name",
    "channel": "Channel",
    "url": "URL",
    "secret": "Signing secret",
    "services": "Services",
    "group_wait_seconds": "First message waits",
    "group_interval_seconds": "Messages at most every",
    "repeat_interval_seconds": "Remind of open incidents every",
}
# The route's timing settings, as the admin API takes them (notify/routes.py checks their range).
TIMINGS = ("group_wait_seconds", "group_interval_seconds", "repeat_interval_seconds")


def shown_address(subscriber: dict[str, Any]) -> str:
    if subscriber["channel"] != subscribers.WEBHOOK:
        return str(subscriber["address"])
    parts = urlsplit(str(subscriber["address"]))
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?…" if parts.query else "")


@router.get("/subscribers", response_class=HTMLResponse)
def subscriber_list(request: Request, session: AdminSession = Depends(signed_in)) -> HTMLResponse:
    with runtime(request).engine.connect() as conn:
        found = subscribers.list_subscribers(conn)
    rows = [{**s, "shown_address": shown_address(s)} for s in found]
    return page(request, session, "subscribers.html", {"subscribers": rows})


@router.post("/subscribers/{subscriber_id}/remove", response_class=HTMLResponse)
def remove_subscriber(request: Request, subscriber_id: str, form: Posted = Depends(posted)) -> Response:
    return _removed(
        request,
        form,
        subscribers.remove_subscriber,
        subscriber_id,
        "/admin/subscribers",
        "subscriber-removed",
    )


def _removed(
    request: Request, form: Posted, remove: Callable[..., object], item_id: str, back: str, notice: str
) -> Response:
    """Remove one listed item (audited by `remove`) and go back to its list, or say it is not there."""
    rt = runtime(request)
    try:
        with rt.engine.begin() as conn:
            remove(conn, item_id, actor=ACTOR, now=rt.clock.now())
    except NotFound as exc:
        return missing(request, form.session, str(exc))
    return done(back, notice)


def _routes_context(rt: Runtime, values: dict[str, Any] | None = None) -> dict[str, Any]:
    with rt.engine.connect() as conn:
        found = routes.list_routes(conn)
        services = load_services(conn)
    form = {"name": "", "channel": "webhook", "url": "", "services": [], "enabled": True}
    form.update({field: "" for field in TIMINGS})
    form.update(values or {})
    # What a route without its own setting uses, so the table and the hints can say it.
    defaults = {
        "group_wait_seconds": rt.areas.notify.group_wait_seconds,
        "group_interval_seconds": rt.areas.notify.group_interval_seconds,
        "repeat_interval_seconds": rt.areas.notify.route_repeat_seconds,
    }
    return {
        "routes": found,
        "services": services,
        "form": form,
        "defaults": defaults,
        "created": None,
        "new_secret": None,
    }


@router.get("/alert-routes", response_class=HTMLResponse)
def route_list(request: Request, session: AdminSession = Depends(signed_in)) -> HTMLResponse:
    return page(request, session, "alert_routes.html", _routes_context(runtime(request)))


@router.post("/alert-routes", response_class=HTMLResponse)
def add_route(request: Request, form: Posted = Depends(posted)) -> Response:
    rt = runtime(request)
    channel = form.get("channel", "webhook")
    values = {
        "name": form.get("name"),
        "channel": channel,
        "url": form.get("url"),
        "services": form.all("services"),
        "enabled": bool(form.get("enabled")),
        **{field: form.get(field).strip() for field in TIMINGS},
    }
    given_secret = form.get("secret").strip() or None
    secret = given_secret or (routes.generate_secret() if channel == "webhook" else None)
    try:
        # An empty timing is one not given: the server's default.
        body = RouteCreate.model_validate(
            {**values, "secret": secret, **{f: values[f] or None for f in TIMINGS}}
        )
        with rt.engine.begin() as conn:
            created = body.create(
                conn, allow=AllowList.parse(rt.areas.notify.allow_targets), actor=ACTOR, now=rt.clock.now()
            )
    except (ValidationError, RouteError) as exc:
        # Never echo a secret back into the form, even a rejected one.
        context = _routes_context(rt, values)
        context.update(refused("route", exc, ROUTE_LABELS))
        return page(request, form.session, "alert_routes.html", context, status_code=422)
    context = _routes_context(rt)
    context["created"] = created
    context["new_secret"] = secret if given_secret is None and channel == "webhook" else None
    return page(request, form.session, "alert_routes.html", context, status_code=201)


@router.post("/alert-routes/{route_id}/remove", response_class=HTMLResponse)
def remove_route(request: Request, route_id: str, form: Posted = Depends(posted)) -> Response:
    return _removed(request, form, routes.remove_route, route_id, "/admin/alert-routes", "route-removed")
