"""Shared fixtures: a database per test (SQLite always, PostgreSQL when reachable) and a real server.

PostgreSQL: DOWNRADAR_TEST_PG (a URL to a server where we may create databases) or, failing that,
postgresql://postgres@127.0.0.1:5432/test. When neither answers, PostgreSQL cases skip with one line.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from downradar.core.catalog import Catalog
from downradar.core.config import Settings
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.web.app import create_app

ADMIN_TOKEN = "test-admin-token"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _pg_admin_url() -> str | None:
    url = os.environ.get("DOWNRADAR_TEST_PG") or DEFAULT_PG
    url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 2}, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return None
    return url


@pytest.fixture(scope="session")
def pg_admin_url() -> str | None:
    return _pg_admin_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_admin_url: str | None) -> Iterator[str]:
    """A fresh, empty database for one test, on each backend."""
    yield from scratch_database(request.param, tmp_path, pg_admin_url)


def scratch_database(kind: str, folder: Path, pg_admin_url: str | None) -> Iterator[str]:
    """A fresh, empty database of the given kind; PostgreSQL ones are dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'downradar.db'}"
        return
    if pg_admin_url is None:
        pytest.skip("PostgreSQL not reachable (set DOWNRADAR_TEST_PG or run one on 127.0.0.1:5432)")
    name = f"downradar_test_{secrets.token_hex(4)}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def catalog_engine(db_url: str, catalog: Catalog, synced_at: datetime) -> Iterator[Engine]:
    """An engine on an upgraded database holding `catalog` (as synced at `synced_at`); for fixtures."""
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        sync_catalog(conn, catalog, synced_at)
    try:
        yield engine
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    """A real Uvicorn server on 127.0.0.1 running the app in a thread."""

    base_url: str
    settings: Settings
    app: Any
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def start_server(
    settings: Settings, clock: Any = None, *, app: Any = None, port: int | None = None
) -> LiveServer:
    """A real server in a thread: `app` if given (else the ordinary one), on `port` if given."""
    app = app if app is not None else create_app(settings, clock=clock)
    port = port if port is not None else free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", settings, app, server, thread)


# Notification tests: deliver to 127.0.0.1 at once, retry within a fraction of a second, no detector.
FAST_DELIVERY: dict[str, Any] = {
    "allow_targets": "127.0.0.1",
    "detect": False,
    "deliver_backoff_base_seconds": 0.05,
    "deliver_backoff_cap_seconds": 0.2,
    "deliver_poll_seconds": 0.05,
    "deliver_timeout_seconds": 5,
    "group_wait_seconds": 0,
    "group_interval_seconds": 0,
}


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "db": db_url,
        "admin_token": ADMIN_TOKEN,
        "secret": "test-secret",
        "report_rate_limit": "1000/second",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def server(db_url: str) -> Iterator[LiveServer]:
    live = start_server(make_settings(db_url))
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


def module_server(
    request: pytest.FixtureRequest, folder: Path, pg_admin_url: str | None, **settings: Any
) -> Iterator[LiveServer]:
    """For a module-scoped fixture parametrised by backend: one server on a fresh database."""
    for url in scratch_database(request.param, folder, pg_admin_url):
        server = start_server(make_settings(url, **settings))
        try:
            yield server
        finally:
            server.stop()


def start_demo_server(folder: Path, lead_in: timedelta, speed: float = 60.0) -> tuple[LiveServer, Any]:
    """The demo as `make run` serves it (the seed outage replayed, the provider's page scripted), but
    faster: `lead_in` of quiet demo time and two days of history keep the detector's start-up short.
    Returns the server and its DemoTraffic."""
    from downradar.core.catalog import load_catalog
    from downradar.core.config import DEMO_CATALOG
    from downradar.demo.provider import demo_app, provider_url, watched_catalog
    from downradar.demo.seed import seed_demo
    from downradar.demo.traffic import DemoClock, DemoTraffic, demo_start
    from downradar.store import make_engine, upgrade
    from downradar.store.catalog_sync import sync_catalog

    port = free_port()
    settings = make_settings(f"sqlite:///{folder / 'demo.db'}", port=port, page_refresh_seconds=10)
    catalog = watched_catalog(load_catalog(DEMO_CATALOG), provider_url(settings))
    start = demo_start()
    engine = make_engine(settings.db)
    upgrade(engine)
    with engine.begin() as conn:
        sync_catalog(conn, catalog, start)
    seed_demo(engine, catalog, start, days=2)
    engine.dispose()
    feed = DemoTraffic(catalog, lead_in)
    app = demo_app(settings, DemoClock(start, speed), feed, catalog)
    return start_server(settings, app=app, port=port), feed


T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T | None], seconds: float) -> T:
    """Poll until `probe` gives something truthy and return it; fail naming what never came."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"within {seconds:g} s: {what}")
