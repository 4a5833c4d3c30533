"""Building the application: the lifespan (migrate, sync the catalog, build the Runtime, supervise the
background loops, tear everything down), routers, middleware."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, func, select
from starlette.types import Receive, Scope, Send

from downradar import __version__
from downradar.core.catalog import Catalog, load_catalog
from downradar.core.clock import Clock, SystemClock
from downradar.core.config import Areas, Settings
from downradar.core.model import CLOSED_STATUSES
from downradar.core.supervisor import Backoff, Loop, Supervisor, TaskLoop
from downradar.detection.live import LiveDetection
from downradar.incidents import advance_maintenances
from downradar.intake.group_commit import GroupCommitWriter
from downradar.intake.ratelimit import ReportRateLimiter
from downradar.intake.report_store import ReportStore
from downradar.notify.worker import DeliveryWorker
from downradar.probes.local import LocalProbes
from downradar.probes.registry import sync_catalog_probes
from downradar.probes.results import prune_results
from downradar.store import changes, make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.store.changes import ChangeBus
from downradar.store.meta import get_or_create
from downradar.store.schema import incidents
from downradar.upstream.poller import UpstreamPoller
from downradar.web import admin, errors
from downradar.web.admin.session import SignedOut
from downradar.web.admin.throttle import FailedAttempts
from downradar.web.api import alert_routes, events, official, ops, probes, reports, statuspage
from downradar.web.api import incidents as incidents_api
from downradar.web.pages import embeds, feeds, service, subscribe
from downradar.web.pages import status as status_pages
from downradar.web.pages.signup_limits import SignupLimits
from downradar.web.runtime import Runtime
from downradar.web.serving.metrics import LatencyMiddleware, Metrics
from downradar.web.serving.page_cache import PageCache, PageCacheMiddleware
from downradar.web.serving.report_fast_path import ReportFastPath

log = logging.getLogger("downradar.web")
STATIC = Path(__file__).with_name("static")
MAINTENANCE_TICK_SECONDS = 20
PRUNE_EVERY_SECONDS = 3600


def open_incident_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(incidents.c.service_id, func.count())
            .where(incidents.c.kind == "incident", incidents.c.status.not_in(CLOSED_STATUSES))
            .group_by(incidents.c.service_id)
        ).all()
    return {service: int(n) for service, n in rows}


class Traffic(Protocol):
    """Something that feeds the running server (the demo's live traffic)."""

    async def run(self, rt: Runtime) -> None: ...


def create_app(
    settings: Settings | None = None,
    clock: Clock | None = None,
    traffic: Traffic | None = None,
    catalog: Catalog | None = None,
    *,
    loops: Sequence[Loop] = (),
    restart_backoff: Backoff | None = None,
) -> DownradarApp:
    """The application. `catalog` serves instead of the file settings.catalog names (the demo's);
    `loops` are supervised beside the server's own; `restart_backoff` paces a failed loop's restarts."""
    settings = settings or Settings()
    areas = settings.areas()  # a setting the server cannot run with fails here, naming its variable
    given_catalog = catalog
    clock = clock or SystemClock()
    # Made with the app, not in the lifespan: the page cache middleware and the RSGI front, in front of
    # the framework, hold them from the start. The lifespan attaches the bus to its engine.
    bus = ChangeBus()
    page_cache = PageCache(bus=bus)

    @asynccontextmanager
    async def lifespan(app: DownradarApp) -> AsyncIterator[None]:
        catalog = given_catalog or load_catalog(settings.catalog)
        engine = make_engine(settings.db)
        async with AsyncExitStack() as teardown:  # runs every step, in reverse, even after a failure
            teardown.callback(engine.dispose)
            upgrade(engine)
            bus.attach(engine)
            teardown.callback(bus.detach, engine)
            page_cache.clear()
            with engine.begin() as conn:
                sync_catalog(conn, catalog, clock.now())
                sync_catalog_probes(conn, catalog, clock.now())
                secret = settings.secret or get_or_create(conn, "client_secret")
                admin_token = settings.admin_token or get_or_create(conn, "admin_token")
            store = ReportStore(engine, dedup_window=areas.intake.dedup_window)
            writer = GroupCommitWriter(store, max_batch=areas.intake.max_batch)
            await writer.start()  # before the first request, not when the supervisor's task first runs
            teardown.push_async_callback(writer.stop)
            tuning = areas.detection
            detection = (
                LiveDetection(engine, catalog, clock, config=tuning.detector, policy=tuning.policy)
                if tuning.enabled
                else None
            )
            server_loops = _server_loops(areas, engine, catalog, clock, writer, detection)
            if traffic is not None:
                server_loops.append(TaskLoop("traffic", lambda: traffic.run(rt)))
            supervisor = Supervisor(
                [*server_loops, *loops],
                backoff=restart_backoff or Backoff(),
            )
            rt = Runtime(
                settings=settings,
                areas=areas,
                catalog=catalog,
                engine=engine,
                clock=clock,
                writer=writer,
                limiter=ReportRateLimiter(areas.intake.report_rate_limit),
                metrics=Metrics(
                    lambda: open_incident_counts(engine), page_cache=page_cache, loops=supervisor.states
                ),
                secret=secret,
                admin_token=admin_token,
                bus=bus,
                page_cache=page_cache,
                supervisor=supervisor,
                signed_out=SignedOut(),
                login_failures=FailedAttempts(),
                signup_limits=SignupLimits(settings.subscribe_rate_limit),
                component_slugs={s.id: frozenset(c.id for c in s.components) for s in catalog.services},
                detection=detection,
            )
            app.state.runtime = rt
            app.fast_path = ReportFastPath(rt)
            listener = changes.listen(settings.db, bus)  # other processes' changes (PostgreSQL only)
            if listener is not None:
                teardown.callback(listener.stop)
            supervisor.start()
            teardown.push_async_callback(supervisor.stop)  # first of the teardown: loops, then the rest
            log.info(
                "downradar %s serving %d services from %s",
                __version__,
                len(catalog.services),
                engine.url.render_as_string(),
            )
            try:
                yield
            finally:
                app.fast_path = None

    app = DownradarApp(
        title="Downradar",
        version=__version__,
        description="Crowdsourced outage detection with a Statuspage-compatible API.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(reports.router)
    app.include_router(incidents_api.router)
    app.include_router(alert_routes.router)
    app.include_router(probes.router)
    app.include_router(official.router)
    app.include_router(subscribe.router)
    app.include_router(events.router)
    app.include_router(statuspage.router)
    app.include_router(ops.router)
    app.include_router(feeds.router)
    app.include_router(admin.router)
    app.include_router(embeds.router)
    app.include_router(service.router)  # before pages: it serves /services/{id}
    app.include_router(status_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        LatencyMiddleware, metrics=lambda: getattr(app.state, "runtime", None) and app.state.runtime.metrics
    )
    app.state.page_cache = page_cache  # for the RSGI front (cli/serve.py), made before the lifespan runs
    # In front of the framework, like the report fast path: a hit costs no middleware or routing.
    app.page_cache = PageCacheMiddleware(partial(FastAPI.__call__, app), page_cache)
    return app


class DownradarApp(FastAPI):
    """FastAPI, with POST /api/v1/reports handed to ReportFastPath before the framework's layers."""

    fast_path: ReportFastPath | None = None  # set while the server runs
    page_cache: PageCacheMiddleware | None = None  # serves cached pages, hands the rest to FastAPI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast_path = self.fast_path
        if fast_path is not None and fast_path.handles(scope):
            await fast_path(scope, receive, send)
        elif self.page_cache is not None:
            await self.page_cache(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _server_loops(
    areas: Areas,
    engine: Engine,
    catalog: Catalog,
    clock: Clock,
    writer: GroupCommitWriter,
    detection: LiveDetection | None,
) -> list[Loop]:
    """The background loops the settings ask for; the writer first, so that it stops last."""
    loops: list[Loop] = [
        TaskLoop("writer", writer.run, stop=writer.request_stop),
        TaskLoop("maintenance", partial(_advance_maintenance_forever, engine, clock)),
        TaskLoop(
            "probe-pruning", partial(_prune_probe_results_forever, engine, clock, areas.probes.keep_days)
        ),
    ]
    if detection is not None:
        loops.append(TaskLoop("detection", detection.run_forever))
    if areas.notify.deliver:
        loops.append(DeliveryWorker(engine, areas.notify, page_url=catalog.page.url, clock=clock))
    if areas.probes.enabled:
        local = LocalProbes(engine, clock, areas.probes)
        loops.append(TaskLoop("probes", local.run))
    watched = [(s.id, s.upstream) for s in catalog.services if s.upstream is not None]
    if areas.upstream.enabled and watched:
        # A fresh poller per run: a failed one closed its HTTP client on the way out.
        loops.append(TaskLoop("upstream", lambda: UpstreamPoller(engine, watched, clock=clock).run()))
    return loops


async def _advance_maintenance_forever(engine: Engine, clock: Clock) -> None:
    """Start and complete auto-transitioning maintenance windows on time. A failed tick raises: the
    supervisor logs it, shows the loop degraded and restarts it after its backoff."""
    while True:
        await asyncio.to_thread(_advance_once, engine, clock)
        await clock.sleep(MAINTENANCE_TICK_SECONDS)


async def _prune_probe_results_forever(engine: Engine, clock: Clock, keep_days: float) -> None:
    """Delete probe results older than the retention, hourly (from every location, agents' too); a
    failure raises to the supervisor, like the maintenance loop's."""
    while True:
        removed = await asyncio.to_thread(_prune_once, engine, clock.now() - timedelta(days=keep_days))
        if removed:
            log.info("deleted %d probe results older than %g days", removed, keep_days)
        await clock.sleep(PRUNE_EVERY_SECONDS)


def _prune_once(engine: Engine, before: datetime) -> int:
    with engine.begin() as conn:
        return prune_results(conn, before)


def _advance_once(engine: Engine, clock: Clock) -> None:
    with engine.begin() as conn:
        advance_maintenances(conn, clock.now())
