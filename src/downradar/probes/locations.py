"""Probe locations: places besides the server that run probes (agents), each with its own bearer token.

A token is shown once, when the location is made; only its SHA-256 is kept. Looking a token up by its hash
needs no constant-time comparison: the hash an attacker's guess produces tells them nothing about ours.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from downradar.incidents import audit
from downradar.probes.registry import ProbeError, ProbeNotFound
from downradar.probes.spec import SLUG
from downradar.store.schema import probe_locations

TOKEN_PREFIX = "drl_"  # makes a leaked location token recognisable (secret scanners, logs)


class LocationNotFound(ProbeNotFound):
    """No location has that name."""


@dataclass(frozen=True)
class Location:
    name: str
    created_at: datetime
    last_seen_at: datetime | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_location(
    conn: Connection, name: str, now: datetime, *, server_location: str = "local", actor: str = "admin"
) -> str:
    """Add a location; returns its token, which is not kept and cannot be shown again."""
    if not re.match(SLUG, name):
        raise ProbeError("name", f"{name!r} is not a slug [a-z0-9-], 1 to 64 characters")
    if name == server_location:
        raise ProbeError("name", f"{name!r} is the server's own location (DOWNRADAR_PROBE_LOCATION)")
    if conn.execute(select(probe_locations.c.name).where(probe_locations.c.name == name)).first():
        raise ProbeError("name", f"location {name!r} already exists", status=409)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(probe_locations.insert().values(name=name, token_hash=token_hash(token), created_at=now))
    audit.record(
        conn, at=now, actor=actor, action="probe_location.created", entity="probe_location", entity_id=name,
        detail={},
    )  # fmt: skip
    return token


def list_locations(conn: Connection) -> list[Location]:
    rows = conn.execute(select(probe_locations).order_by(probe_locations.c.name)).mappings()
    return [Location(row["name"], row["created_at"], row["last_seen_at"]) for row in rows]


def delete_location(conn: Connection, name: str, now: datetime, *, actor: str = "admin") -> None:
    """Remove a location; its token stops working at once. Its past results stay."""
    if conn.execute(delete(probe_locations).where(probe_locations.c.name == name)).rowcount == 0:
        raise LocationNotFound(f"unknown probe location {name!r}")
    audit.record(
        conn, at=now, actor=actor, action="probe_location.deleted", entity="probe_location", entity_id=name,
        detail={},
    )  # fmt: skip


def location_for_token(conn: Connection, token: str) -> str | None:
    row = conn.execute(
        select(probe_locations.c.name).where(probe_locations.c.token_hash == token_hash(token))
    ).first()
    return None if row is None else row[0]


def touch(conn: Connection, name: str, now: datetime) -> None:
    conn.execute(update(probe_locations).where(probe_locations.c.name == name).values(last_seen_at=now))
