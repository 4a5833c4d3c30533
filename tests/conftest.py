"""Shared fixtures: a database per test (SQLite always, PostgreSQL when reachable) and a real server.

The helpers behind them live in tests/support/ (databases, servers, waiting, the fake upstreams, probe
targets, agents and webhook receivers); test modules import from there, never from each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.databases import Databases, reachable_pg_admin_url
from support.servers import LiveServer, make_settings, start_server


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
