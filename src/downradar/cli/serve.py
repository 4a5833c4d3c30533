"""`downradar run`, `demo` and `worker`: serving the app in this process (granian over RSGI by default, or
uvicorn), and delivering notifications alone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

import typer

from downradar.cli.common import CatalogOption, DbOption, database, err, fail, settings_for
from downradar.core.catalog import CatalogError, load_catalog
from downradar.core.clock import Clock, SystemClock
from downradar.core.config import Settings
from downradar.store.meta import get_or_create
from downradar.web.app import DownradarApp, Traffic


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(demo)
    app.command()(worker)


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
    traffic: Traffic | None = None,
    build: Callable[[], DownradarApp] | None = None,
    server: str = "granian",
) -> None:
    """Serve until stopped; `build` makes the app (the demo's), else the ordinary one."""
    from downradar.core.logs import configure
    from downradar.web.app import create_app

    if server not in SERVERS:
        fail(f"--server {server!r}: choose one of {', '.join(SERVERS)}")
    web = settings.areas().web
    configure(web.log_format)
    with database(settings) as engine, engine.begin() as conn:
        token = settings.admin_token or get_or_create(conn, "admin_token")
    err.print(f"Downradar on [bold]http://{web.host}:{web.port}[/bold]  (database: {settings.db})")
    if settings.admin_token is None:
        err.print(f"Admin token (set DOWNRADAR_ADMIN_TOKEN to choose your own): {token}", soft_wrap=True)
    app = build() if build is not None else create_app(settings, clock=clock, traffic=traffic)
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(app, host=web.host, port=web.port, log_config=None, access_log=False)
        return
    _serve_granian(app, web.host, web.port)


def _serve_granian(app: DownradarApp, host: str, port: int) -> None:
    """Granian embedded in this process over RSGI (web/rsgi.py), on uvloop, stopped by INT or TERM.

    Embedded, the app object is served as it is (no import string, no fork): the demo's app, its
    traffic and mailbox thread stay in one process, as under uvicorn. RSGI has no lifespan protocol, so
    the app's lifespan is entered here, around serving.
    """
    import asyncio
    import signal

    import uvloop

    from downradar.web.serving.rsgi import RSGIFront

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
        log_enabled=False,  # ours (downradar.core.logs) are configured already
        backlog=2048,
    )


def run(
    host: Annotated[str | None, typer.Option(help="Address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind")] = None,
    db: DbOption = None,
    catalog: CatalogOption = None,
    server: ServerOption = "granian",
) -> None:
    """Serve the status page, the APIs and report intake (upgrades the database first)."""
    _serve(settings_for(db, catalog, host=host, port=port), server=server)


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
    from downradar.demo.launch import fresh_database, prepare_demo

    if speed <= 0 or lead_in < 0:
        fail("--speed must be positive and --lead-in at least 0")
    # Pages reload every 5 s: the honesty gap lasts a few demo minutes, only seconds of real time.
    settings = settings_for(db or fresh_database(), None, host=host, port=port, page_refresh_seconds=5)
    try:
        launch = prepare_demo(
            settings,
            speed=speed,
            lead_in=timedelta(minutes=lead_in),
            say=lambda text: err.print(text, highlight=False, markup=False, soft_wrap=True),
            busy=err.status,
        )
    except CatalogError as exc:
        fail(str(exc))
    try:
        _serve(launch.settings, build=launch.build)
    finally:
        launch.close()


def worker(db: DbOption = None, catalog: CatalogOption = None) -> None:
    """Deliver notifications until stopped (the server does this itself unless DOWNRADAR_DELIVER=false)."""
    import signal

    from downradar.core.logs import configure
    from downradar.notify.worker import DeliveryWorker

    settings = settings_for(db, catalog)
    configure(settings.areas().web.log_format)
    with database(settings) as engine:
        page_url = load_catalog(settings.catalog).page.url
        delivery = DeliveryWorker(engine, settings.areas().notify, page_url=page_url, clock=SystemClock())
        signal.signal(signal.SIGTERM, lambda *_: delivery.stop())
        err.print(f"Delivering notifications from {settings.db}", highlight=False)
        try:
            delivery.run_forever()
        except KeyboardInterrupt:
            pass
        finally:
            delivery.close()
