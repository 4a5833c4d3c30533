"""Servers for tests: the app under a real Uvicorn server in a thread, its settings, the demo server.

A real server is for tests where the socket is the point (agents and browsers talking to it, the demo);
the rest use the app in-process (`support.inprocess`), which answers the same requests without a port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from downradar.core.config import Settings
from downradar.web.app import create_app
from support.databases import Databases
from support.inprocess import InProcessServer, start_in_process

ADMIN_TOKEN = "test-admin-token"


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

    def client(self, *, address: str | None = None, **kwargs: Any) -> httpx.Client:
        """A client of its own (its own cookies); from `address` (127.0.0.n) if given."""
        if address is not None:
            kwargs["transport"] = httpx.HTTPTransport(local_address=address)
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request from a fresh client (no cookies), as `httpx.request` would send it."""
        with self.client() as http:
            return http.request(method, path, **kwargs)

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


def module_server(
    request: pytest.FixtureRequest, folder: Path, databases: Databases, **settings: Any
) -> Iterator[InProcessServer]:
    """For a module-scoped fixture parametrised by backend: the app in-process on a fresh database."""
    for url in databases.fresh(request.param, folder):
        server = start_in_process(make_settings(url, **settings))
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
