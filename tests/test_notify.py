"""Alert routes and webhook delivery, end to end: the app in-process, a real receiver on 127.0.0.1.

The receiver fails the first requests with 503; every event must still arrive, signed, in event order per
incident. A route for one service gets only that service's events. The signing secret never comes back
from the API. Private targets are refused without the allow-list, when a route is added and at send time.
The outbox rows are written with the incident change or not at all.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from downradar.core.catalog import load_catalog
from downradar.core.clock import SystemClock
from downradar.core.config import DEMO_CATALOG
from downradar.incidents import lifecycle
from downradar.notify import routes
from downradar.notify.targets import AllowList
from downradar.notify.worker import Backoff, DeliveryWorker
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.store.schema import events, messages, outbox
from support.inprocess import start_in_process
from support.servers import ADMIN_TOKEN, FAST_DELIVERY, LiveServer, make_settings
from support.webhook_receiver import Receiver, wait_for

SECRET = "route-secret-0123456789abcdef"
FAST = FAST_DELIVERY
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def add_route(http: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    response = http.post("/api/v1/alert-routes", headers=AUTH, json={"name": "ops", "url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def incident_changes(http: httpx.Client, service: str, updates: int) -> str:
    """Open an incident, post updates, resolve it: 2 + updates events."""
    opened = http.post(
        "/api/v1/incidents",
        headers=AUTH,
        json={"service": service, "name": "Errors", "message": "Looking.", "impact": "major"},
    )
    assert opened.status_code == 201, opened.text
    incident_id = opened.json()["id"]
    for n in range(updates):
        posted = http.post(
            f"/api/v1/incidents/{incident_id}/updates", headers=AUTH, json={"message": f"Update {n}."}
        )
        assert posted.status_code == 200, posted.text
    assert http.post(f"/api/v1/incidents/{incident_id}/resolve", headers=AUTH).status_code == 200
    return incident_id


def event_records(server: LiveServer) -> list[dict[str, Any]]:
    with server.client() as http:
        return http.get("/api/v1/events").json()["events"]


def message_rows(server: LiveServer) -> list[Any]:
    with server.runtime.engine.connect() as conn:
        return conn.execute(select(messages).order_by(messages.c.created_at, messages.c.id)).all()


EXTRAS = ("incident_url", "dedup_key", "reminder")


def delivered_events(receiver: Receiver) -> list[dict[str, Any]]:
    """Every event the receiver accepted, once per message id, without the per-delivery extras."""
    seen: set[str] = set()
    found = []
    for request in receiver.accepted():
        body = request.json
        if body["id"] in seen:
            continue
        seen.add(body["id"])
        for event in body["events"]:
            found.append(
                {k: v for k, v in event.items() if k not in ("incident_url", "dedup_key", "reminder")}
            )
    return found


def by_incident(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        grouped[record["incident_id"]].append(record)
    return grouped


def test_every_event_arrives_signed_and_in_order_after_failures(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with Receiver(fail_first=3) as receiver:
        server = start_in_process(make_settings(db_url, **FAST))
        try:
            with server.client() as http:
                route = add_route(http, receiver.url, secret=SECRET)
                first = incident_changes(http, "chatgpt", updates=2)
                second = incident_changes(http, "github", updates=1)
                listed = http.get("/api/v1/alert-routes", headers=AUTH)
                audit = http.get("/api/v1/audit", headers=AUTH)
            expected = event_records(server)
            assert len(expected) == 7
            wait_for(lambda: len(delivered_events(receiver)) >= len(expected), what="every event delivered")
            wait_for(lambda: all(row.status == "sent" for row in message_rows(server)), what="all sent")
            rows = message_rows(server)
        finally:
            server.stop()

    got = receiver.accepted()
    assert sum(r.status == 503 for r in receiver.requests) == 3
    assert all(r.signed_with(SECRET) for r in receiver.requests)
    assert not any(r.signed_with("some-other-secret-value") for r in got)
    bodies = [r.json for r in got]
    assert len({b["id"] for b in bodies}) == len(bodies)  # each message delivered once here
    for r, body in zip(got, bodies, strict=True):
        assert r.headers["x-downradar-delivery"] == body["id"]
        assert r.headers["content-type"] == "application/json"
        assert body["type"] == "notification" and body["title"] and body["text"]
        for event in body["events"]:
            assert event["incident_url"] == f"http://127.0.0.1:8000/incidents/{event['incident_id']}"
            assert event["dedup_key"] == f"downradar/{event['service']}/{event['incident_id']}"
    delivered = delivered_events(receiver)
    assert len(delivered) == len(expected)
    for incident_id in (first, second):  # per incident, exactly the events in the order they happened
        assert by_incident(delivered)[incident_id] == by_incident(expected)[incident_id]
    assert [b["type"] for b in by_incident(delivered)[first]] == [
        "incident.opened", "incident.updated", "incident.updated", "incident.resolved",
    ]  # fmt: skip
    assert {row.id for row in rows} == {b["id"] for b in bodies}
    assert all(row.recipient == f"route:{route['id']}" and row.sent_at is not None for row in rows)
    assert sum(row.attempts for row in rows) == len(rows) + 3

    # The signing secret is never shown, logged or kept in an error.
    assert "secret" not in route
    for shown in (route, listed.json(), audit.json()):
        assert SECRET not in str(shown)
    assert SECRET not in caplog.text
    assert all(SECRET not in (row.last_error or "") for row in rows)


def test_a_route_for_one_service_gets_only_its_events(db_url: str) -> None:
    with Receiver() as for_github, Receiver() as for_all:
        server = start_in_process(make_settings(db_url, **FAST))
        try:
            with server.client() as http:
                add_route(http, for_github.url, secret=SECRET, services=["github"])
                add_route(http, for_all.url, secret=SECRET)
                incident_changes(http, "chatgpt", updates=1)
                incident_changes(http, "github", updates=0)
            records = event_records(server)
            wait_for(
                lambda: len(delivered_events(for_all)) == 5 and len(delivered_events(for_github)) == 2,
                what="both",
            )
        finally:
            server.stop()
    assert {e["service"] for e in delivered_events(for_github)} == {"github"}
    assert sorted(e["service"] for e in delivered_events(for_all)) == sorted(e["service"] for e in records)


def test_bad_routes_get_422_naming_the_field(db_url: str) -> None:
    server = start_in_process(make_settings(db_url, detect=False, deliver=False))  # no allow-list
    try:
        with server.client() as http:
            post = lambda **body: http.post("/api/v1/alert-routes", headers=AUTH, json=body)  # noqa: E731
            good = {"name": "ops", "url": "https://8.8.8.8/hook", "secret": SECRET}  # public, no DNS
            for url in (
                "http://127.0.0.1:9/hook",
                "http://localhost/hook",
                "http://10.1.2.3/hook",
                "http://192.168.0.10/hook",
                "http://169.254.169.254/latest/meta-data",
                "http://[::1]/hook",
                "http://0.0.0.0/hook",
                "ftp://8.8.8.8/hook",
                "http://user:pw@8.8.8.8/hook",
                "http://no-such-host.invalid/hook",
                "not a url",
            ):
                response = post(**{**good, "url": url})
                assert response.status_code == 422, (url, response.text)
                assert response.json()["errors"][0]["field"] == "url", url
            for field, value in (("secret", "short"), ("services", ["nope"]), ("name", " ")):
                response = post(**{**good, field: value})
                assert response.status_code == 422, response.text
                assert response.json()["errors"][0]["field"] == field
            response = post(name="ops", url="https://8.8.8.8/hook")
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "secret"
            assert http.post("/api/v1/alert-routes", json=good).status_code == 401
            assert http.get("/api/v1/alert-routes").status_code == 401
            assert http.delete("/api/v1/alert-routes/nope", headers=AUTH).status_code == 404
            assert http.get("/api/v1/alert-routes", headers=AUTH).json() == {"alert_routes": []}
    finally:
        server.stop()


def migrated_with_catalog(db_url: str) -> Any:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        sync_catalog(conn, load_catalog(DEMO_CATALOG), SystemClock().now())
    return engine


def open_one(conn: Any, service_id: str = "chatgpt") -> str:
    return lifecycle.open_incident(
        conn, service_id=service_id, name="Errors", message="Looking.", actor="test", now=SystemClock().now()
    )


def test_outbox_rows_are_written_with_the_change_or_not_at_all(db_url: str) -> None:
    engine = migrated_with_catalog(db_url)
    allow = AllowList.parse("127.0.0.1")
    now = SystemClock().now()
    try:
        with engine.begin() as conn:
            for services_ in ([], ["chatgpt"], ["github"]):
                routes.create_route(
                    conn, name="r", url="http://127.0.0.1:9/", secret=SECRET, services_=services_,
                    allow=allow, actor="test", now=now,
                )  # fmt: skip
        with pytest.raises(RuntimeError), engine.begin() as conn:
            open_one(conn)
            raise RuntimeError("the change fails after the event was written")
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(outbox)) == 0
        with engine.begin() as conn:
            incident_id = open_one(conn)
        with engine.connect() as conn:
            rows = conn.execute(select(outbox)).all()
            event_id = conn.scalar(select(events.c.id))
        assert len(rows) == 2  # the route for every service and the one for chatgpt
        assert {(r.event_id, r.incident_id, r.kind, r.message_id) for r in rows} == {
            (event_id, incident_id, "event", None)
        }
    finally:
        engine.dispose()


def test_the_target_is_checked_again_at_send_time(tmp_path) -> None:
    db_url = f"sqlite:///{tmp_path / 'send-check.db'}"
    engine = migrated_with_catalog(db_url)
    with Receiver() as receiver:
        try:
            with engine.begin() as conn:
                routes.create_route(
                    conn, name="r", url=receiver.url, secret=SECRET, services_=[],
                    allow=AllowList.parse("127.0.0.1"), actor="test", now=SystemClock().now(),
                )  # fmt: skip
                open_one(conn)
            settings = make_settings(db_url, **{**FAST, "allow_targets": ""})  # allow-list since removed
            worker = DeliveryWorker(
                engine, settings.areas().notify, page_url="https://status.example", clock=SystemClock()
            )
            try:
                assert worker.run_once() == 1
            finally:
                worker.close()
            with engine.connect() as conn:
                row = conn.execute(select(messages)).one()
        finally:
            engine.dispose()
    assert receiver.requests == []
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error.startswith("refused: host '127.0.0.1' resolves to 127.0.0.1")


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    backoff = Backoff(base_seconds=2, cap_seconds=30)
    assert [backoff.delay(n, lambda: 1.0).total_seconds() for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert backoff.delay(3, lambda: 0.0).total_seconds() == 0
    assert backoff.delay(3, lambda: 0.5).total_seconds() == 4


def test_route_verbs_on_the_command_line(db_url: str) -> None:
    from typer.testing import CliRunner

    from downradar.cli.main import app

    runner = CliRunner()
    env = {"DOWNRADAR_ALLOW_TARGETS": "127.0.0.1"}

    def cli(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--db", db_url], env=env)
        return result.exit_code, result.output

    code, output = cli("route", "add", "--name", "pager", "--url", "http://127.0.0.1:9/hook",
                       "--secret", SECRET, "--service", "chatgpt")  # fmt: skip
    assert code == 0, output
    route_id = output.strip()
    code, output = cli("route", "add", "--name", "all", "--url", "http://127.0.0.1:9/all")
    assert code == 0, output
    generated_line = output.strip().splitlines()[1]
    assert generated_line.startswith("secret (shown only now): ")
    generated = generated_line.split(": ", 1)[1]
    code, output = cli("route", "list")
    assert code == 0 and route_id in output and "chatgpt" in output and "all" in output
    assert SECRET not in output and generated not in output

    for args, field in (
        (("--url", "http://10.0.0.1/hook"), "url"),
        (("--url", "http://127.0.0.1:9/", "--secret", "short"), "secret"),
        (("--url", "http://127.0.0.1:9/", "--service", "nope"), "services"),
    ):
        code, output = cli("route", "add", "--name", "bad", *args)
        assert code == 2, output
        assert output.count("\n") == 1 and f"error: {field}: " in output

    code, output = cli("route", "remove", route_id)
    assert code == 0, output
    code, output = cli("route", "remove", route_id)
    assert code == 2 and "unknown alert route" in output
    code, output = cli("route", "list")
    assert route_id not in output


def test_a_delivery_never_answered_2xx_expires_and_unblocks_the_next(db_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from downradar.core.clock import FakeClock

    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    clock = FakeClock(start)
    engine = migrated_with_catalog(db_url)
    settings = make_settings(db_url, **{**FAST, "deliver_max_age_seconds": 3600})
    with Receiver(fail_first=1_000_000) as receiver:  # always 503
        worker = DeliveryWorker(
            engine, settings.areas().notify, page_url="https://status.example", clock=clock
        )
        try:
            with engine.begin() as conn:
                routes.create_route(
                    conn, name="r", url=receiver.url, secret=SECRET, services_=[],
                    allow=AllowList.parse("127.0.0.1"), actor="test", now=start,
                )  # fmt: skip
                incident_id = lifecycle.open_incident(
                    conn, service_id="chatgpt", name="Errors", message="Looking.", actor="t", now=start
                )

            def statuses() -> list[tuple[str, int]]:
                with engine.connect() as conn:
                    query = select(messages.c.status, messages.c.attempts).order_by(messages.c.created_at)
                    return [tuple(row) for row in conn.execute(query)]

            assert worker.run_once() == 1  # the opening fails
            assert statuses() == [("pending", 1)]
            clock.set(start + timedelta(minutes=50))
            with engine.begin() as conn:
                lifecycle.update_incident(conn, incident_id, actor="t", now=clock.now(), message="More.")
            assert worker.run_once() == 1  # the opening fails again; the update waits behind it
            assert statuses() == [("pending", 2)]
            with engine.connect() as conn:
                assert conn.scalar(select(func.count()).where(outbox.c.message_id.is_(None))) == 1
            clock.set(start + timedelta(minutes=61))
            assert worker.run_once() == 1  # the opening is an hour old: expired, so the update may go
            assert statuses() == [("expired", 2), ("pending", 1)]
            clock.set(start + timedelta(minutes=111))
            assert worker.run_once() == 0
            assert statuses() == [("expired", 2), ("expired", 1)]
        finally:
            worker.close()
            engine.dispose()
    assert [[e["type"] for e in r.json["events"]] for r in receiver.requests] == [
        ["incident.opened"],
        ["incident.opened"],
        ["incident.updated"],
    ]


def test_sent_and_expired_messages_are_pruned_after_the_keep_time(db_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from downradar.core.clock import FakeClock

    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    clock = FakeClock(start)
    engine = migrated_with_catalog(db_url)
    settings = make_settings(db_url, **{**FAST, "deliver_keep_days": 30})
    with Receiver() as receiver:
        try:
            with engine.begin() as conn:
                routes.create_route(
                    conn, name="r", url=receiver.url, secret=SECRET, services_=[],
                    allow=AllowList.parse("127.0.0.1"), actor="test", now=start,
                )  # fmt: skip
                incident_id = lifecycle.open_incident(
                    conn, service_id="chatgpt", name="Errors", message="Looking.", actor="t", now=start
                )
            worker = DeliveryWorker(
                engine, settings.areas().notify, page_url="https://status.example", clock=clock
            )
            assert worker.run_once() == 1
            clock.set(start + timedelta(days=31))
            with engine.begin() as conn:
                lifecycle.update_incident(conn, incident_id, actor="t", now=clock.now(), message="Still.")
            assert worker.run_once() == 1  # prunes the month-old message, sends the new one
            with engine.connect() as conn:
                left = conn.execute(select(messages.c.created_at, messages.c.status)).all()
                rows = conn.scalar(select(func.count()).select_from(outbox))
        finally:
            engine.dispose()
    assert left == [(start + timedelta(days=31), "sent")] and rows == 1
    assert len(receiver.accepted()) == 2
