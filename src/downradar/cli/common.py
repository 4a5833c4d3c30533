"""What every command module shares: the consoles, the --db and --catalog options, one-line failures
(exit code 2), and a migrated database whose catalog tables match the catalog file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Connection, Engine

from downradar.core.catalog import CatalogError, load_catalog
from downradar.core.clock import SystemClock
from downradar.core.config import ConfigError, Settings, variable_name
from downradar.incidents import IncidentError, NotFound
from downradar.notify.routes import RouteError
from downradar.probes.registry import sync_catalog_probes
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog

err = Console(stderr=True)
out = Console()
DbOption = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (default: DOWNRADAR_DB)")]
CatalogOption = Annotated[
    Path | None, typer.Option("--catalog", help="Catalog TOML (default: DOWNRADAR_CATALOG)")
]


def fail(message: str) -> NoReturn:
    # Escaped: a message quoting user input ("[detector]") is not Rich markup.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def settings_for(db: str | None = None, catalog: Path | None = None, **more: object) -> Settings:
    """Settings from the environment, with the options given on the command line on top."""
    # Any: the options are of many types, and Settings validates each against its field.
    overrides: dict[str, Any] = {
        k: v for k, v in {"db": db, "catalog": catalog, **more}.items() if v is not None
    }
    try:
        settings = Settings(**overrides)
        settings.areas()  # checked before any command starts, so a bad value is one line, not a traceback
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "settings"
        fail(f"{variable_name(field)}: {error['msg']} (got {error.get('input')!r})")
    except ConfigError as exc:
        fail(str(exc))
    return settings


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """A migrated database whose services, components and catalog probes match the catalog file."""
    try:
        catalog = load_catalog(settings.catalog)
    except CatalogError as exc:
        fail(str(exc))
    engine = make_engine(settings.db)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            now = SystemClock().now()
            sync_catalog(conn, catalog, now)
            sync_catalog_probes(conn, catalog, now)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def change(settings: Settings, refused: tuple[type[Exception], ...]) -> Iterator[Connection]:
    """A transaction for one change; an exception of a `refused` kind (bad input) rolls it back and
    becomes a one-line error with exit code 2."""
    with database(settings) as engine:
        try:
            with engine.begin() as conn:
                yield conn
        except refused as exc:
            fail(str(exc))


@contextmanager
def domain_change(settings: Settings) -> Iterator[Connection]:
    """A change through the incident, route or subscriber code, whose refusals are one-line errors."""
    with change(settings, (IncidentError, NotFound, RouteError)) as conn:
        yield conn
