"""The command line: the only entry point for humans (run, demo, db, incident, maintenance, route, subscriber,
worker; agent, location and probe come from cli_probes)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy import Connection

from downradar import incidents as lifecycle
from downradar.catalog import CatalogError, load_catalog
from downradar.cli_common import CatalogOption, DbOption, change, database, err, fail, out, settings_for
from downradar.clock import Clock, SystemClock
from downradar.config import Settings
from downradar.incidents import IncidentError, NotFound
from downradar.incidents.queries import load_incidents
from downradar.notify import routes, subscribers
from downradar.notify.targets import AllowList
from downradar.store import make_engine, upgrade
from downradar.store.meta import get_or_create
from downradar.store.migrate import current_revision
from downradar.web.app import DownradarApp, Feed

app = typer.Typer(
    help="Downradar: crowdsourced outage detection and a Statuspage-compatible status page.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
incident_app = typer.Typer(help="Open, update, resolve and list incidents.", no_args_is_help=True)
maintenance_app = typer.Typer(help="Schedule and list maintenance.", no_args_is_help=True)
route_app = typer.Typer(help="Alert routes: webhooks that receive incident events.", no_args_is_help=True)
subscriber_app = typer.Typer(help="Public subscribers (e-mail and webhooks).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(incident_app, name="incident")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(route_app, name="route")
app.add_typer(subscriber_app, name="subscriber")


@contextmanager
def _change(settings: Settings) -> Iterator[Connection]:
    """A transaction for an incident change; bad input becomes a one-line error and exit code 2."""
    with change(settings, (IncidentError, NotFound, routes.RouteError)) as conn:
        yield conn


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


# -- serving -------------------------------------------------------------------------------------------


SERVERS = ("granian", "uvicorn")
ServerOption = Annotated[
    str,
    typer.Option(
        "--server",
        help="ASGI server: granian (the default: its HTTP runs in Rust threads beside Python) or uvicorn",
    ),
]


def _serve(
    settings: Settings,
    *,
    clock: Clock | None = None,
    feed: Feed | None = None,
    build: Callable[[], DownradarApp] | None = None,
    server: str = "granian",
) -> None:
    """Serve until stopped; `build` makes the app (the demo's), else the ordinary one."""
    from downradar.logs import configure
    from downradar.web import create_app

    if server not in SERVERS:
        fail(f"--server {server!r}: choose one of {', '.join(SERVERS)}")
    configure(settings.log_format)
    with database(settings) as engine, engine.begin() as conn:
        token = settings.admin_token or get_or_create(conn, "admin_token")
    err.print(f"Downradar on [bold]http://{settings.host}:{settings.port}[/bold]  (database: {settings.db})")
    if settings.admin_token is None:
        err.print(f"Admin token (set DOWNRADAR_ADMIN_TOKEN to choose your own): {token}", soft_wrap=True)
    app = build() if build is not None else create_app(settings, clock=clock, feed=feed)
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
        return
    _serve_granian(app, settings.host, settings.port)


def _serve_granian(app: DownradarApp, host: str, port: int) -> None:
    """Granian embedded in this process over RSGI (web/rsgi.py), on uvloop, stopped by INT or TERM.

    Embedded, the app object is served as it is (no import string, no fork): the demo's app, its
    feed and mailbox thread stay in one process, as under uvicorn. RSGI has no lifespan protocol, so
    the app's lifespan is entered here, around serving.
    """
    import asyncio
    import signal

    import uvloop

    from downradar.web.rsgi import RSGIFront

    front = RSGIFront(app, app.state.page_cache)
    granian = granian_server(front, host, port, rsgi=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, granian.stop)
        async with app.router.lifespan_context(app):
            await granian.serve()

    uvloop.run(main())


def granian_server(target: Any, host: str, port: int, *, rsgi: bool) -> Any:
    """An embedded granian server with the options `downradar run` uses (bench/bare_app.py too)."""
    import os

    from granian.constants import HTTPModes, Interfaces
    from granian.server.embed import Server

    return Server(
        target,
        address=host,
        port=port,
        interface=Interfaces.RSGI if rsgi else Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        # Rust threads parse HTTP and copy bodies beside the Python thread: two serve cached pages at
        # about 1.15× one's rate (bench/read_storm.py); more than the cores only contend.
        runtime_threads=min(2, os.cpu_count() or 1),
        log_enabled=False,  # ours (downradar.logs) are configured already
        backlog=2048,
    )


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind")] = None,
    db: DbOption = None,
    catalog: CatalogOption = None,
    server: ServerOption = "granian",
) -> None:
    """Serve the status page, the APIs and report intake (upgrades the database first)."""
    _serve(settings_for(db, catalog, host=host, port=port), server=server)


