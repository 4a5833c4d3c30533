"""Kill -9 durability: every report acknowledged with 202 survives the server being killed mid-stream.

The real server runs as a subprocess (`downradar run`); several threads stream single reports and bulk
NDJSON batches, each with its own client ids; the server is SIGKILLed while they are in flight, restarted on
the same database, and the database must hold every acknowledged report. A bulk batch is all or nothing,
the only reports present without an acknowledgement are the ones in flight at the kill, and the minute
buckets agree with the reports table.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from downradar.core.catalog import load_catalog
from downradar.core.config import DEMO_CATALOG
from downradar.store import make_engine
from downradar.store.schema import report_minutes, reports
from support.processes import Server
from support.servers import ADMIN_TOKEN

SINGLE_THREADS = 4
BULK_THREADS = 2
BULK_LINES = 250
KILL_AFTER_ACKS = 1500  # single and bulk reports acknowledged before the kill...
KILL_AFTER_SECONDS = 1.5  # ...and at least this long into the stream
STREAM_DEADLINE = 60.0


@dataclass
class Ledger:
    """What the clients sent and what the server acknowledged, shared by the streaming threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    single_acked: dict[str, int] = field(default_factory=dict)  # client id -> report id from the 202
    bulk_acked: list[list[str]] = field(default_factory=list)  # the client ids of each acked batch
    in_flight: list[list[str]] = field(default_factory=list)  # requests that got no answer (the kill)
    unexpected: list[str] = field(default_factory=list)  # any answer other than 202
    acks: int = 0


def _stream_singles(url: str, worker: int, services: list[tuple[str, list[str]]], ledger: Ledger) -> None:
    rng = random.Random(worker)
    with httpx.Client(base_url=url, timeout=10) as http:
        for n in range(1_000_000):
            service, symptoms = rng.choice(services)
            client = f"dur-s{worker}-{n}"
            body = {"service": service, "client": client, "symptom": rng.choice(symptoms), "region": "US"}
            try:
                response = http.post("/api/v1/reports", json=body)
            except httpx.TransportError:
                with ledger.lock:
                    ledger.in_flight.append([client])
                return
            with ledger.lock:
                if response.status_code != 202:
                    ledger.unexpected.append(f"single: {response.status_code} {response.text[:200]}")
                    return
                ledger.single_acked[client] = response.json()["id"]
                ledger.acks += 1


def _stream_bulk(url: str, worker: int, services: list[tuple[str, list[str]]], ledger: Ledger) -> None:
    rng = random.Random(1000 + worker)
    now = datetime.now(UTC)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=url, timeout=10, headers=headers) as http:
        for batch in range(1_000_000):
            clients, lines = [], []
            for i in range(BULK_LINES):
                service, symptoms = rng.choice(services)
                client = f"dur-b{worker}-{batch}-{i}"
                ts = now - timedelta(seconds=rng.uniform(0, 3 * 3600))
                clients.append(client)
                lines.append(
                    orjson.dumps(
                        {"ts": ts.isoformat(), "service": service, "client": client, "symptom": symptoms[0]}
                    )
                )
            try:
                response = http.post("/api/v1/reports/bulk", content=b"\n".join(lines))
            except httpx.TransportError:
                with ledger.lock:
                    ledger.in_flight.append(clients)
                return
            with ledger.lock:
                body = response.json() if response.status_code == 202 else {}
                if response.status_code != 202 or body.get("accepted") != BULK_LINES:
                    ledger.unexpected.append(f"bulk: {response.status_code} {response.text[:200]}")
                    return
                ledger.bulk_acked.append(clients)
                ledger.acks += BULK_LINES


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_acknowledged_reports_survive_kill_9(db_url: str, tmp_path: Path, servers: list[Server]) -> None:
    services = [(s.id, s.symptoms) for s in load_catalog(DEMO_CATALOG).services]
    log = tmp_path / "server.log"
    first = Server(db_url, log)
    servers.append(first)
    first.start()

    ledger = Ledger()
    threads = [
        threading.Thread(target=_stream_singles, args=(first.base_url, n, services, ledger), daemon=True)
        for n in range(SINGLE_THREADS)
    ] + [
        threading.Thread(target=_stream_bulk, args=(first.base_url, n, services, ledger), daemon=True)
        for n in range(BULK_THREADS)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while True:
        elapsed = time.monotonic() - started
        with ledger.lock:
            enough = ledger.acks >= KILL_AFTER_ACKS and elapsed >= KILL_AFTER_SECONDS
            problems = list(ledger.unexpected)
        assert not problems, f"answers other than 202 before the kill: {problems[:5]}"
        if elapsed >= STREAM_DEADLINE:  # not a speed claim: only how long to wait before giving up
            pytest.fail(f"gave up waiting: {ledger.acks} reports acknowledged in {elapsed:.1f} s")
        if enough:
            break
        time.sleep(0.02)
    first.kill()
    for thread in threads:
        thread.join(timeout=15)
        assert not thread.is_alive(), "a streaming thread hung after the kill"
    assert not ledger.unexpected, f"answers other than 202: {ledger.unexpected[:5]}"
    assert ledger.single_acked and ledger.bulk_acked, "both kinds of intake were acknowledged before the kill"

    second = Server(db_url, log)
    servers.append(second)
    second.start()  # recovery: the server comes back on the same database
    with httpx.Client(base_url=second.base_url, timeout=10) as http:
        after = http.post("/api/v1/reports", json={"service": services[0][0], "client": "dur-after-restart"})
    assert after.status_code == 202, after.text

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = dict(
                conn.execute(
                    select(reports.c.client, reports.c.id).where(reports.c.client.like("dur-%"))
                ).all()
            )
            total = conn.scalar(select(func.count()).select_from(reports))
            counted = conn.scalar(
                select(func.count()).select_from(reports).where(reports.c.duplicate.is_(False))
            )
            minute_reports, minute_clients = conn.execute(
                select(func.sum(report_minutes.c.reports), func.sum(report_minutes.c.clients))
            ).one()
    finally:
        engine.dispose()

    lost_single = {c: i for c, i in ledger.single_acked.items() if stored.get(c) != i}
    assert not lost_single, f"{len(lost_single)} acknowledged single reports missing or changed id"
    acked_bulk = {c for batch in ledger.bulk_acked for c in batch}
    lost_bulk = acked_bulk - stored.keys()
    assert not lost_bulk, f"{len(lost_bulk)} of {len(acked_bulk)} acknowledged bulk reports missing"
    for batch in ledger.in_flight:  # a request cut off by the kill committed entirely or not at all
        present = sum(1 for c in batch if c in stored)
        assert present in (0, len(batch)), f"a cut-off batch is half committed: {present} of {len(batch)}"
    unacked = stored.keys() - ledger.single_acked.keys() - acked_bulk - {"dur-after-restart"}
    assert unacked <= {c for batch in ledger.in_flight for c in batch}, "reports that nobody sent"
    assert "dur-after-restart" in stored
    assert total == len(stored)
    assert minute_reports == total, "minute buckets disagree with the reports table"
    assert minute_clients == counted, "minute buckets' distinct clients disagree with the reports table"
