"""Test databases: SQLite always, PostgreSQL when reachable, each one a copy of a database migrated once.

Running every Alembic migration per test cost a quarter to a half second each; instead `Databases` migrates
one template per backend per pytest process (xdist workers each have their own) and hands out copies:
a file copy for SQLite, `CREATE DATABASE … TEMPLATE …` for PostgreSQL. The app's own `upgrade` at start-up
then finds the head revision and does nothing. Tests of the migrations themselves ask for an empty one.
PostgreSQL's CREATE and DROP DATABASE each wait for disk (WAL, a checkpoint) and take up to a second on a
busy machine, so a used PostgreSQL copy is emptied instead (every row but the revision deleted, identities
restarted) and handed to a later test. A thread of this process does that emptying after each test, makes
a new copy ahead of time for when none is free, and drops the copies that cannot be reused.

PostgreSQL: DOWNRADAR_TEST_PG (a URL to a server where we may create databases) or, failing that,
postgresql://postgres@127.0.0.1:5432/test. When neither answers, PostgreSQL cases skip with one line.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from downradar.core.catalog import Catalog
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_UNREACHABLE = "PostgreSQL not reachable (set DOWNRADAR_TEST_PG or run one on 127.0.0.1:5432)"


def reachable_pg_admin_url() -> str | None:
    """The URL of a PostgreSQL server where tests may create databases, or None when none answers."""
    url = os.environ.get("DOWNRADAR_TEST_PG") or DEFAULT_PG
    url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 2}, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return None
    return url


def migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@dataclass
class Databases:
    """Hands out fresh databases; migrated ones are copied from a template built on first use."""

    folder: Path  # where this process keeps its SQLite template
    pg_admin_url: str | None
    _sqlite_template: Path | None = None
    _pg_template: str | None = None
    _pg_names: list[str] = field(default_factory=list)
    _spare: Future[str] | None = None  # the next PostgreSQL copy, being made in the background
    _idle: list[str] = field(default_factory=list)  # used PostgreSQL copies, emptied again
    _lock: threading.Lock = field(default_factory=threading.Lock)  # _idle is filled by the thread
    _tables: frozenset[str] = frozenset()  # the template's tables: a copy with others is not reused
    _background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")
    )

    def fresh(self, kind: str, folder: Path, *, migrated: bool = True) -> Iterator[str]:
        """A database of `kind` ("sqlite" or "postgresql"); PostgreSQL ones are dropped afterwards."""
        if kind == "sqlite":
            target = folder / "downradar.db"
            if migrated:
                shutil.copyfile(self._sqlite(), target)
            yield f"sqlite:///{target}"
            return
        if self.pg_admin_url is None:
            pytest.skip(PG_UNREACHABLE)
        name = self._pg_copy() if migrated else self._create_pg(template=None)
        try:
            yield self._pg_url(name)
        finally:
            self._background.submit(self._recycle if migrated else self._drop_pg, name)

    def close(self) -> None:
        """Drop the spare and idle copies and the template, after the work still queued (end of session)."""
        self.settle()  # recycling done: every copy is idle or dropped
        self._pg_names.extend(self._idle)
        self._idle.clear()
        if self._spare is not None:
            self._background.submit(self._drop_pg, self._spare.result())
            self._spare = None
        for name in self._pg_names:
            self._background.submit(self._drop_pg, name)
        self._pg_names.clear()
        self._background.shutdown(wait=True)

    def settle(self) -> None:
        """Wait for the background work queued so far (recycling, drops): for tests of this class."""
        self._background.submit(lambda: None).result()

    def _pg_copy(self) -> str:
        template = self._pg()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        ready = self._spare or self._background.submit(self._create_pg, template=template)
        self._spare = self._background.submit(self._create_pg, template=template)
        return ready.result()

    def _sqlite(self) -> Path:
        if self._sqlite_template is None:
            path = self.folder / "template.db"
            migrate(f"sqlite:///{path}")
            # Disposing the engine checkpoints the write-ahead log, so the file alone is the whole database.
            assert not path.with_name(path.name + "-wal").exists()
            self._sqlite_template = path
        return self._sqlite_template

    def _pg(self) -> str:
        if self._pg_template is None:
            name = self._create_pg(template=None, prefix="downradar_template")
            self._pg_names.append(name)
            migrate(self._pg_url(name))
            self._tables = self._table_names(name)
            self._pg_template = name
        return self._pg_template

    def _pg_url(self, name: str) -> str:
        assert self.pg_admin_url is not None
        return make_url(self.pg_admin_url).set(database=name).render_as_string(hide_password=False)

    def _create_pg(self, *, template: str | None, prefix: str = "downradar_test") -> str:
        assert self.pg_admin_url is not None
        name = f"{prefix}_{secrets.token_hex(4)}"
        source = f' TEMPLATE "{template}"' if template else ""
        admin = create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"{source}'))
        finally:
            admin.dispose()
        return name

    def _table_names(self, name: str) -> frozenset[str]:
        engine = create_engine(self._pg_url(name))
        try:
            with engine.connect() as conn:
                query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                return frozenset(conn.execute(text(query)).scalars())
        finally:
            engine.dispose()

    def _recycle(self, name: str) -> None:
        """Empty a used copy and make it the next test's, or drop it when it cannot be reused."""
        if self._emptied(name):
            with self._lock:
                self._idle.append(name)
        else:
            self._drop_pg(name)

    def _emptied(self, name: str) -> bool:
        """Empty a used copy: True when it now matches the template (same tables, no rows but the revision,
        identities restarted), False when it cannot be reused (a test changed its tables, or it is locked)."""
        assert self.pg_admin_url is not None
        admin = create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")
        engine = create_engine(self._pg_url(name))
        try:
            with admin.connect() as conn:  # what a test left open (DROP ... WITH (FORCE) ended those too)
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                    {"name": name},
                )
            with engine.begin() as conn:
                # DELETE, not TRUNCATE: on a few rows it writes no new files, so it waits for no disk.
                conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                conn.execute(text("SET LOCAL synchronous_commit = off"))
                conn.execute(text("SET LOCAL session_replication_role = replica"))  # no FK order to follow
                query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                if frozenset(conn.execute(text(query)).scalars()) != self._tables:
                    return False
                for table in sorted(self._tables - {"alembic_version"}):
                    conn.execute(text(f'DELETE FROM "{table}"'))
                sequences = "SELECT schemaname || '.' || sequencename FROM pg_sequences"
                for sequence in conn.execute(text(sequences)).scalars():
                    conn.execute(text("SELECT setval(:sequence, 1, false)"), {"sequence": sequence})
                return conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        except Exception:
            return False
        finally:
            engine.dispose()
            admin.dispose()

    def _drop_pg(self, name: str) -> None:
        assert self.pg_admin_url is not None
        admin = create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def catalog_engine(db_url: str, catalog: Catalog, synced_at: datetime) -> Iterator[Engine]:
    """An engine on an upgraded database holding `catalog` (as synced at `synced_at`); for fixtures."""
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        sync_catalog(conn, catalog, synced_at)
    try:
        yield engine
    finally:
        engine.dispose()
