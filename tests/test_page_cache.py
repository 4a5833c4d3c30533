"""The page cache, app in-process: hits, ETag/304, invalidation by incidents, detector ticks and other
processes (PostgreSQL NOTIFY), what is never cached, HEAD, single-flight and the TTL; the change bus's
throttle and trailing edge with a hand-driven clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from downradar.core.clock import SystemClock
from downradar.detection.live import LiveDetection
from downradar.store import changes, make_engine
from downradar.store.changes import CHANNEL, ChangeBus
from downradar.web.app import create_app
from downradar.web.serving.page_cache import PageCache
from support.inprocess import start_in_process
from support.servers import LiveServer, make_settings

QUIET = {"detect": False, "deliver": False, "probes": False, "upstream": False}


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def add(self) -> int:
        with self.lock:
            self.calls += 1
            return self.calls


def serve(db_url: str) -> tuple[LiveServer, dict[str, Counter]]:
    """The ordinary app plus test routes under /api/v2 (a cacheable prefix) that count their renders."""
    settings = make_settings(db_url, **QUIET)
    app = create_app(settings)
    counters = {name: Counter() for name in ("cookie", "private", "slow")}

    def with_cookie() -> Response:
        response = JSONResponse({"n": counters["cookie"].add()})
        response.set_cookie("seen", "1")
        return response

    def private() -> Response:
        return JSONResponse({"n": counters["private"].add()}, headers={"Cache-Control": "private"})

    def slow() -> dict[str, int]:
        time.sleep(0.3)  # long enough for every concurrent request to arrive while it renders
        return {"n": counters["slow"].add()}

    app.add_api_route("/api/v2/test-cookie.json", with_cookie)
    app.add_api_route("/api/v2/test-private.json", private)
    app.add_api_route("/api/v2/test-slow.json", slow)
    return start_in_process(settings, app=app), counters


def settle(bus: ChangeBus) -> None:
    """Wait for the trailing edge of the server's own start-up changes (its catalog sync), which would
    otherwise land in the middle of a test."""
    deadline = time.monotonic() + bus.settle + 5
    while bus.pending() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, Counter]]]:
    server, counters = serve(f"sqlite:///{tmp_path / 'cache.db'}")
    settle(server.runtime.bus)
    try:
        yield server, counters
    finally:
        server.stop()


def cache_of(server: LiveServer) -> PageCache:
    return server.app.state.page_cache


def test_second_get_is_a_hit_with_the_same_etag_and_if_none_match_gets_304(live):
    server, _ = live
    cache = cache_of(server)
    with server.client() as client:
        for path in ("/", "/api/v2/summary.json"):
            renders = cache.stats.renders
            first = client.get(path)
            second = client.get(path)
            assert first.status_code == second.status_code == 200
            assert first.headers["etag"] == second.headers["etag"]
            assert first.headers["etag"].startswith('"')  # strong
            assert first.content == second.content
            assert cache.stats.renders == renders + 1
            assert "no-cache" in second.headers["cache-control"]
            again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
            assert again.status_code == 304
            assert again.content == b""
            assert again.headers["etag"] == first.headers["etag"]
            assert cache.stats.renders == renders + 1
            other = client.get(path, headers={"If-None-Match": '"something-else"'})
            assert other.status_code == 200 and other.content == first.content


def test_an_incident_opened_through_the_admin_api_shows_on_the_next_get(db_url):
    server, _ = serve(db_url)
    try:
        with server.client() as client:
            before = {path: client.get(path) for path in ("/", "/api/v2/summary.json")}
            assert "Login is failing" not in before["/"].text
            opened = client.post(
                "/api/v1/incidents",
                headers=server.admin,
                json={"service": "chatgpt", "name": "Login is failing", "message": "Investigating."},
            )
            assert opened.status_code == 201, opened.text
            for path, old in before.items():
                now = client.get(path)
                assert "Login is failing" in now.text
                assert now.headers["etag"] != old.headers["etag"]
            page = client.get(f"/incidents/{opened.json()['id']}")
            assert "Login is failing" in page.text
            updated = client.post(
                f"/api/v1/incidents/{opened.json()['id']}/updates",
                headers=server.admin,
                json={"message": "A fix is rolling out.", "status": "identified"},
            )
            assert updated.status_code == 200, updated.text
            assert "A fix is rolling out." in client.get(f"/incidents/{opened.json()['id']}").text
    finally:
        server.stop()


def test_a_detector_tick_invalidates(live):
    server, _ = live
    cache = cache_of(server)
    runtime = server.app.state.runtime
    with server.client() as client:
        client.get("/")
        client.get("/")
        renders = cache.stats.renders
        client.get("/")
        assert cache.stats.renders == renders  # still a hit
        detection = LiveDetection(runtime.engine, runtime.catalog, SystemClock())
        assert detection.catch_up() > 0  # the minutes of probe and provider evidence it read
        client.get("/")
        assert cache.stats.renders == renders + 1


def test_admin_and_the_v1_api_are_never_cached(live):
    server, _ = live
    cache = cache_of(server)
    with server.client() as client:
        for path in ("/api/v1/services", "/admin", "/admin/login", "/healthz"):
            for _ in range(2):
                response = client.get(path, headers=server.admin if path == "/api/v1/services" else {})
                assert response.status_code < 500
        assert len(cache) == 0
        assert cache.stats.renders == 0
        # A request with credentials is its sender's own, even on a cached path.
        client.get("/api/v2/summary.json", headers=server.admin)
        assert len(cache) == 0


def test_responses_that_set_cookies_or_say_private_are_never_cached(live):
    server, counters = live
    cache = cache_of(server)
    with server.client() as client:
        for _ in range(3):
            cookie = client.get("/api/v2/test-cookie.json")
            assert "set-cookie" in cookie.headers
            assert "etag" not in cookie.headers
            client.get("/api/v2/test-private.json")
    assert counters["cookie"].calls == 3
    assert counters["private"].calls == 3
    assert len(cache) == 0


def test_head_is_answered_from_the_same_entry(live):
    server, _ = live
    cache = cache_of(server)
    with server.client() as client:
        head = client.head("/")
        assert head.status_code == 200
        assert head.content == b""
        get = client.get("/")
        assert get.headers["etag"] == head.headers["etag"]
        assert int(head.headers["content-length"]) == len(get.content)
        assert cache.stats.renders == 1
        assert client.head("/api/v2/summary.json").status_code == 200


def test_concurrent_first_requests_render_once(live):
    server, counters = live
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def fetch() -> None:
        with server.client() as client:
            response = client.get("/api/v2/test-slow.json")
        with lock:
            results.append(response)

    threads = [threading.Thread(target=fetch) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counters["slow"].calls == 1
    assert len(results) == 16
    assert {r.status_code for r in results} == {200}
    assert len({r.content for r in results}) == 1


def test_entries_expire_after_the_ttl(live):
    server, _ = live
    cache = cache_of(server)
    cache.ttl = 0.3
    with server.client() as client:
        client.get("/api/v2/summary.json")
        client.get("/api/v2/summary.json")
        assert cache.stats.renders == 1
        time.sleep(0.4)
        client.get("/api/v2/summary.json")
        assert cache.stats.renders == 2


def test_a_visitor_who_just_reported_gets_a_page_of_their_own(live):
    server, _ = live
    cache = cache_of(server)
    with server.client() as client:
        for _ in range(2):
            assert client.get("/services/chatgpt?reported=1").status_code == 200
    assert len(cache) == 0


def test_another_process_change_arrives_through_notify(databases, tmp_path):
    for url in databases.fresh("postgresql", tmp_path):
        server, _ = serve(url)
        other = make_engine(url)  # as the CLI would: its own connection, no in-process bus
        try:
            cache = cache_of(server)
            with server.client() as client:
                client.get("/api/v2/summary.json")
                time.sleep(0.3)  # the listener's own start counts as a change: let it pass
                client.get("/api/v2/summary.json")
                renders = cache.stats.renders
                with other.begin() as conn:
                    conn.execute(text("SELECT pg_notify(:c, 'incident')"), {"c": CHANNEL})
                deadline = time.monotonic() + 5
                while cache.stats.renders == renders and time.monotonic() < deadline:
                    client.get("/api/v2/summary.json")
                    time.sleep(0.05)
                assert cache.stats.renders > renders
        finally:
            other.dispose()
            server.stop()


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bus_bumps_again_after_the_settle_time():
    clock = ManualClock()
    bus = ChangeBus(settle=1.0, clock=clock)
    assert bus.generation() == 0
    bus.bump("incident")
    assert bus.generation() == 1
    clock.now += 0.5
    assert bus.generation() == 1
    clock.now += 0.6  # the trailing edge: a render between bump and commit is rendered again
    assert bus.generation() == 2
    clock.now += 5
    assert bus.generation() == 2


def test_reports_bump_their_service_at_most_once_a_second():
    clock = ManualClock()
    bus = ChangeBus(reports_every=1.0, clock=clock)
    bus.bump("reports", "chatgpt")
    assert bus.service_generation("chatgpt") == 1
    bus.bump("reports", "chatgpt")
    bus.bump("reports", "chatgpt")
    assert bus.service_generation("chatgpt") == 1
    assert bus.service_generation("slack") == 0
    assert bus.generation() == 0  # reports leave the other pages alone
    clock.now += 1.0
    assert bus.service_generation("chatgpt") == 2  # the held-back bump, once the second has passed
    clock.now += 3
    assert bus.service_generation("chatgpt") == 2


def test_two_apps_in_one_process_invalidate_only_their_own_pages(tmp_path):
    servers = [serve(f"sqlite:///{tmp_path / f'app{n}.db'}")[0] for n in (1, 2)]
    try:
        for server in servers:
            settle(server.runtime.bus)
        mine, other = servers
        with mine.client() as to_mine, other.client() as to_other:
            for client in (to_mine, to_other):
                client.get("/api/v2/summary.json")
            renders = {id(s): cache_of(s).stats.renders for s in servers}
            opened = to_mine.post(
                "/api/v1/incidents",
                headers=mine.admin,
                json={"service": "chatgpt", "name": "Login is failing", "message": "Investigating."},
            )
            assert opened.status_code == 201, opened.text
            assert "Login is failing" in to_mine.get("/api/v2/summary.json").text
            assert cache_of(mine).stats.renders == renders[id(mine)] + 1
            other_page = to_other.get("/api/v2/summary.json")
            assert "Login is failing" not in other_page.text
            assert cache_of(other).stats.renders == renders[id(other)]  # still its cached copy
    finally:
        for server in servers:
            server.stop()


def test_a_rolled_back_change_does_not_invalidate(live):
    server, _ = live
    cache = cache_of(server)
    with server.client() as client:
        client.get("/api/v2/summary.json")
        renders = cache.stats.renders
        with server.runtime.engine.connect() as conn, conn.begin() as transaction:
            changes.record(conn, "incident")
            transaction.rollback()
        client.get("/api/v2/summary.json")
        assert cache.stats.renders == renders
