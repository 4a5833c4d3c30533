"""Paging routes: Apprise URLs for PagerDuty and Opsgenie get a stable dedup key per (service, incident).

The tool then folds every message about an incident into one alert and closes it with the resolve, so a
repeat or a retry never pages twice. In a storm (one message about `storm_services` services or more) the
route gets one page for the whole storm; its incidents are tied to that page's key (table `page_keys`),
so their later updates go to the same page, and the page resolves when the last of them is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Connection, select

from downradar.core.model import CLOSED_STATUSES
from downradar.notify.recipients import Recipient
from downradar.notify.render import Item, Notification
from downradar.store.schema import incidents, page_keys

# The query parameter each paging scheme takes its dedup key in; `action=map` makes a success (our
# resolve) close the alert that failures with the same key opened.
DEDUP_PARAMETER = {"pagerduty": "dedup", "opsgenie": "alias"}


def is_paging(recipient: Recipient) -> bool:
    return recipient.channel == "apprise" and urlsplit(recipient.address).scheme.lower() in DEDUP_PARAMETER


@dataclass(frozen=True)
class Page:
    """One alert at the paging tool: its key, the items it carries, and whether it is now resolved."""

    dedup_key: str
    items: tuple[Item, ...]
    resolved: bool
    title: str
    text: str


def plan_pages(conn: Connection, recipient: Recipient, notification: Notification) -> tuple[Page, ...]:
    """Which alert each item belongs to; records new keys so later messages find the same alert."""
    incident_ids = list(dict.fromkeys(item.incident_id for item in notification.items))
    known = dict(
        conn.execute(
            select(page_keys.c.incident_id, page_keys.c.dedup_key).where(
                page_keys.c.recipient == recipient.key, page_keys.c.incident_id.in_(incident_ids)
            )
        ).all()
    )
    new = [incident_id for incident_id in incident_ids if incident_id not in known]
    if new:
        first = next(item for item in notification.items if item.incident_id == new[0])
        storm_key = f"downradar/storm/{first.incident_id}" if notification.is_storm else None
        for item in notification.items:
            if item.incident_id in new and item.incident_id not in known:
                known[item.incident_id] = storm_key or item.dedup_key
        conn.execute(
            page_keys.insert(),
            [
                {"recipient": recipient.key, "incident_id": incident_id, "dedup_key": known[incident_id]}
                for incident_id in new
            ],
        )
    by_key: dict[str, list[Item]] = {}
    for item in notification.items:
        by_key.setdefault(known[item.incident_id], []).append(item)
    pages = []
    for key, items in by_key.items():
        # A page is resolved when every incident ever tied to it is, not only those in this message.
        members = select(page_keys.c.incident_id).where(
            page_keys.c.recipient == recipient.key, page_keys.c.dedup_key == key
        )
        still_open = conn.scalar(
            select(incidents.c.id)
            .where(incidents.c.id.in_(members), incidents.c.status.not_in(CLOSED_STATUSES))
            .limit(1)
        )
        part = Notification(notification.id, tuple(items), notification.storm_services)
        pages.append(Page(key, tuple(items), still_open is None, part.title, part.text))
    return tuple(pages)


def url_with_key(url: str, dedup_key: str) -> str:
    """The Apprise URL with our dedup key and `action=map`, unless the operator set their own."""
    parts = urlsplit(url)
    parameter = DEDUP_PARAMETER[parts.scheme.lower()]
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.setdefault(parameter, dedup_key)
    query.setdefault("action", "map")
    return urlunsplit(parts._replace(query=urlencode(query)))
