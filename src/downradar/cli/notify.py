"""`downradar route add|list|remove` and `downradar subscriber list|remove`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from downradar.cli.common import CatalogOption, DbOption, database, domain_change, fail, out, settings_for
from downradar.core.clock import SystemClock
from downradar.notify import routes, subscribers
from downradar.notify.targets import AllowList

route_app = typer.Typer(help="Alert routes: webhooks that receive incident events.", no_args_is_help=True)
subscriber_app = typer.Typer(help="Public subscribers (e-mail and webhooks).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(route_app, name="route")
    app.add_typer(subscriber_app, name="subscriber")


@route_app.command("add")
def route_add(
    name: Annotated[str, typer.Option(help="A name for the route")],
    url: Annotated[str, typer.Option(help="Webhook URL, or an Apprise URL with --channel apprise")],
    channel: Annotated[str, typer.Option(help="webhook (signed POSTs) or apprise")] = "webhook",
    secret: Annotated[
        str | None,
        typer.Option(help="Webhook signing secret, 16-200 characters (default: generated, shown once)"),
    ] = None,
    service: Annotated[
        list[str] | None, typer.Option("--service", help="Only this service's events, repeatable")
    ] = None,
    group_wait: Annotated[float | None, typer.Option(help="Seconds a first message waits")] = None,
    group_interval: Annotated[float | None, typer.Option(help="Seconds between messages")] = None,
    repeat: Annotated[float | None, typer.Option(help="Remind of open incidents every N s; 0: never")] = None,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Add an alert route; prints its id (and a generated webhook secret, this once)."""
    settings = settings_for(db, catalog)
    generated = secret is None and channel == "webhook"
    if generated:
        secret = routes.generate_secret()
    with domain_change(settings) as conn:
        route = routes.create_route(
            conn,
            name=name,
            url=url,
            secret=secret,
            channel=channel,
            services_=service or [],
            group_wait_seconds=group_wait,
            group_interval_seconds=group_interval,
            repeat_interval_seconds=repeat,
            allow=AllowList.parse(settings.allow_targets),
            actor="cli",
            now=SystemClock().now(),
        )
    out.print(route["id"])
    if generated:
        out.print(f"secret (shown only now): {secret}", highlight=False, soft_wrap=True)


@route_app.command("list")
def route_list(db: DbOption = None, catalog: CatalogOption = None) -> None:
    """List alert routes (never their secrets)."""
    with database(settings_for(db, catalog)) as engine, engine.connect() as conn:
        found = routes.list_routes(conn)
    table = Table(title="Alert routes")
    for column in ("id", "name", "channel", "url", "services", "enabled"):
        table.add_column(column, no_wrap=column in ("id", "channel", "enabled"))
    for route in found:
        services = ", ".join(route["services"]) or "all"
        enabled = "yes" if route["enabled"] else "no"
        table.add_row(route["id"], route["name"], route["channel"], route["url"], services, enabled)
    out.print(table)


@route_app.command("remove")
def route_remove(
    route_id: Annotated[str, typer.Argument(help="Alert route id")],
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Remove an alert route with its queued and sent messages."""
    with domain_change(settings_for(db, catalog)) as conn:
        routes.remove_route(conn, route_id, actor="cli", now=SystemClock().now())
    out.print(f"{route_id} removed")


@subscriber_app.command("list")
def subscriber_list(
    state: Annotated[str | None, typer.Option(help="Only pending, active or unsubscribed ones")] = None,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """List subscribers (never their tokens or secrets)."""
    if state is not None and state not in ("pending", "active", "unsubscribed"):
        fail(f"--state {state!r}: expected pending, active or unsubscribed")
    with database(settings_for(db, catalog)) as engine, engine.connect() as conn:
        found = subscribers.list_subscribers(conn, state=state)
    table = Table(title="Subscribers")
    for column in ("id", "channel", "address", "state", "components", "created"):
        table.add_column(column, no_wrap=column in ("id", "channel", "state"))
    for row in found:
        components = ", ".join(row["components"]) or "all"
        table.add_row(row["id"], row["channel"], row["address"], row["state"], components, row["created_at"])
    out.print(table)


@subscriber_app.command("remove")
def subscriber_remove(
    subscriber_id: Annotated[str, typer.Argument(help="Subscriber id")],
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Remove a subscriber with its queued and sent messages."""
    with domain_change(settings_for(db, catalog)) as conn:
        subscribers.remove_subscriber(conn, subscriber_id, actor="cli", now=SystemClock().now())
    out.print(f"{subscriber_id} removed")
