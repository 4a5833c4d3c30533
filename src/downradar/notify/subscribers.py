"""Public subscribers: e-mail addresses (double opt-in) and webhooks, and what they want to hear about.

An e-mail subscriber starts `pending` with a confirmation token; only the token's SHA-256 is stored, the
raw token goes to the caller once, to be mailed. Confirming makes it `active`, and only active subscribers
get outbox rows (notify/outbox.py). Each subscriber also has an unsubscribe token, stored as is because
every notification mail carries it in its one-click link.

A webhook subscriber is `active` at once (its signing secret is what proves later messages came from us)
and gets signed POSTs exactly like a webhook route. Its secret and unsubscribe token are returned once.

Nothing here ever returns or logs a token or a secret except the one-time results of sign-up.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, delete, select, update

from downradar.incidents import NotFound, audit
from downradar.incidents.lifecycle import new_id
from downradar.notify.recipients import ACTIVE, subscriber_key
from downradar.notify.routes import RouteError
from downradar.notify.targets import AllowList, TargetRefused, check_target
from downradar.store.schema import components as components_table
from downradar.store.schema import messages, outbox, page_keys, services, subscribers

EMAIL = "email"
WEBHOOK = "webhook"
PENDING = "pending"
UNSUBSCRIBED = "unsubscribed"
CONFIRM_FOR = timedelta(hours=48)
MAX_ADDRESS = 254  # RFC 5321's limit on a forward path
MAX_URL = 2000
MAX_COMPONENTS = 500


class SubscriberError(RouteError):
    """Bad sign-up input, naming the field. A RouteError, so the API and CLI map it the same way (422/2)."""


class ConfirmError(ValueError):
    """A confirmation link that cannot be used: unknown, used up by an unsubscribe, or expired."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class EmailSignup:
    """What the web layer needs to mail the confirmation: the raw token exists only here."""

    subscriber_id: str
    address: str
    confirm_token: str
    components: list[str]
    changing: bool  # an active subscriber changing its choice (the mail says so)


@dataclass(frozen=True)
class WebhookSignup:
    subscriber: dict[str, Any]
    secret: str
    unsubscribe_token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_unsubscribe_token() -> str:
    return secrets.token_urlsafe(24)


def normalise_email(address: str) -> str:
    """The address as we store it, all lower case; SubscriberError naming `email`.

    Local parts are case-sensitive on paper but not at any real provider, and "Pat@" and "pat@" as two
    subscribers would mean two mails to one inbox (and a way around the per-address limit).
    """
    address = address.strip()
    if not address or len(address) > MAX_ADDRESS:
        raise SubscriberError("email", f"must be an e-mail address of at most {MAX_ADDRESS} characters")
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise SubscriberError("email", str(exc)) from None


def check_components(conn: Connection, wanted: list[str]) -> list[str]:
    """Service ids or "service.component" ids that exist, sorted and unique; empty means everything."""
    if len(wanted) > MAX_COMPONENTS:
        raise SubscriberError("components", f"at most {MAX_COMPONENTS} entries")
    unique = sorted({item.strip() for item in wanted if isinstance(item, str) and item.strip()})
    service_ids = [item for item in unique if "." not in item]
    component_ids = [item for item in unique if "." in item]
    known = set(conn.scalars(select(services.c.id).where(services.c.id.in_(service_ids))))
    known |= set(conn.scalars(select(components_table.c.id).where(components_table.c.id.in_(component_ids))))
    for item in unique:
        if item not in known:
            raise SubscriberError("components", f"unknown service or component {item!r}")
    return unique


