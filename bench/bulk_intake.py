"""Bulk intake over HTTP, durable, against a raw DB-API `executemany` of the same rows.

Ours: `downradar run` in a subprocess on a fresh database; N reports posted as NDJSON to
POST /api/v1/reports/bulk in chunks, a few requests at a time; the clock stops when the last 202 (sent only
after the commit) arrives. The server validates every line, dedups per (service, client), inserts and rolls
the reports up into minute buckets.

Baseline: a fresh database migrated by downradar.store.upgrade (same schema, same indexes, same engine
settings: SQLite WAL with synchronous=FULL), the same rows inserted straight into `reports` with the
driver's cursor.executemany, one commit per chunk. Parameters are prepared before the clock starts, so the
baseline is the database's own ceiling: no HTTP, no JSON, no validation, no dedup, no roll-up.

    .venv/bin/python bench/bulk_intake.py                       # 200k reports, SQLite
    .venv/bin/python bench/bulk_intake.py --db postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from queue import Empty, SimpleQueue
from typing import Any

import httpx
import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from downradar.core.catalog import Catalog, load_catalog
from downradar.core.config import DEMO_CATALOG
from downradar.demo.seed import REGION_WEIGHTS, USUAL_PER_15_MIN
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.store.schema import report_minutes, reports
from harness import ADMIN_TOKEN, console, downradar_server, fresh_database, machine, ratio_line

TARGET = 0.5
COLUMNS = ("ts", "received_at", "service_id", "component", "region", "symptom", "client", "comment")
COMMENTS = ["keeps spinning", "502 on every request", "can't log in since the update", "very slow here"]


@dataclass
class BulkResult:
    backend: str
    reports: int
    ours_per_s: float
    baseline_per_s: float
    ours_s: float
    baseline_s: float
    counted: int
    duplicates: int

    @property
    def ratio(self) -> float:
        return self.ours_per_s / self.baseline_per_s


def make_reports(catalog: Catalog, n: int, hours: float, seed: int) -> list[dict[str, Any]]:
    """N reports as a backfill would send them: weighted services, many distinct clients, hours of ts."""
    rng = random.Random(seed)
    services = catalog.services
    weights = [USUAL_PER_15_MIN.get(s.id, 3.0) for s in services]
    regions, region_weights = zip(*REGION_WEIGHTS.items(), strict=True)
    clients = [f"bench-{rng.getrandbits(64):016x}" for _ in range(max(1, int(n * 0.7)))]
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    span = hours * 3600
    rows = []
    for service in rng.choices(services, weights, k=n):
        row: dict[str, Any] = {
            "ts": end - timedelta(seconds=rng.random() * span),
            "service": service.id,
            "symptom": rng.choice(service.symptoms),
            "region": rng.choices(regions, region_weights)[0],
            "client": rng.choice(clients),
        }
        if service.components and rng.random() < 0.7:
            row["component"] = rng.choice(service.components).id
        if rng.random() < 0.05:
            row["comment"] = rng.choice(COMMENTS)
        rows.append(row)
    rows.sort(key=lambda r: r["ts"])
    return rows


def ndjson_chunks(rows: list[dict[str, Any]], chunk: int) -> list[bytes]:
    lines = [orjson.dumps({**r, "ts": r["ts"].isoformat()}) for r in rows]
    return [b"\n".join(lines[i : i + chunk]) for i in range(0, len(lines), chunk)]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def post_all(base_url: str, bodies: list[bytes], concurrency: int) -> tuple[float, int]:
    """Post every body, `concurrency` at a time; returns (seconds, duplicates reported by the server)."""
    todo: SimpleQueue[bytes] = SimpleQueue()
    for body in bodies:
        todo.put(body)
    total = sum(body.count(b"\n") + 1 for body in bodies)
    failures: list[str] = []
    duplicates = 0
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/x-ndjson"}

    with _progress() as progress:
        task = progress.add_task("bulk intake (ours)", total=total, rate="")
        started = time.perf_counter()

        def worker() -> None:
            nonlocal duplicates
            with httpx.Client(base_url=base_url, headers=headers, timeout=300) as http:
                while not failures:
                    try:
                        body = todo.get_nowait()
                    except Empty:
                        return
                    response = http.post("/api/v1/reports/bulk", content=body)
                    result = response.json() if response.status_code == 202 else {}
                    lines = body.count(b"\n") + 1
                    with lock:
                        if result.get("accepted") != lines:
                            failures.append(f"{response.status_code}: {response.text[:300]}")
                            return
                        duplicates += result["duplicates"]
                        progress.advance(task, lines)
                        done = progress.tasks[0].completed
                        rate = done / (time.perf_counter() - started)
                        progress.update(task, rate=f"{rate:,.0f} reports/s")

        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"bulk intake failed: {failures[0]}")
    return elapsed, duplicates


def run_ours(db_url: str, bodies: list[bytes], chunk: int, concurrency: int) -> tuple[float, int]:
    with downradar_server(db_url) as server:
        elapsed, duplicates = post_all(server.base_url, bodies, concurrency)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(reports))
            rolled = conn.scalar(select(func.sum(report_minutes.c.reports)))
    finally:
        engine.dispose()
    expected = sum(body.count(b"\n") + 1 for body in bodies)
    if stored != expected or rolled != expected:
        raise RuntimeError(f"server stored {stored} reports and rolled up {rolled}, expected {expected}")
    return elapsed, duplicates


def _baseline_params(rows: list[dict[str, Any]], sqlite: bool) -> list[tuple[Any, ...]]:
    received = datetime.now(UTC)

    def stamp(moment: datetime) -> Any:  # what SQLAlchemy would bind: naive UTC text on SQLite
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else moment

    return [
        (
            stamp(r["ts"]),
            stamp(received),
            r["service"],
            r.get("component", ""),
            r["region"],
            r["symptom"],
            r["client"],
            r.get("comment"),
            False,
            "bulk",
        )
        for r in rows
    ]


def run_baseline(db_url: str, catalog: Catalog, rows: list[dict[str, Any]], chunk: int) -> float:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            sync_catalog(conn, catalog, datetime.now(UTC))  # reports.service_id references services
        sqlite = engine.dialect.name == "sqlite"
        params = _baseline_params(rows, sqlite)
        mark = "?" if sqlite else "%s"
        sql = (
            f"INSERT INTO reports ({', '.join(COLUMNS)}, duplicate, source) "
            f"VALUES ({', '.join([mark] * (len(COLUMNS) + 2))})"
        )
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with _progress() as progress:
                task = progress.add_task("raw executemany (baseline)", total=len(params), rate="")
                started = time.perf_counter()
                for start in range(0, len(params), chunk):
                    cursor.executemany(sql, params[start : start + chunk])
                    raw.commit()
                    progress.advance(task, min(chunk, len(params) - start))
                elapsed = time.perf_counter() - started
            cursor.close()
        finally:
            raw.close()
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(reports))
        if stored != len(params):
            raise RuntimeError(f"baseline stored {stored} of {len(params)}")
    finally:
        engine.dispose()
    return elapsed


def run(
    n: int = 200_000,
    *,
    db: str | None = None,
    chunk: int = 10_000,
    concurrency: int = 3,
    hours: float = 6.0,
    rounds: int = 1,
    seed: int = 42,
    say: Callable[[str], None] = console.print,
) -> BulkResult:
    catalog = load_catalog(DEMO_CATALOG)
    rows = make_reports(catalog, n, hours, seed)
    bodies = ndjson_chunks(rows, chunk)
    backend = "sqlite" if db is None or db.startswith("sqlite") else "postgresql"
    say(
        f"bulk intake: {n:,} reports over {hours:g} h, {len(catalog.services)} services, "
        f"{len({r['client'] for r in rows}):,} clients; {chunk:,} lines per request, "
        f"{concurrency} at a time; {backend}"
    )
    ours: list[float] = []
    base: list[float] = []
    duplicates = 0
    for round_ in range(rounds):  # alternate, so drift in the machine's speed hits both sides alike
        with fresh_database(db, "baseline") as url:
            base.append(run_baseline(url, catalog, rows, chunk))
        with fresh_database(db, "ours") as url:
            seconds, duplicates = run_ours(url, bodies, chunk, concurrency)
            ours.append(seconds)
        if rounds > 1:
            say(f"  round {round_ + 1}: ours {n / ours[-1]:,.0f}/s, baseline {n / base[-1]:,.0f}/s")
    ours_s, base_s = statistics.median(ours), statistics.median(base)
    result = BulkResult(backend, n, n / ours_s, n / base_s, ours_s, base_s, n - duplicates, duplicates)
    say(
        f"  ours: {ours_s:.1f} s ({result.counted:,} counted, {duplicates:,} duplicates); "
        f"baseline: {base_s:.1f} s"
    )
    say(ratio_line(f"bulk intake ({backend})", result.ours_per_s, result.baseline_per_s, TARGET, "reports/s"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--reports", type=int, default=200_000, help="reports to send (200000)")
    parser.add_argument("--db", help="PostgreSQL server URL to create scratch databases on (default: SQLite)")
    parser.add_argument("--chunk", type=int, default=10_000, help="NDJSON lines per request (10000)")
    parser.add_argument("--concurrency", type=int, default=3, help="requests in flight (3)")
    parser.add_argument("--hours", type=float, default=6.0, help="time span of the reports' ts (6)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds; medians are compared (1)")
    args = parser.parse_args()
    console.print(f"[dim]{machine()}[/dim]")
    run(
        args.reports,
        db=args.db,
        chunk=args.chunk,
        concurrency=args.concurrency,
        hours=args.hours,
        rounds=args.rounds,
    )


if __name__ == "__main__":
    main()
