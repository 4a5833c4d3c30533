"""`downradar incident open|update|resolve|list` and `downradar maintenance schedule|list`: incidents
changed straight in the database, through the same code as the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from downradar import incidents as lifecycle
from downradar.cli.common import CatalogOption, DbOption, database, domain_change, fail, out, settings_for
from downradar.core.clock import SystemClock
from downradar.core.model import Impact, IncidentStatus
from downradar.incidents.queries import load_incidents

incident_app = typer.Typer(help="Open, update, resolve and list incidents.", no_args_is_help=True)
maintenance_app = typer.Typer(help="Schedule and list maintenance.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(incident_app, name="incident")
    app.add_typer(maintenance_app, name="maintenance")


def _parse_components(values: list[str] | None) -> dict[str, str] | None:
    if values is None:
        return None
    parsed = {}
    for value in values:
        slug, sep, status = value.partition("=")
        if not sep or not slug or not status:
            fail(f"--component {value!r}: expected SLUG=STATUS, e.g. login=major_outage")
        parsed[slug] = status
    return parsed


def _parse_time(option: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r}: not an ISO 8601 time")
    if moment.tzinfo is None:
        fail(f"{option} {value!r}: give a UTC offset, e.g. 2026-02-04T09:20:00-08:00")
    return moment


ComponentOption = Annotated[
    list[str] | None,
    typer.Option("--component", "-c", help="SLUG=STATUS, repeatable, e.g. -c login=major_outage"),
]


@incident_app.command("open")
def incident_open(
    service: Annotated[str, typer.Option(help="Service id from the catalog")],
    name: Annotated[str, typer.Option(help="Incident title")],
    message: Annotated[str, typer.Option(help="First update shown on the page")],
    status: Annotated[
        str, typer.Option(help="investigating|identified|monitoring|resolved")
    ] = IncidentStatus.investigating.value,
    impact: Annotated[str, typer.Option(help="none|minor|major|critical")] = Impact.minor.value,
    component: ComponentOption = None,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Open an incident."""
    with domain_change(settings_for(db, catalog)) as conn:
        incident_id = lifecycle.open_incident(
            conn,
            service_id=service,
            name=name,
            message=message,
            status=status,
            impact=impact,
            components_status=_parse_components(component) or {},
            actor="cli",
            now=SystemClock().now(),
        )
    out.print(incident_id)


@incident_app.command("update")
def incident_update(
    incident_id: Annotated[str, typer.Argument(help="Incident id")],
    message: Annotated[str | None, typer.Option(help="Update text for the timeline")] = None,
    status: Annotated[str | None, typer.Option(help="New status")] = None,
    impact: Annotated[str | None, typer.Option(help="New impact")] = None,
    name: Annotated[str | None, typer.Option(help="New title")] = None,
    component: ComponentOption = None,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Post an update or change status, impact, title or affected components."""
    with domain_change(settings_for(db, catalog)) as conn:
        lifecycle.update_incident(
            conn,
            incident_id,
            actor="cli",
            now=SystemClock().now(),
            message=message,
            status=status,
            impact=impact,
            name=name,
            components_status=_parse_components(component),
        )
    out.print(f"{incident_id} updated")


@incident_app.command("resolve")
def incident_resolve(
    incident_id: Annotated[str, typer.Argument(help="Incident id")],
    message: Annotated[str | None, typer.Option(help="Closing update")] = None,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Resolve an incident (its components return to operational unless another incident holds them)."""
    with domain_change(settings_for(db, catalog)) as conn:
        lifecycle.resolve_incident(conn, incident_id, actor="cli", now=SystemClock().now(), message=message)
    out.print(f"{incident_id} resolved")


def _print_incidents(rows: list[Any], title: str) -> None:
    table = Table(title=title)
    for column in ("id", "service", "status", "impact", "name", "started"):
        table.add_column(column, no_wrap=column != "name")
    for row in rows:
        table.add_row(
            row.id,
            row.service_id,
            row.status,
            row.impact,
            row.name,
            row.started_at.isoformat(timespec="minutes"),
        )
    out.print(table)


@incident_app.command("list")
def incident_list(
    service: Annotated[str | None, typer.Option(help="Only this service")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved incidents")] = False,
    limit: Annotated[int, typer.Option(help="At most this many")] = 50,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """List open incidents (or all with --all), newest first."""
    with database(settings_for(db, catalog)) as engine, engine.connect() as conn:
        rows = load_incidents(conn, unresolved=not all_, service_id=service, limit=limit)
    _print_incidents(rows, "Incidents" if all_ else "Open incidents")


@maintenance_app.command("schedule")
def maintenance_schedule(
    service: Annotated[str, typer.Option(help="Service id from the catalog")],
    name: Annotated[str, typer.Option(help="Title")],
    message: Annotated[str, typer.Option(help="What will happen")],
    start: Annotated[str, typer.Option(help="ISO 8601 with offset")],
    end: Annotated[str, typer.Option(help="ISO 8601 with offset")],
    component: Annotated[
        list[str] | None, typer.Option("--component", "-c", help="Component slug, repeatable")
    ] = None,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Schedule maintenance; it starts and completes itself on time."""
    scheduled_for, scheduled_until = _parse_time("--start", start), _parse_time("--end", end)
    with domain_change(settings_for(db, catalog)) as conn:
        maintenance_id = lifecycle.schedule_maintenance(
            conn,
            service_id=service,
            name=name,
            message=message,
            scheduled_for=scheduled_for,
            scheduled_until=scheduled_until,
            component_slugs=component or [],
            actor="cli",
            now=SystemClock().now(),
        )
    out.print(maintenance_id)


@maintenance_app.command("list")
def maintenance_list(
    all_: Annotated[bool, typer.Option("--all", help="Include completed maintenance")] = False,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """List upcoming and active maintenance (or all with --all)."""
    with database(settings_for(db, catalog)) as engine, engine.connect() as conn:
        rows = load_incidents(conn, kind="maintenance", unresolved=not all_)
    _print_incidents(rows, "Maintenance")