DEMO_DB = Path("data/demo.db")


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind")] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Keep the demo here instead of a fresh data/demo.db")
    ] = None,
    speed: Annotated[float, typer.Option(help="Demo minutes per real minute")] = 60.0,
    lead_in: Annotated[int, typer.Option(help="Quiet demo minutes before the outage starts")] = 90,
) -> None:
    """Serve the demo catalog on an accelerated clock: a fortnight of history, live traffic, and after a
    short lead-in the 4 February 2026 ChatGPT outage, detected live, with ChatGPT's status page and front
    door played by the demo itself (what `make run` starts)."""
    from downradar.demo import seed_demo
    from downradar.demo_feed import DemoClock, DemoFeed, demo_start, load_episode
    from downradar.demo_provider import demo_app, provider_url, watched_catalog

    if speed <= 0 or lead_in < 0:
        fail("--speed must be positive and --lead-in at least 0")
    if db is None:
        for suffix in ("", "-wal", "-shm"):  # a fresh demo each time: its clock runs ahead of the real one
            DEMO_DB.with_name(DEMO_DB.name + suffix).unlink(missing_ok=True)
        db = f"sqlite:///{DEMO_DB}"
    # Pages reload every 5 s: the honesty gap lasts a few demo minutes, only seconds of real time.
    settings = settings_for(db, None, host=host, port=port, page_refresh_seconds=5)
    try:
        # The demo's catalog has ChatGPT watch the scripted provider (its page and its front door).
        catalog = watched_catalog(load_catalog(settings.catalog), provider_url(settings))
    except CatalogError as exc:
        fail(str(exc))
    mailbox = None
    if not settings.smtp_host:
        from downradar.demo_mailbox import DemoMailbox

        mailbox = DemoMailbox(lambda text: err.print(text, highlight=False, markup=False, soft_wrap=True))
        mailbox.start()
        settings = settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": mailbox.port, "smtp_security": "none"}
        )
        err.print("Demo mailbox: e-mails (try /subscribe) are printed here instead of sent.")
    start = demo_start()
    with database(settings) as engine, err.status("Writing a fortnight of demo reports…"):
        written = seed_demo(engine, catalog, start)
    if written:
        err.print(f"Demo data: {written:,} reports over the last 14 days.")
    err.print(
        f"Demo clock: {speed:g}× real time. The 4 Feb 2026 ChatGPT outage begins in about "
        f"{lead_in / speed * 60:.0f} s: open /services/chatgpt and watch the detector find it."
    )
    if catalog.service("chatgpt") is not None:
        acknowledged = load_episode()["provider_acknowledged_after_minutes"]
        err.print(
            f"ChatGPT's status page and front door are played by the demo (demo data): as on 4 Feb 2026, "
            f"the page acknowledges the outage {acknowledged} demo minutes after it starts. Until then "
            "/services/chatgpt shows the honesty gap, afterwards the provider's delay and grade; the "
            "front-door probe fails during the worst of it."
        )
    feed = DemoFeed(catalog, timedelta(minutes=lead_in))
    try:
        _serve(settings, build=lambda: demo_app(settings, DemoClock(start, speed), feed, catalog))
    finally:
        if mailbox is not None:
            mailbox.stop()


# -- database ------------------------------------------------------------------------------------------


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


