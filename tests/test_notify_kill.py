"""Kill -9 the delivery worker mid-delivery: after a restart every message still arrives and ends `sent`.

`downradar worker` runs as a subprocess against a SQLite database holding queued changes for several
routes; the receiver is slow and the worker sends one message at a time, so the kill lands while a request
is in flight. Duplicates are allowed (at least once), but they carry the same message id and the same
body, and every route gets every event in event order per incident.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from downradar.core.catalog import load_catalog
from downradar.core.clock import SystemClock
from downradar.core.config import DEMO_CATALOG
from downradar.incidents import lifecycle
from downradar.notify import routes
from downradar.notify.targets import AllowList
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.store.schema import events, messages
from support.webhook_receiver import Receiver, wait_for

SECRET = "kill-test-secret-0123456789"
UPDATES_PER_INCIDENT = 3
ROUTES = 5


def start_worker(db_url: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DOWNRADAR_ALLOW_TARGETS": "127.0.0.1",
        "DOWNRADAR_DELIVER_TIMEOUT_SECONDS": "2",
        "DOWNRADAR_DELIVER_BACKOFF_BASE_SECONDS": "0.05",
        "DOWNRADAR_DELIVER_BACKOFF_CAP_SECONDS": "0.2",
        "DOWNRADAR_DELIVER_POLL_SECONDS": "0.05",
        "DOWNRADAR_DELIVER_CONCURRENCY": "1",
        "DOWNRADAR_GROUP_WAIT_SECONDS": "0",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "downradar", "worker", "--db", db_url], env=env, stdout=out, stderr=out
        )


def test_worker_survives_sigkill_mid_delivery(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'worker.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    clock = SystemClock()
    with Receiver(delay=0.3) as receiver:
        try:
            with engine.begin() as conn:
                sync_catalog(conn, load_catalog(DEMO_CATALOG), clock.now())
                route_ids = [
                    routes.create_route(
                        conn, name=f"slow {n}", url=f"{receiver.url}/{n}", secret=SECRET, services_=[],
                        allow=AllowList.parse("127.0.0.1"), actor="test", now=clock.now(),
                    )["id"]
                    for n in range(ROUTES)
                ]  # fmt: skip
            incident_ids = []
            for service in ("chatgpt", "github"):
                with engine.begin() as conn:
                    incident_id = lifecycle.open_incident(
                        conn, service_id=service, name="Errors", message="Go.", actor="t", now=clock.now()
                    )
                    for n in range(UPDATES_PER_INCIDENT):
                        lifecycle.update_incident(
                            conn, incident_id, actor="t", now=clock.now(), message=f"Update {n}."
                        )
                incident_ids.append(incident_id)
            with engine.connect() as conn:
                expected = [
                    tuple(row)
                    for row in conn.execute(select(events.c.incident_id, events.c.type).order_by(events.c.id))
                ]
            assert len(expected) == 2 * (1 + UPDATES_PER_INCIDENT)

            log = tmp_path / "worker.log"
            worker = start_worker(db_url, log)
            try:
                # Two answered, and a third in flight (read by the receiver, not yet answered): kill now.
                wait_for(lambda: receiver.answered >= 2 and receiver.arrived > receiver.answered, what="kill")
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=10)
            finally:
                if worker.poll() is None:
                    worker.kill()
            with engine.connect() as conn:
                statuses = list(conn.scalars(select(messages.c.status)))
            assert statuses.count("pending") >= 2, "the kill came too late to mean anything"

            worker = start_worker(db_url, log)
            try:

                def all_sent() -> bool:
                    with engine.connect() as conn:
                        sent = list(conn.scalars(select(messages.c.status)))
                    return len(sent) == ROUTES and set(sent) == {"sent"}

                wait_for(all_sent, timeout=30, what=f"every message sent; worker log: {log.read_text()}")
            finally:
                worker.terminate()
                worker.wait(timeout=10)
            with engine.connect() as conn:
                message_ids = set(conn.scalars(select(messages.c.id)))
        finally:
            engine.dispose()

    got = receiver.accepted()
    assert all(r.signed_with(SECRET) for r in got)
    for r in got:
        assert r.headers["x-downradar-delivery"] == r.json["id"]
    assert {r.json["id"] for r in got} == message_ids
    assert len(got) > len(message_ids), "the message in flight at the kill is sent again"
    bodies_by_id: dict[str, bytes] = {}
    for r in got:  # a duplicate is the same message: same id, same body
        assert bodies_by_id.setdefault(r.json["id"], r.body) == r.body
    assert len({r.path for r in got}) == ROUTES
    for body in bodies_by_id.values():
        events_sent = [(e["incident_id"], e["type"]) for e in json.loads(body)["events"]]
        assert events_sent == expected
    assert {incident for incident, _ in expected} == set(incident_ids)
    assert len(route_ids) == ROUTES
