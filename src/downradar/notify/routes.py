"""Alert routes: operators' webhooks and Apprise channels. Secrets are stored, used, and never shown."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from downradar.incidents import NotFound, audit
from downradar.incidents.lifecycle import new_id
from downradar.notify.channels.apprise_channel import AppriseUrlError, check_apprise_url, redacted
from downradar.notify.recipients import route_key
from downradar.notify.targets import AllowList, TargetRefused, check_target
from downradar.store.schema import alert_routes, messages, outbox, page_keys, services

CHANNELS = ("webhook", "apprise")
MAX_NAME = 200
MAX_URL = 2000
MIN_SECRET = 16
MAX_SECRET = 200
MAX_SECONDS = 7 * 86_400.0


class RouteError(ValueError):
    """Bad input for a route, naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def generate_secret() -> str:
    return secrets.token_urlsafe(32)


def _check_seconds(field: str, value: float | None) -> None:
    if value is not None and not 0 <= value <= MAX_SECONDS:
        raise RouteError(field, f"must be between 0 and {MAX_SECONDS:.0f} seconds")


def create_route(
    conn: Connection,
    *,
    name: str,
    url: str,
    secret: str | None,
    services_: list[str],
    allow: AllowList,
    actor: str,
    now: datetime,
    enabled: bool = True,
    channel: str = "webhook",
    group_wait_seconds: float | None = None,
    group_interval_seconds: float | None = None,
    repeat_interval_seconds: float | None = None,
) -> dict[str, Any]:
    """Add a route and return it as the API shows it (without the secret, the Apprise URL redacted)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise RouteError("name", f"must be 1 to {MAX_NAME} characters")
    if channel not in CHANNELS:
        raise RouteError("channel", f"must be one of {', '.join(CHANNELS)}")
    if channel == "webhook":
        if secret is None or not MIN_SECRET <= len(secret) <= MAX_SECRET:
            raise RouteError("secret", f"must be {MIN_SECRET} to {MAX_SECRET} characters")
    elif secret is not None:
        raise RouteError("secret", "only webhook routes are signed; Apprise URLs carry their own keys")
    for field, value in (
        ("group_wait_seconds", group_wait_seconds),
        ("group_interval_seconds", group_interval_seconds),
        ("repeat_interval_seconds", repeat_interval_seconds),
    ):
        _check_seconds(field, value)
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
        if channel == "webhook":
            check_target(url, allow)
        else:
            check_apprise_url(url, allow)
    except (TargetRefused, AppriseUrlError) as exc:
        raise RouteError("url", str(exc)) from None
    route_id = new_id()
    conn.execute(
        alert_routes.insert().values(
            id=route_id,
            name=name,
            channel=channel,
            url=url,
            # Apprise routes are not signed; the column stays filled so every route has the same shape.
            secret=secret if secret is not None else generate_secret(),
            services=wanted,
            enabled=enabled,
            group_wait_seconds=group_wait_seconds,
            group_interval_seconds=group_interval_seconds,
            repeat_interval_seconds=repeat_interval_seconds,
            created_at=now,
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
        "channel": row.channel,
        "url": row.url if row.channel == "webhook" else redacted(row.url),
        "services": list(row.services),
        "enabled": row.enabled,
        "group_wait_seconds": row.group_wait_seconds,
        "group_interval_seconds": row.group_interval_seconds,
        "repeat_interval_seconds": row.repeat_interval_seconds,
        "last_notified_at": _iso(row.last_notified_at),
        "created_at": _iso(row.created_at),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


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
    """Delete a route with its queue and messages, sent or not: nothing more goes to it."""
    get_route(conn, route_id)
    key = route_key(route_id)
    conn.execute(delete(outbox).where(outbox.c.recipient == key))
    conn.execute(delete(messages).where(messages.c.recipient == key))
    conn.execute(delete(page_keys).where(page_keys.c.recipient == key))
    conn.execute(delete(alert_routes).where(alert_routes.c.id == route_id))
    audit.record(
        conn, at=now, actor=actor, action="alert_route.removed", entity="alert_route", entity_id=route_id,
        detail={},
    )  # fmt: skip