def subscribe_email(
    conn: Connection, *, address: str, components: list[str], now: datetime, actor: str = "public"
) -> EmailSignup:
    """Start (or restart) a double opt-in; returns the raw confirmation token to mail, once.

    A new or unsubscribed address becomes `pending`. A pending one gets a fresh token (the old link stops
    working). An active one stays active with its current choice: the new choice waits in
    `pending_components` until the link in the new mail is followed, so nobody can change another
    person's subscription without their inbox.
    """
    address = normalise_email(address)
    chosen = check_components(conn, components)
    token = secrets.token_urlsafe(32)
    row = conn.execute(
        select(subscribers.c.id, subscribers.c.state).where(
            subscribers.c.channel == EMAIL, subscribers.c.address == address
        )
    ).first()
    common = {"confirm_token_hash": hash_token(token), "confirm_sent_at": now, "pending_components": chosen}
    if row is None:
        subscriber_id = new_id()
        conn.execute(
            subscribers.insert().values(
                id=subscriber_id,
                channel=EMAIL,
                address=address,
                secret=None,
                components=chosen,
                state=PENDING,
                unsubscribe_token=new_unsubscribe_token(),
                created_at=now,
                **common,
            )
        )
        changing = False
    else:
        subscriber_id = row.id
        changing = row.state == ACTIVE
        values: dict[str, Any] = dict(common)
        if not changing:
            values.update(state=PENDING, components=chosen, unsubscribed_at=None)
        conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(**values))
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="subscriber.confirmation_requested",
        entity="subscriber",
        entity_id=subscriber_id,
        detail={"channel": EMAIL, "components": chosen, "changing": changing},
    )
    return EmailSignup(subscriber_id, address, token, chosen, changing)


def confirm(conn: Connection, token: str, *, now: datetime) -> dict[str, Any]:
    """Follow a confirmation link: the subscriber becomes active with the choice the link was sent for.

    Following it again is fine (the same answer) until the subscriber unsubscribes, which voids it.
    """
    by_hash = subscribers.c.confirm_token_hash == hash_token(token)
    row = conn.execute(select(subscribers).where(by_hash)).first()
    if row is None or row.state == UNSUBSCRIBED:
        raise ConfirmError("This confirmation link is not valid (any more). Sign up again to get a new one.")
    already = row.confirmed_at is not None and row.confirm_sent_at <= row.confirmed_at
    if already and row.pending_components is None:
        return _public(row)
    if row.confirm_sent_at + CONFIRM_FOR < now:
        raise ConfirmError("This confirmation link has expired. Sign up again for a new one.", expired=True)
    chosen = row.pending_components if row.pending_components is not None else row.components
    conn.execute(
        update(subscribers)
        .where(subscribers.c.id == row.id)
        .values(state=ACTIVE, components=chosen, pending_components=None, confirmed_at=now)
    )
    audit.record(
        conn,
        at=now,
        actor="subscriber",
        action="subscriber.confirmed",
        entity="subscriber",
        entity_id=row.id,
        detail={"components": chosen},
    )
    return get_subscriber(conn, row.id)


def subscribe_webhook(
    conn: Connection,
    *,
    url: str,
    components: list[str],
    allow: AllowList,
    now: datetime,
    actor: str = "public",
) -> WebhookSignup:
    """Add an active webhook subscriber; its signing secret and unsubscribe token are returned only now.

    A URL that is already subscribed is refused rather than given a new secret: whoever knows a secret can
    forge our messages to that receiver, so a stranger must not be able to obtain one for someone's URL.
    """
    chosen = check_components(conn, components)
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise SubscriberError("webhook", f"must be an http(s) URL of at most {MAX_URL} characters")
    existing = conn.execute(
        select(subscribers.c.id, subscribers.c.state).where(
            subscribers.c.channel == WEBHOOK, subscribers.c.address == url
        )
    ).first()
    if existing is not None and existing.state != UNSUBSCRIBED:
        raise SubscriberError("webhook", "is already subscribed; unsubscribe it first with its token")
    try:
        check_target(url, allow)  # last, because it may wait for DNS
    except TargetRefused as exc:
        raise SubscriberError("webhook", str(exc)) from None
    if existing is not None:
        _drop(conn, existing.id)
    subscriber_id = new_id()
    secret = secrets.token_urlsafe(32)
    unsubscribe_token = new_unsubscribe_token()
    conn.execute(
        subscribers.insert().values(
            id=subscriber_id,
            channel=WEBHOOK,
            address=url,
            secret=secret,
            components=chosen,
            state=ACTIVE,
            unsubscribe_token=unsubscribe_token,
            created_at=now,
            confirmed_at=now,
        )
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="subscriber.created",
        entity="subscriber",
        entity_id=subscriber_id,
        detail={"channel": WEBHOOK, "address": url, "components": chosen},
    )
    return WebhookSignup(get_subscriber(conn, subscriber_id), secret, unsubscribe_token)


