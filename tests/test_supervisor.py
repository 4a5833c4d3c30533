"""The supervisor on a real server and database: a loop that fails at start and one that fails later are
logged, restarted and shown degraded on /healthz and /metrics; shutdown still tears everything down; a
delivery in flight at shutdown is sent, or released back to the queue when it cannot finish in time."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from downradar.core.supervisor import Backoff, Supervisor, TaskLoop
from downradar.notify.worker import DeliveryWorker
from downradar.store.schema import messages
from downradar.web.app import create_app
from support.servers import FAST_DELIVERY, LiveServer, make_settings, start_server
from support.webhook_receiver import Receiver, wait_for

QUIET = {"detect": False, "deliver": False, "probes": False, "upstream": False}
FAST_RESTART = Backoff(base_seconds=0.01, cap_seconds=0.05)
AUTH = {"Authorization": "Bearer test-admin-token"}


class FailsAtStart:
    """Raises at once on its first run; runs quietly once restarted."""

    name = "fails-at-start"

    def __init__(self) -> None:
        self.runs = 0

    async def run(self) -> None:
        self.runs += 1
        if self.runs == 1:
            raise RuntimeError("could not start")
        await asyncio.Event().wait()


class FailsLater:
    """Works a few ticks, then raises; restarted, it works on. Its cancellation raises too, as a loop with
    a broken cleanup would: shutdown must still run the teardown."""

    name = "fails-later"

    def __init__(self) -> None:
        self.runs = 0
        self.ticks = 0

    async def run(self) -> None:
        self.runs += 1
        try:
            while True:
                await asyncio.sleep(0.01)
                self.ticks += 1
                if self.runs == 1 and self.ticks == 3:
                    raise ValueError("lost its way")
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None


def healthz(server: LiveServer) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/healthz", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def metric_lines(server: LiveServer) -> set[str]:
    return set(httpx.get(f"{server.base_url}/metrics", timeout=10).text.splitlines())


def test_failing_loops_are_restarted_shown_degraded_and_shutdown_still_tears_down(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="downradar.supervisor")
    settings = make_settings(db_url, **QUIET)
    at_start, later = FailsAtStart(), FailsLater()
    app = create_app(settings, loops=[at_start, later], restart_backoff=FAST_RESTART)
    server = start_server(settings, app=app)
    disposed: list[bool] = []
    try:
        rt = server.runtime
        event.listen(rt.engine, "engine_disposed", lambda _: disposed.append(True))
        wait_for(lambda: at_start.runs >= 2 and later.runs >= 2, what="both loops restarted")

        health = healthz(server)
        assert health["status"] == "degraded"
        assert set(health["degraded"]) == {"fails-at-start", "fails-later"}
        assert health["loops"]["fails-at-start"]["restarts"] >= 1
        assert health["loops"]["fails-at-start"]["error"] == "RuntimeError: could not start"
        assert health["loops"]["fails-later"]["error"] == "ValueError: lost its way"
        assert health["loops"]["writer"] == {"state": "running", "up": True, "restarts": 0, "error": None}
        assert {"maintenance", "probe-pruning"} <= set(health["loops"])

        lines = metric_lines(server)
        assert 'downradar_loop_up{loop="fails-at-start"} 0.0' in lines
        assert 'downradar_loop_up{loop="fails-later"} 0.0' in lines
        assert 'downradar_loop_up{loop="writer"} 1.0' in lines
        assert 'downradar_loop_restarts_total{loop="writer"} 0.0' in lines
        assert any(line.startswith('downradar_loop_restarts_total{loop="fails-later"} ') for line in lines)

        failures = {r.getMessage(): r for r in caplog.records if r.name == "downradar.supervisor"}
        for name in ("fails-at-start", "fails-later"):
            logged = failures[f"loop {name} failed; restarting it"]
            assert logged.exc_info is not None  # with its traceback

        # The server still serves and takes reports while degraded.
        posted = httpx.post(
            f"{server.base_url}/api/v1/reports", json={"service": "chatgpt", "client": "c1"}, timeout=10
        )
        assert posted.status_code == 202, posted.text
        writer = rt.writer
    finally:
        server.stop()
    assert not server._thread.is_alive()
    assert disposed == [True]
    assert not writer.running


def test_a_healthy_server_says_ok_and_lists_its_loops(db_url: str) -> None:
    settings = make_settings(db_url, **QUIET)
    server = start_server(settings)
    try:
        health = healthz(server)
        assert health["status"] == "ok" and health["degraded"] == []
        assert {name for name, loop in health["loops"].items() if loop["up"]} == {
            "writer",
            "maintenance",
            "probe-pruning",
        }
    finally:
        server.stop()


def test_restarts_back_off_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(base_seconds=1, cap_seconds=10)
    assert [backoff.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_loop_names_must_be_unique() -> None:
    async def idle() -> None:
        await asyncio.Event().wait()

    with pytest.raises(ValueError, match="unique"):
        Supervisor([TaskLoop("a", idle), TaskLoop("a", idle)])


# -- deliveries in flight at shutdown -----------------------------------------------------------------


def open_incident(server: LiveServer, receiver: Receiver) -> None:
    with server.client() as http:
        route = http.post(
            "/api/v1/alert-routes",
            headers=AUTH,
            json={"name": "ops", "url": receiver.url, "secret": "s" * 32},
        )
        assert route.status_code == 201, route.text
        opened = http.post(
            "/api/v1/incidents",
            headers=AUTH,
            json={"service": "chatgpt", "name": "Errors", "message": "Looking.", "impact": "major"},
        )
        assert opened.status_code == 201, opened.text


def message_rows(server: LiveServer) -> list[Any]:
    with server.runtime.engine.connect() as conn:
        return conn.execute(select(messages)).all()


def delivery_worker(server: LiveServer) -> DeliveryWorker:
    return next(loop for loop in server.runtime.supervisor.loops if isinstance(loop, DeliveryWorker))


def test_a_send_in_flight_at_shutdown_finishes_and_is_recorded_sent(db_url: str) -> None:
    settings = make_settings(db_url, **FAST_DELIVERY)
    with Receiver(delay=1.0) as receiver:
        server = start_server(settings)
        try:
            open_incident(server, receiver)
            wait_for(lambda: receiver.arrived >= 1, what="a send in flight")
        finally:
            server.stop()
        assert receiver.answered == 1
    assert [(row.status, row.claim) for row in message_rows_of(settings.db)] == [("sent", None)]


def test_a_send_that_cannot_finish_in_time_is_released_and_sent_by_the_next_server(db_url: str) -> None:
    settings = make_settings(db_url, **{**FAST_DELIVERY, "deliver_timeout_seconds": 30})
    with Receiver(delay=20.0) as slow:
        server = start_server(settings)
        try:
            open_incident(server, slow)
            wait_for(lambda: slow.arrived >= 1, what="a send in flight")
            delivery_worker(server).stop_timeout = 0.1  # shutdown will not wait for this send
        finally:
            server.stop()
        rows = message_rows_of(settings.db)
        assert [(row.status, row.claim, row.attempts) for row in rows] == [("pending", None, 0)]
        # Not lost: the next server sends it (to the same route, now answering at once).
        slow.delay = 0.0
        again = start_server(settings)
        try:
            wait_for(lambda: [row.status for row in message_rows(again)] == ["sent"], what="sent again")
        finally:
            again.stop()


def message_rows_of(url: str) -> list[Any]:
    from downradar.store import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(messages)).all()
    finally:
        engine.dispose()


def test_a_restarted_loop_counts_as_healthy_again_once_it_keeps_running() -> None:
    async def scenario() -> tuple[list[str], list[str], int]:
        loop = FailsAtStart()
        supervisor = Supervisor([loop], backoff=FAST_RESTART, healthy_after=0.05)
        supervisor.start()
        while loop.runs < 2:
            await asyncio.sleep(0.01)
        just_restarted = supervisor.degraded
        while supervisor.degraded:
            await asyncio.sleep(0.01)
        restarts = supervisor.states()[0].restarts
        await supervisor.stop()
        return just_restarted, supervisor.degraded, restarts

    just_restarted, after, restarts = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    assert just_restarted == ["fails-at-start"]
    assert after == [] and restarts == 1
