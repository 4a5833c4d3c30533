"""Engine set-up: SQLite in WAL mode with full fsync, PostgreSQL through psycopg 3, same code above."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event

from downradar.core.config import database_url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit survives power loss, not just a killed process; group commit pays for the fsync.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Statement journals (a multi-row insert or upsert may need one) in memory: on disk, each was a file
    # created and unlinked per commit.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
