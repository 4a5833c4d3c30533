"""Storage: SQLAlchemy Core tables, Alembic migrations, engine set-up for SQLite and PostgreSQL, catalog
sync, and the change bus that tells the page cache (and, over LISTEN/NOTIFY, other processes) what changed."""

from downradar.store.engine import make_engine
from downradar.store.migrate import upgrade

__all__ = ["make_engine", "upgrade"]
