"""`downradar db upgrade|current` and `downradar token`."""

from __future__ import annotations

import typer

from downradar.cli.common import DbOption, database, fail, out, settings_for
from downradar.store import make_engine, upgrade
from downradar.store.meta import get_or_create
from downradar.store.migrate import current_revision

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command()(token)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Apply every pending migration."""
    settings = settings_for(db)
    engine = make_engine(settings.db)
    try:
        upgrade(engine)
        out.print(f"Database at revision {current_revision(engine)}.")
    except Exception as exc:
        fail(f"cannot upgrade {settings.db}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current(db: DbOption = None) -> None:
    """Show the database's schema revision."""
    engine = make_engine(settings_for(db).db)
    try:
        out.print(current_revision(engine) or "empty (run `downradar db upgrade`)")
    finally:
        engine.dispose()


def token(db: DbOption = None) -> None:
    """Print the admin token the server uses (DOWNRADAR_ADMIN_TOKEN, or the one generated and stored)."""
    settings = settings_for(db)
    if settings.admin_token:
        out.print(settings.admin_token)
        return
    with database(settings) as engine, engine.begin() as conn:
        out.print(get_or_create(conn, "admin_token"))