# -- incidents -----------------------------------------------------------------------------------------

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
    ] = "investigating",
    impact: Annotated[str, typer.Option(help="none|minor|major|critical")] = "minor",
    component: ComponentOption = None,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Open an incident."""
    with _change(settings_for(db, catalog)) as conn:
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
    with _change(settings_for(db, catalog)) as conn:
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
    with _change(settings_for(db, catalog)) as conn:
        lifecycle.resolve_incident(conn, incident_id, actor="cli", now=SystemClock().now(), message=message)
    out.print(f"{incident_id} resolved")


def _print_incidents(rows: list, title: str) -> None:
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


# -- maintenance ---------------------------------------------------------------------------------------


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
    with _change(settings_for(db, catalog)) as conn:
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


# -- alert routes and their delivery --------------------------------------------------------------------


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
    with _change(settings) as conn:
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
    with _change(settings_for(db, catalog)) as conn:
        routes.remove_route(conn, route_id, actor="cli", now=SystemClock().now())
    out.print(f"{route_id} removed")


# -- public subscribers -----------------------------------------------------------------------------------


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
    with _change(settings_for(db, catalog)) as conn:
        subscribers.remove_subscriber(conn, subscriber_id, actor="cli", now=SystemClock().now())
    out.print(f"{subscriber_id} removed")


@app.command()
def worker(db: DbOption = None, catalog: CatalogOption = None) -> None:
    """Deliver notifications until stopped (the server does this itself unless DOWNRADAR_DELIVER=false)."""
    import signal

    from downradar.logs import configure
    from downradar.notify.worker import DeliveryWorker

    settings = settings_for(db, catalog)
    configure(settings.log_format)
    with database(settings) as engine:
        page_url = load_catalog(settings.catalog).page.url
        delivery = DeliveryWorker(engine, settings, page_url=page_url, clock=SystemClock())
        signal.signal(signal.SIGTERM, lambda *_: delivery.stop())
        err.print(f"Delivering notifications from {settings.db}", highlight=False)
        try:
            delivery.run_forever()
        except KeyboardInterrupt:
            pass
        finally:
            delivery.close()


@app.command()
def token(db: DbOption = None) -> None:
    """Print the admin token the server uses (DOWNRADAR_ADMIN_TOKEN, or the one generated and stored)."""
    settings = settings_for(db)
    if settings.admin_token:
        out.print(settings.admin_token)
        return
    with database(settings) as engine, engine.begin() as conn:
        out.print(get_or_create(conn, "admin_token"))


def main() -> None:  # pragma: no cover - console script shim for `python -m downradar`
    app(prog_name="downradar")
    sys.exit(0)


# -- detection tools -----------------------------------------------------------------------------------


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
    )


@app.command()
def replay(
    reports: Annotated[Path, typer.Argument(help="NDJSON report stream in time order (DESIGN 3.1)")],
    events_out: Annotated[Path | None, typer.Option(help="Write incident events here (NDJSON)")] = None,
    catalog: CatalogOption = None,
) -> None:
    """Replay a report stream in event time through the detector and the incident code (no server)."""
    from downradar.replay import replay_file

    if not reports.is_file():
        fail(f"{reports}: no such file")
    try:
        known = load_catalog(catalog) if catalog is not None else None
    except CatalogError as exc:
        fail(str(exc))
    with reports.open("rb") as stream, _progress() as progress:
        task = progress.add_task("Replaying", total=reports.stat().st_size)
        events_file = events_out.open("wb") if events_out is not None else None
        try:
            stats = replay_file(
                stream, catalog=known, events_out=events_file, progress=lambda n: progress.advance(task, n)
            )
        finally:
            if events_file is not None:
                events_file.close()
    for error in stats.errors:
        err.print(f"[yellow]skipped[/yellow] {error}", highlight=False)
    rate = stats.reports / stats.seconds if stats.seconds else 0.0
    summary = (
        f"{stats.reports:,} reports ({stats.counted:,} counted, {stats.duplicates:,} duplicates, "
        f"{stats.rejected:,} rejected) over {stats.minutes:,} minutes in {stats.seconds:.1f} s "
        f"({rate:,.0f} reports/s); {stats.incidents_opened} incidents opened, {len(stats.events)} events"
    )
    err.print(summary, highlight=False)
    for event in stats.events:
        if event["type"] == "incident.opened":
            out.print(f"{event['ts']}  opened  {event['service']}  {', '.join(event['components'])}")


@app.command()
def scenario(
    path: Annotated[
        Path, typer.Argument(help="Scenario TOML (e.g. ../shared/scenarios/chatgpt-2026-02.toml)")
    ],
    out_path: Annotated[Path, typer.Option("--out", help="Write the report stream here (NDJSON)")],
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    history_days: Annotated[int, typer.Option(help="Days of ordinary traffic before the episodes")] = 14,
) -> None:
    """Turn a scenario file into a seeded report stream: a fortnight of ordinary traffic, then episodes."""
    import orjson

    from downradar.scenario import report_stream, scenario_from_toml

    try:
        spec = scenario_from_toml(path.read_text(encoding="utf-8"), history_days=history_days, seed=seed)
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except (KeyError, ValueError, TypeError) as exc:
        fail(f"{path}: not a usable scenario: {exc}")
    written = 0
    with out_path.open("wb") as out_file, _progress() as progress:
        task = progress.add_task("Writing reports", total=None)
        for report in report_stream(spec):
            line = orjson.dumps(report) + b"\n"
            out_file.write(line)
            written += 1
            if written % 10_000 == 0:
                progress.update(task, completed=out_file.tell())
    err.print(f"{written:,} reports written to {out_path}", highlight=False)
    for episode in spec.episodes:
        onset = episode.onset_minute * 60
        acknowledged = min((o.at for o in episode.official), default=None)
        err.print(
            f"episode {episode.id or '?'}: onset {datetime.fromtimestamp(onset, tz=UTC).isoformat()}"
            + (f", provider's first acknowledgement {acknowledged.isoformat()}" if acknowledged else ""),
            highlight=False,
        )


@app.command("score-series")
def score_series(
    data: Annotated[Path, typer.Argument(help="CSV with a header and timestamp,value rows")],
    out_path: Annotated[Path, typer.Option("--out", help="Write timestamp,value,anomaly_score here")],
) -> None:
    """Score one generic time series, streaming and without look-ahead (scores in [0, 1])."""
    from downradar.detect.series_csv import read_series_csv, write_scores_csv
    from downradar.detect.univariate import UnivariateScorer

    try:
        rows = read_series_csv(data)
    except FileNotFoundError:
        fail(f"{data}: no such file")
    except ValueError as exc:
        fail(f"{data}: {exc}")
    scorer = UnivariateScorer()
    scores = [scorer.update(moment, value) for moment, value in rows]
    write_scores_csv(out_path, rows, scores)
    err.print(f"{len(scores):,} rows scored into {out_path}", highlight=False)


def _register_probe_commands() -> None:
    from downradar import cli_probes

    cli_probes.register(app)


_register_probe_commands()