def find_by_unsubscribe_token(conn: Connection, token: str) -> dict[str, Any]:
    row = conn.execute(select(*_PUBLIC_COLUMNS).where(subscribers.c.unsubscribe_token == token)).first()
    if row is None:
        raise NotFound("unknown unsubscribe link")
    return _public(row)


def unsubscribe(conn: Connection, token: str, *, now: datetime) -> dict[str, Any]:
    """Stop everything to this subscriber: state `unsubscribed`, its unsent changes and messages dropped.

    Doing it twice is harmless. The row stays (without a usable confirmation link) so a later sign-up of
    the same address starts a fresh double opt-in.
    """
    found = find_by_unsubscribe_token(conn, token)
    if found["state"] == UNSUBSCRIBED:
        return found
    _forget_unsent(conn, found["id"])
    conn.execute(
        update(subscribers)
        .where(subscribers.c.id == found["id"])
        .values(state=UNSUBSCRIBED, unsubscribed_at=now, confirm_token_hash=None, pending_components=None)
    )
    audit.record(
        conn, at=now, actor="subscriber", action="subscriber.unsubscribed", entity="subscriber",
        entity_id=found["id"], detail={},
    )  # fmt: skip
    return get_subscriber(conn, found["id"])


def _forget_unsent(conn: Connection, subscriber_id: str) -> None:
    """Queued rows and pending messages: a message a worker is sending right now may still arrive."""
    key = subscriber_key(subscriber_id)
    pending = select(messages.c.id).where(messages.c.recipient == key, messages.c.status == "pending")
    conn.execute(
        delete(outbox).where(
            outbox.c.recipient == key,
            outbox.c.message_id.is_(None) | outbox.c.message_id.in_(pending.scalar_subquery()),
        )
    )
    conn.execute(delete(messages).where(messages.c.recipient == key, messages.c.status == "pending"))


def _drop(conn: Connection, subscriber_id: str) -> None:
    key = subscriber_key(subscriber_id)
    conn.execute(delete(outbox).where(outbox.c.recipient == key))
    conn.execute(delete(messages).where(messages.c.recipient == key))
    conn.execute(delete(page_keys).where(page_keys.c.recipient == key))
    conn.execute(delete(subscribers).where(subscribers.c.id == subscriber_id))


# -- the admin side -------------------------------------------------------------------------------------

_SECRET_COLUMNS = ("secret", "confirm_token_hash", "unsubscribe_token")
_PUBLIC_COLUMNS = [c for c in subscribers.c if c.name not in _SECRET_COLUMNS]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": row.channel,
        "address": row.address,
        "state": row.state,
        "components": list(row.components),
        "pending_components": None if row.pending_components is None else list(row.pending_components),
        "created_at": _iso(row.created_at),
        "confirmed_at": _iso(row.confirmed_at),
        "unsubscribed_at": _iso(row.unsubscribed_at),
        "last_notified_at": _iso(row.last_notified_at),
    }


def get_subscriber(conn: Connection, subscriber_id: str) -> dict[str, Any]:
    row = conn.execute(select(*_PUBLIC_COLUMNS).where(subscribers.c.id == subscriber_id)).first()
    if row is None:
        raise NotFound(f"unknown subscriber {subscriber_id!r}")
    return _public(row)


def list_subscribers(conn: Connection, *, state: str | None = None) -> list[dict[str, Any]]:
    query = select(*_PUBLIC_COLUMNS).order_by(subscribers.c.created_at, subscribers.c.id)
    if state is not None:
        query = query.where(subscribers.c.state == state)
    return [_public(row) for row in conn.execute(query)]


def remove_subscriber(conn: Connection, subscriber_id: str, *, actor: str, now: datetime) -> None:
    """Delete a subscriber with its queue and messages, sent or not."""
    get_subscriber(conn, subscriber_id)
    _drop(conn, subscriber_id)
    audit.record(
        conn, at=now, actor=actor, action="subscriber.removed", entity="subscriber",
        entity_id=subscriber_id, detail={},
    )  # fmt: skip
