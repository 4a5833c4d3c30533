"""The test support itself: a recycled PostgreSQL copy is as good as a new one, and the app in-process
behaves as under Uvicorn where the tests rely on it (background loops, caller address, trusted proxy)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from downradar.store import make_engine
from downradar.store.migrate import current_revision
from downradar.store.schema import reports
from support.databases import Databases
from support.inprocess import InProcessServer, start_in_process
from support.servers import make_settings


@pytest.fixture
def app(db_url: str) -> Iterator[InProcessServer]:
    running = start_in_process(make_settings(db_url, report_rate_limit="2/minute"))
    try:
        yield running
    finally:
        running.stop()


def test_the_app_in_process_runs_its_background_loops(app: InProcessServer) -> None:
    health = app.get("/healthz")
    assert health.status_code == 200, health.text
    loops = health.json()["loops"]
    assert loops["writer"]["up"] and loops["maintenance"]["up"]


def test_the_app_in_process_sees_the_callers_address_and_believes_the_local_proxy(
    app: InProcessServer,
) -> None:
    def report(client: str, **kwargs: object) -> int:
        with app.client(**kwargs) as http:  # type: ignore[arg-type]
            return http.post("/api/v1/reports", json={"service": "chatgpt", "client": client}).status_code

    assert [report("a"), report("b"), report("c")] == [202, 202, 429]  # 2/minute from 127.0.0.1
    assert report("d", address="127.0.0.2") == 202  # another caller has its own allowance
    assert report("e", headers={"X-Forwarded-For": "203.0.113.7"}) == 202  # as the proxy on 127.0.0.1 says


def test_a_recycled_postgresql_copy_is_empty_and_at_the_head_revision(
    databases: Databases, tmp_path: Path
) -> None:
    used: list[str] = []
    for url in databases.fresh("postgresql", tmp_path):
        engine = make_engine(url)
        head = current_revision(engine)
        engine.dispose()
        app = start_in_process(make_settings(url))
        try:
            assert app.post("/api/v1/reports", json={"service": "chatgpt"}).status_code == 202
        finally:
            app.stop()
        used.append(url)
    databases.settle()
    for url in databases.fresh("postgresql", tmp_path):
        assert url in used  # the same database, handed out again
        engine = make_engine(url)
        try:
            assert current_revision(engine) == head
            with engine.connect() as conn:
                assert conn.scalar(select(func.count()).select_from(reports)) == 0
        finally:
            engine.dispose()
