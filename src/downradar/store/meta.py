"""Small key/value facts the database keeps about itself (a generated secret, for one)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import Connection, select

from downradar.store.schema import meta


def get_or_create(conn: Connection, key: str, make: Callable[[], str] = lambda: secrets.token_hex(32)) -> str:
    value = conn.scalar(select(meta.c.value).where(meta.c.key == key))
    if value is None:
        value = make()
        conn.execute(meta.insert().values(key=key, value=value))
    return value
