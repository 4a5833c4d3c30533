"""Test databases: SQLite always, PostgreSQL when reachable, each one a copy of a database migrated once.

Running every Alembic migration per test cost a quarter to a half second each; instead `Databases` migrates
one template per backend per pytest process (xdist workers each have their own) and hands out copies:
a file copy for SQLite, `CREATE DATABASE … TEMPLATE …` for PostgreSQL. The app's own `upgrade` at start-up
then finds the head revision and does nothing. Tests of the migrations themselves ask for an empty one.
PostgreSQL's CREATE and DROP DATABASE each wait for disk (a checkpoint, WAL) and take up to a second on a
busy machine, so a thread of this process makes the next copy ahead of time and drops used ones after.

PostgreSQL: DOWNRADAR_TEST_PG (a URL to a server where we may create databases) or, failing that,
postgresql://postgres@127.0.0.1:5432/test. When neither answers, PostgreSQL cases skip with one line.
"""

from __future__ import annotations

import os
import secrets
import shutil
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
            self._background.submit(self._drop_pg, name)

    def close(self) -> None:
        """Drop the spare copy and the PostgreSQL template, after the drops still queued (end of session)."""
        if self._spare is not None:
            self._background.submit(self._drop_pg, self._spare.result())
            self._spare = None
        for name in self._pg_names:
            self._background.submit(self._drop_pg, name)
        self._pg_names.clear()
        self._background.shutdown(wait=True)

    def _pg_copy(self) -> str:
        template = self._pg()
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
