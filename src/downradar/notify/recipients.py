"""Who gets messages: operators' alert routes and public subscribers, behind one `Recipient` shape.

A recipient is named by a key, "route:<id>" or "subscriber:<id>", so the outbox and the messages need one
column for either kind. The grouping times come from the route, or from the server's defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from downradar.core.config import NotifySettings
from downradar.store.schema import alert_routes, subscribers

ROUTE = "route"
SUBSCRIBER = "subscriber"
ACTIVE = "active"


def route_key(route_id: str) -> str:
    return f"{ROUTE}:{route_id}"


def subscriber_key(subscriber_id: str) -> str:
    return f"{SUBSCRIBER}:{subscriber_id}"


@dataclass(frozen=True)
class Grouping:
    """Alertmanager's three times: wait before a first message, between messages, before a reminder."""

    wait: timedelta
    interval: timedelta
    repeat: timedelta | None  # None: no reminders

    def ready_at(self, first_queued: datetime, last_notified: datetime | None) -> datetime:
        """When a recipient's queued changes go out as one message."""
        ready = first_queued + self.wait
        if last_notified is not None:
            ready = max(ready, last_notified + self.interval)
        return ready


def default_grouping(settings: NotifySettings, *, subscriber: bool) -> Grouping:
    repeat = settings.subscriber_repeat_seconds if subscriber else settings.route_repeat_seconds
    return Grouping(
        wait=timedelta(seconds=settings.group_wait_seconds),
        interval=timedelta(seconds=settings.group_interval_seconds),
        repeat=timedelta(seconds=repeat) if repeat else None,
    )


@dataclass(frozen=True)
class Recipient:
    key: str
    channel: str  # webhook | apprise | email
    address: str  # URL, Apprise URL or e-mail address
    secret: str | None  # webhook signing key
    unsubscribe_token: str | None  # subscribers only
    grouping: Grouping
    last_notified_at: datetime | None
    enabled: bool


def _seconds(value: float | None, fallback: timedelta) -> timedelta:
    return fallback if value is None else timedelta(seconds=value)


def _route(row: Any, defaults: Grouping) -> Recipient:
    repeat = defaults.repeat
    if row.repeat_interval_seconds is not None:
        repeat = timedelta(seconds=row.repeat_interval_seconds) if row.repeat_interval_seconds > 0 else None
    return Recipient(
        key=route_key(row.id),
        channel=row.channel,
        address=row.url,
        secret=row.secret,
        unsubscribe_token=None,
        grouping=Grouping(
            wait=_seconds(row.group_wait_seconds, defaults.wait),
            interval=_seconds(row.group_interval_seconds, defaults.interval),
            repeat=repeat,
        ),
        last_notified_at=row.last_notified_at,
        enabled=row.enabled,
    )


def _subscriber(row: Any, defaults: Grouping) -> Recipient:
    return Recipient(
        key=subscriber_key(row.id),
        channel=row.channel,
        address=row.address,
        secret=row.secret,
        unsubscribe_token=row.unsubscribe_token,
        grouping=defaults,
        last_notified_at=row.last_notified_at,
        enabled=row.state == ACTIVE,
    )


def split_keys(keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """Recipient keys as (alert route ids, subscriber ids), each once."""
    route_ids: list[str] = []
    subscriber_ids: list[str] = []
    for key in dict.fromkeys(keys):
        kind, _, row_id = key.partition(":")
        (route_ids if kind == ROUTE else subscriber_ids).append(row_id)
    return route_ids, subscriber_ids


def load(conn: Connection, keys: Iterable[str], settings: NotifySettings) -> dict[str, Recipient]:
    """The recipients with these keys that still exist (a removed one simply drops out)."""
    route_ids, subscriber_ids = split_keys(keys)
    found: dict[str, Recipient] = {}
    route_defaults = default_grouping(settings, subscriber=False)
    subscriber_defaults = default_grouping(settings, subscriber=True)
    for chunk in _chunks(route_ids):
        for row in conn.execute(select(alert_routes).where(alert_routes.c.id.in_(chunk))):
            recipient = _route(row, route_defaults)
            found[recipient.key] = recipient
    for chunk in _chunks(subscriber_ids):
        for row in conn.execute(select(subscribers).where(subscribers.c.id.in_(chunk))):
            recipient = _subscriber(row, subscriber_defaults)
            found[recipient.key] = recipient
    return found


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    # SQLite caps the number of bound parameters in one statement.
    for start in range(0, len(items), size):
        yield items[start : start + size]


def wants(filters: list[str], service_id: str, components: list[str]) -> bool:
    """Does a filter of service ids and component ids ("svc.comp") cover this change? Empty: everything.

    A change that names no component counts for every component of its service.
    """
    if not filters or service_id in filters:
        return True
    prefix = service_id + "."
    picked = {item for item in filters if item.startswith(prefix)}
    if not picked:
        return False
    return not components or any(prefix + slug in picked for slug in components)
