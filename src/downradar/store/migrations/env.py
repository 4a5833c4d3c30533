"""Alembic environment: the engine comes from downradar.store.migrate, never from an ini file."""

from alembic import context

from downradar.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
