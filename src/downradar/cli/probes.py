"""Command line for probes: `downradar agent`, `downradar location add|list|remove`, `downradar probe
list|enable|disable`. `register(app)` adds them to the main command line."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from sqlalchemy import Connection

from downradar.cli.common import CatalogOption, DbOption, change, database, err, fail, out, settings_for
from downradar.core.clock import SystemClock
from downradar.core.config import Settings
from downradar.probes import locations, registry
from downradar.probes.spec import SLUG

if TYPE_CHECKING:
    from downradar.probes.agent import Agent

location_app = typer.Typer(
    help="Probe locations: agents that run probes away from the server.", no_args_is_help=True
)
probe_app = typer.Typer(help="Probes: list them, enable or disable one.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `agent`, `location` and `probe` to the main command line."""
    app.command("agent")(agent)
    app.add_typer(location_app, name="location")
    app.add_typer(probe_app, name="probe")


@contextmanager
def _change(settings: Settings) -> Iterator[Connection]:
    with change(settings, (registry.ProbeError, registry.ProbeNotFound)) as conn:
        yield conn


# -- the agent -----------------------------------------------------------------------------------------


def agent(
    location: Annotated[
        str | None, typer.Option(help="This agent's location, as the server knows it")
    ] = None,
    server: Annotated[
        str | None, typer.Option(help="The Downradar server, e.g. https://status.example")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="DOWNRADAR_AGENT_TOKEN",
            help="The location's token (`downradar location add`); default DOWNRADAR_AGENT_TOKEN",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Probe checks running at once")] = 100,
    refresh_seconds: Annotated[
        float, typer.Option(help="Ask the server for the probe list this often")
    ] = 30.0,
) -> None:
    """Run a location's probes away from the server, posting the results back (until stopped)."""
    from downradar.core.logs import configure
    from downradar.probes.agent import Agent, AgentError

    if not location or not re.match(SLUG, location):
        fail("--location NAME is required: a slug [a-z0-9-], as made by `downradar location add`")
    if not server or not server.startswith(("http://", "https://")):
        fail("--server URL is required: the server's address, starting with http:// or https://")
    if not token:
        fail("a location token is required: --token TOKEN or DOWNRADAR_AGENT_TOKEN")
    if not 1 <= concurrency <= 5000:
        fail("--concurrency must be between 1 and 5000")
    if refresh_seconds <= 0:
        fail("--refresh-seconds must be positive")
    configure()
    runner = Agent(server, token, location, concurrency=concurrency, refresh_seconds=refresh_seconds)
    err.print(f"Probe agent for location [bold]{location}[/bold], posting to {server}", highlight=False)
    try:
        asyncio.run(_until_stopped(runner))
    except AgentError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


async def _until_stopped(runner: Agent) -> None:
    """Run the agent; SIGTERM stops it like Ctrl-C (it posts what it still holds on the way out)."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with suppress(asyncio.CancelledError):
        await runner.run()


# -- locations -----------------------------------------------------------------------------------------


@location_app.command("add")
def location_add(
    name: Annotated[str, typer.Argument(help="Location name, a slug such as eu-west")],
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Add a location and print its token (shown this once: give it to the agent)."""
    settings = settings_for(db, catalog)
    with _change(settings) as conn:
        token = locations.create_location(
            conn, name, SystemClock().now(), server_location=settings.probe_location, actor="cli"
        )
    err.print(f"Token for location {name} (shown once; run the agent with it):", highlight=False)
    out.print(token, highlight=False, soft_wrap=True)


@location_app.command("list")
def location_list(db: DbOption = None, catalog: CatalogOption = None) -> None:
    """List locations and when their agents were last seen (never their tokens)."""
    with database(settings_for(db, catalog)) as engine, engine.connect() as conn:
        found = locations.list_locations(conn)
    table = Table(title="Probe locations")
    for column in ("name", "created", "last seen"):
        table.add_column(column, no_wrap=True)
    for location in found:
        seen = location.last_seen_at.isoformat(timespec="seconds") if location.last_seen_at else "never"
        table.add_row(location.name, location.created_at.isoformat(timespec="seconds"), seen)
    out.print(table)


@location_app.command("remove")
def location_remove(
    name: Annotated[str, typer.Argument(help="Location name")],
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Remove a location: its token stops working at once (its past results stay)."""
    with _change(settings_for(db, catalog)) as conn:
        locations.delete_location(conn, name, SystemClock().now(), actor="cli")
    out.print(f"{name} removed")


# -- probes --------------------------------------------------------------------------------------------


@probe_app.command("list")
def probe_list(
    service: Annotated[str | None, typer.Option(help="Only this service's probes")] = None,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """List probes: what they check, how often, from where."""
    with database(settings_for(db, catalog)) as engine, engine.connect() as conn:
        found = registry.list_probes(conn, service=service)
    table = Table(title="Probes")
    for column in ("id", "target", "every", "locations", "source", "enabled"):
        table.add_column(column, no_wrap=column != "target")
    for probe in found:
        table.add_row(
            probe.id,
            probe.spec.target(),
            f"{probe.spec.interval_seconds:g} s",
            ", ".join(probe.spec.locations) or "all",
            probe.source,
            "yes" if probe.enabled else "no",
        )
    out.print(table)


def _set_enabled(probe_id: str, enabled: bool, db: str | None, catalog: Path | None) -> None:
    with _change(settings_for(db, catalog)) as conn:
        registry.set_enabled(conn, probe_id, enabled, SystemClock().now(), actor="cli")
    out.print(f"{probe_id} {'enabled' if enabled else 'disabled'}")


@probe_app.command("enable")
def probe_enable(
    probe_id: Annotated[str, typer.Argument(help="Probe id, <service>.<slug>")],
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Run a probe again."""
    _set_enabled(probe_id, True, db, catalog)


@probe_app.command("disable")
def probe_disable(
    probe_id: Annotated[str, typer.Argument(help="Probe id, <service>.<slug>")],
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Stop running a probe (catalog probes stay disabled across restarts)."""
    _set_enabled(probe_id, False, db, catalog)
