"""Storage: the Alembic migrations build exactly the tables in schema.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text

from downradar.store import make_engine, upgrade
from downradar.store.migrate import current_revision
from downradar.store.schema import metadata, services


def migrated(db_url: str) -> Engine:
    engine = make_engine(db_url)
    upgrade(engine)
    return engine


def schema_differences(engine: Engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata)


def test_migrations_produce_exactly_the_schema(empty_db_url: str) -> None:
    engine = migrated(empty_db_url)
    try:
        assert schema_differences(engine) == []
        assert set(inspect(engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(empty_db_url: str) -> None:
    engine = migrated(empty_db_url)
    try:
        with engine.begin() as conn:
            now = datetime.now(UTC)
            conn.execute(
                services.insert().values(
                    id="kept", name="Kept", description="", position=1, created_at=now, updated_at=now
                )
            )
        head = current_revision(engine)
        upgrade(engine)
        upgrade(engine)
        assert current_revision(engine) == head is not None
        assert schema_differences(engine) == []
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(services)) == 1
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    engine = migrated(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()
