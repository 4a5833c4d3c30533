"""Alert routes: the operators' webhooks. Their signing secret is stored, used to sign, and never shown."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from downradar.incidents import NotFound, audit
from downradar.incidents.lifecycle import new_id
from downradar.notify.targets import AllowList, TargetRefused, check_target
from downradar.store.schema import alert_routes, deliveries, services

MAX_NAME = 200
MAX_URL = 2000
MIN_SECRET = 16
MAX_SECRET = 200


class RouteError(ValueError):
    """Bad input for a route, naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def generate_secret() -> str:
    return secrets.token_urlsafe(32)


def create_route(
    conn: Connection,
    *,
    name: str,
    url: str,
    secret: str,
    services_: list[str],
    allow: AllowList,
    actor: str,
    now: datetime,
    enabled: bool = True,
) -> dict[str, Any]:
    """Add a route and return it as the API shows it (without the secret)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise RouteError("name", f"must be 1 to {MAX_NAME} characters")
    if not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise RouteError("secret", f"must be {MIN_SECRET} to {MAX_SECRET} characters")
    wanted = sorted(set(services_))
    known = set(conn.scalars(select(services.c.id).where(services.c.id.in_(wanted))))
    for service_id in wanted:
        if service_id not in known:
            raise RouteError("services", f"unknown service {service_id!r}")
    # Last, because it may wait for DNS.
    url = url.strip()
    if len(url) > MAX_URL:
        raise RouteError("url", f"at most {MAX_URL} characters")
    try:
        check_target(url, allow)
    except TargetRefused as exc:
        raise RouteError("url", str(exc)) from None
    route_id = new_id()
    conn.execute(
        alert_routes.insert().values(
            id=route_id, name=name, url=url, secret=secret, services=wanted, enabled=enabled, created_at=now
        )
    )
    route = get_route(conn, route_id)
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="alert_route.created",
        entity="alert_route",
        entity_id=route_id,
        detail={key: value for key, value in route.items() if key not in ("id", "created_at")},
    )
    return route


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "url": row.url,
        "services": list(row.services),
        "enabled": row.enabled,
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
    }


_PUBLIC_COLUMNS = [c for c in alert_routes.c if c.name != "secret"]


def get_route(conn: Connection, route_id: str) -> dict[str, Any]:
    row = conn.execute(select(*_PUBLIC_COLUMNS).where(alert_routes.c.id == route_id)).first()
    if row is None:
        raise NotFound(f"unknown alert route {route_id!r}")
    return _public(row)


def list_routes(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(*_PUBLIC_COLUMNS).order_by(alert_routes.c.created_at, alert_routes.c.id))
    return [_public(row) for row in rows]


def remove_route(conn: Connection, route_id: str, *, actor: str, now: datetime) -> None:
    """Delete a route and its deliveries, sent or not: nothing more goes to it."""
    get_route(conn, route_id)
    conn.execute(delete(deliveries).where(deliveries.c.route_id == route_id))
    conn.execute(delete(alert_routes).where(alert_routes.c.id == route_id))
    audit.record(
        conn, at=now, actor=actor, action="alert_route.removed", entity="alert_route", entity_id=route_id,
        detail={},
    )  # fmt: skip
