"""Shared fixtures: a database per test (SQLite always, PostgreSQL when reachable) and the app in-process.

The helpers behind them live in tests/support/ (databases, servers, waiting, the fake upstreams, probe
targets, agents and webhook receivers); test modules import from there, never from each other.

Every test is marked with what it needs (markers registered in pyproject.toml):
- unit: no app running: pure code, or store/domain functions on a database, probes against local fakes;
- api: the app in-process (lifespan, background loops, a database), requests through httpx, no port;
- system: real processes: a server on a port (agents, the demo, the RSGI front), kill -9, browsers.
`pytest -m "not system"` is the quick loop. The kind is per module, below; a module not listed is `api`
when its tests take a database or the app from these fixtures, else `unit`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.databases import Databases, reachable_pg_admin_url
from support.inprocess import InProcessServer, start_in_process
from support.servers import make_settings

SYSTEM_MODULES = {
    "test_agent",  # agents post to a server over HTTP
    "test_demo",  # the demo as `make run` serves it
    "test_demo_signals",
    "test_durability",  # kill -9 of `downradar run`
    "test_notify_kill",  # kill -9 of `downradar worker`
    "test_rsgi_front",  # the RSGI front in its own process
    "test_signals_live",  # agents and a fake upstream against a real server
    "test_supervisor",  # a real server's start-up and shutdown with failing loops
}
API_MODULES = {
    "test_page_cache",  # its apps are built in the module, on databases of its own
}
UNIT_MODULES = {
    "test_catalog",
    "test_cli",
    "test_comments",
    "test_detect_scenarios",
    "test_detect_units",
    "test_fusion",
    "test_nab_scoring",
    "test_probe_checks",
    "test_probe_scheduler",
    "test_ratelimit",
    "test_replay",
    "test_report_writer",
    "test_store",
    "test_univariate",
    "test_upstream",
}
APP_FIXTURES = {"db_url", "empty_db_url", "databases", "server", "client"}


def kind_of(item: pytest.Item) -> str:
    path = item.path
    if "browser" in path.parent.name:
        return "system"
    if path.stem in SYSTEM_MODULES:
        return "system"
    if path.stem in API_MODULES:
        return "api"
    if path.stem in UNIT_MODULES:
        return "unit"
    return "api" if APP_FIXTURES & set(getattr(item, "fixturenames", ())) else "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(kind_of(item))


@pytest.fixture(scope="session")
def pg_admin_url() -> str | None:
    return reachable_pg_admin_url()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str | None) -> Iterator[Databases]:
    """This process's database factory: migrated templates built once, copied per test or module."""
    factory = Databases(tmp_path_factory.mktemp("templates"), pg_admin_url)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, databases: Databases) -> Iterator[str]:
    """A fresh database at the head revision for one test, on each backend."""
    yield from databases.fresh(request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path, databases: Databases) -> Iterator[str]:
    """A fresh database with no tables at all, on each backend: for the migrations' own tests."""
    yield from databases.fresh(request.param, tmp_path, migrated=False)


@pytest.fixture
def server(db_url: str) -> Iterator[InProcessServer]:
    """The app with its lifespan running, in-process (no port), on a fresh database."""
    app = start_in_process(make_settings(db_url))
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def client(server: InProcessServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http
