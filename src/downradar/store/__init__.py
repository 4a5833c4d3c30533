"""Storage: SQLAlchemy Core tables, Alembic migrations, engine set-up for SQLite and PostgreSQL."""

from downradar.store.engine import make_engine
from downradar.store.migrate import upgrade

__all__ = ["make_engine", "upgrade"]
