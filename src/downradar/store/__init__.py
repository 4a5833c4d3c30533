"""Storage: SQLAlchemy Core tables, Alembic migrations, engine set-up for SQLite and PostgreSQL, catalog
sync, and change notes: `changes.record(conn, kind)` in a change's transaction, turned into bumps of the
app's own change bus at commit (and, over LISTEN/NOTIFY, heard by other processes)."""

from downradar.store.engine import make_engine
from downradar.store.migrate import upgrade

__all__ = ["make_engine", "upgrade"]
