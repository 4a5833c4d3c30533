"""Fan-out of one incident update to N webhook subscribers on a local receiver.

Ours: a fresh database (SQLite file, or a scratch database on `--db`'s PostgreSQL server), migrated and
given the demo catalog, with N active webhook subscribers inserted straight into `subscribers` (each with
its own URL /hook/<n> and signing secret). A `DeliveryWorker` (group wait and interval 0) is already
polling when one incident is opened with `lifecycle.open_incident`, which writes the event and the N
outbox rows in one transaction. The clock starts at the incident change and stops when the receiver has
the last message; every message must then be `sent` and every subscriber must have got exactly one, with
a valid signature.

Baseline: the same receiver hit with N signed JSON POSTs of the same size (a body Downradar sent, with the
id changed) from a bare httpx.AsyncClient with the same connection limit and concurrency, no database.
For reference, also the receiver's ceiling: the same requests written by hand on as many asyncio streams.

The receiver is a plain asyncio HTTP/1.1 server in a subprocess (its own GIL), answering 200 at once; it
checks every signature and stamps each arrival with the wall clock, which both processes share.

    .venv/bin/python bench/fanout.py                          # 10,000 subscribers, SQLite, about 50 s
    .venv/bin/python bench/fanout.py --db postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/fanout.py --subscribers 2000 --concurrency 16 --rounds 1
    .venv/bin/python bench/fanout.py --profile /tmp/fanout.txt   # cProfile of the worker's both sides
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import hmac
import io
import pstats
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from rich.table import Table
from sqlalchemy import event, func, select

from downradar.core.catalog import load_catalog
from downradar.core.clock import SystemClock
from downradar.core.config import DEMO_CATALOG, Settings
from downradar.incidents import lifecycle
from downradar.notify.grouping import SENT
from downradar.notify.worker import DeliveryWorker
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.store.schema import messages, subscribers
from harness import console, fresh_database, machine, serve

HOOK = b"/hook/"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
JSON_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


def subscriber_secret(n: int) -> str:
    """Each subscriber's signing key, derivable in the receiver without sharing a table."""
    return hashlib.sha256(f"fanout-bench-{n}".encode()).hexdigest()[:32]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    # Kept here rather than imported, so the receiver checks Downradar against an independent copy.
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# -- the receiver (a subprocess) ------------------------------------------------------------------------


class ReceiverState:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.arrivals: list[float] = []
        self.hooks: Counter[int] = Counter()
        self.deliveries: set[str] = set()
        self.bad_signatures = 0
        self.sample = b""

    def stats(self) -> bytes:
        return orjson.dumps(
            {
                "count": len(self.arrivals),
                "arrivals": self.arrivals,
                "hooks": len(self.hooks),
                "repeated": sum(c - 1 for c in self.hooks.values()),
                "deliveries": len(self.deliveries),
                "bad_signatures": self.bad_signatures,
                "sample": self.sample.decode(),
            }
        )


class ReceiverProtocol(asyncio.Protocol):
    def __init__(self, state: ReceiverState) -> None:
        self.state = state
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, path, _ = head[0].split(b" ", 2)
            self.transport.write(self.handle(method, path, headers, body))

    def handle(self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
        state = self.state
        if method == b"POST" and path.startswith(HOOK):
            state.arrivals.append(time.time())
            n = int(path[len(HOOK) :])
            state.hooks[n] += 1
            state.deliveries.add(headers.get(b"x-downradar-delivery", b"").decode())
            timestamp = int(headers.get(b"x-downradar-timestamp", b"0"))
            given = headers.get(b"x-downradar-signature", b"").decode()
            expected = sign(subscriber_secret(n), timestamp, body)
            if not hmac.compare_digest(given, expected) or abs(time.time() - timestamp) > 300:
                state.bad_signatures += 1
            if not state.sample:
                state.sample = body
            return OK
        if path == b"/stats":
            payload = state.stats()
            return JSON_OK % len(payload) + payload
        if path == b"/reset":
            state.reset()
        return OK


def serve_receiver(port: int) -> None:
    async def main() -> None:
        state = ReceiverState()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: ReceiverProtocol(state), "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- measuring ------------------------------------------------------------------------------------------


@dataclass
class Delivered:
    """What the receiver saw, relative to a start time."""

    count: int
    seconds: float  # start to the last arrival
    p50_ms: float
    p99_ms: float
    first_ms: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds


@dataclass
class Phases:
    """The worker's time per phase (wall clock in its thread), and the SQL it issued."""

    seconds: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    slowest: dict[str, float] = field(default_factory=dict)  # the longest single call
    statements: Counter[str] = field(default_factory=Counter)  # cursor executions
    parameter_sets: Counter[str] = field(default_factory=Counter)  # rows bound (executemany counts each)
    rounds: int = 0
    round_seconds: float = 0.0


@dataclass
class Round:
    backend: str
    subscribers: int
    open_ms: float  # the open_incident transaction, commit included
    ours: Delivered
    baseline: Delivered
    raw: Delivered  # hand-written HTTP/1.1 on plain asyncio streams: the receiver's ceiling
    phases: Phases

    @property
    def ratio(self) -> float:
        return self.ours.per_s / self.baseline.per_s


def delivered(stats: dict[str, Any], start: float) -> Delivered:
    arrivals = sorted(t - start for t in stats["arrivals"])
    cuts = statistics.quantiles(arrivals, n=100, method="inclusive")
    return Delivered(len(arrivals), arrivals[-1], cuts[49] * 1000, cuts[98] * 1000, arrivals[0] * 1000)


def receiver_stats(http: httpx.Client) -> dict[str, Any]:
    return orjson.loads(http.get("/stats").content)


def check(stats: dict[str, Any], n: int, side: str) -> None:
    problems = []
    if stats["count"] != n or stats["hooks"] != n or stats["repeated"]:
        problems.append(f"{stats['count']} POSTs to {stats['hooks']} hooks ({stats['repeated']} repeated)")
    if stats["deliveries"] != n:
        problems.append(f"{stats['deliveries']} distinct delivery ids")
    if stats["bad_signatures"]:
        problems.append(f"{stats['bad_signatures']} bad signatures")
    if problems:
        raise RuntimeError(f"{side}: expected {n} signed POSTs, one per subscriber: {'; '.join(problems)}")


def insert_subscribers(engine: Any, receiver_url: str, n: int) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "id": secrets.token_hex(8),
            "channel": "webhook",
            "address": f"{receiver_url}/hook/{i}",
            "secret": subscriber_secret(i),
            "components": [],
            "state": "active",
            "unsubscribe_token": secrets.token_hex(16),
            "created_at": now,
            "confirmed_at": now,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(subscribers.insert(), rows[start : start + 5000])


def instrument(worker: Any, engine: Any, phases: Phases, profiles: list[cProfile.Profile] | None) -> None:
    """Time the worker's database phases and count their SQL, by wrapping the instance's methods."""
    local = threading.local()

    def count(_conn: Any, _cursor: Any, _sql: str, params: Any, _context: Any, executemany: bool) -> None:
        phase = getattr(local, "phase", None)
        if phase is not None:
            phases.statements[phase] += 1
            phases.parameter_sets[phase] += len(params) if executemany else 1

    event.listen(engine, "before_cursor_execute", count)

    def wrap(name: str) -> None:
        original: Callable[..., Any] = getattr(worker, name)

        def timed(*args: Any) -> Any:
            profile = cProfile.Profile() if profiles is not None else None
            local.phase = name
            started = time.perf_counter()
            try:
                if profile is None:
                    return original(*args)
                profile.enable()
                try:
                    return original(*args)
                finally:
                    profile.disable()
                    profiles.append(profile)  # type: ignore[union-attr]
            finally:
                took = time.perf_counter() - started
                phases.seconds[name] += took
                phases.slowest[name] = max(phases.slowest.get(name, 0.0), took)
                phases.calls[name] += 1
                local.phase = None

        setattr(worker, name, timed)

    for name in ("_prepare", "_claim", "_record"):
        wrap(name)

    original_round = worker._round

    async def timed_round(channels: Any) -> int:
        started = time.perf_counter()
        attempted = await original_round(channels)
        if attempted:
            phases.rounds += 1
            phases.round_seconds += time.perf_counter() - started
        return attempted

    worker._round = timed_round


def run_ours(
    db: str | None, receiver_url: str, http: httpx.Client, n: int, concurrency: int, profile: str | None
) -> tuple[str, float, Delivered, Phases]:
    with fresh_database(db, "fanout") as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            with engine.begin() as conn:
                sync_catalog(conn, load_catalog(DEMO_CATALOG), SystemClock().now())
            insert_subscribers(engine, receiver_url, n)
            settings = Settings(
                db=url,
                secret="bench-secret",
                detect=False,
                allow_targets="127.0.0.1",
                group_wait_seconds=0,
                group_interval_seconds=0,
                deliver_poll_seconds=0.01,
                deliver_concurrency=concurrency,
            )
            worker = DeliveryWorker(
                engine, settings.areas().notify, page_url="https://status.example", clock=SystemClock()
            )
            phases = Phases()
            profiles: list[cProfile.Profile] | None = [] if profile else None
            instrument(worker, engine, phases, profiles)
            sent = 0
            original_record = worker._record

            def record(outcomes: list[Any]) -> None:
                nonlocal sent
                original_record(outcomes)
                sent += sum(1 for outcome in outcomes if outcome.error is None)
                if sent >= n:
                    worker.stop()

            worker._record = record
            http.post("/reset")

            def open_one(now: datetime) -> None:
                with engine.begin() as conn:
                    lifecycle.open_incident(
                        conn,
                        service_id="chatgpt",
                        name="Elevated error rates",
                        message="We are investigating reports of errors when sending messages.",
                        actor="bench",
                        now=now,
                    )

            async def fan_out() -> tuple[float, float]:
                loop_profile = cProfile.Profile() if profiles is not None else None
                task = asyncio.create_task(worker.run_forever_async())
                await asyncio.sleep(0.3)  # channels open, the worker is idle and polling
                for counter in (phases.seconds, phases.calls, phases.statements, phases.parameter_sets):
                    counter.clear()
                phases.slowest.clear()
                if loop_profile is not None:
                    loop_profile.enable()
                change = time.time()
                await asyncio.to_thread(open_one, datetime.fromtimestamp(change, UTC))
                committed = time.time()
                try:
                    await asyncio.wait_for(task, timeout=600)
                finally:
                    if loop_profile is not None:
                        loop_profile.disable()
                        profiles.append(loop_profile)  # type: ignore[union-attr]
                return change, committed

            change, committed = asyncio.run(fan_out())
            stats = receiver_stats(http)
            check(stats, n, "Downradar")
            with engine.connect() as conn:
                done = conn.scalar(select(func.count()).where(messages.c.status == SENT))
            if done != n:
                raise RuntimeError(f"{done} messages are sent, expected {n}")
            if profiles:
                write_profile(profiles, profile)  # type: ignore[arg-type]
            return engine.dialect.name, (committed - change) * 1000, delivered(stats, change), phases
        finally:
            engine.dispose()


def write_profile(profiles: list[cProfile.Profile], path: str) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=out)
    for extra in profiles[1:]:
        stats.add(extra)
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(60)
    with open(path, "w") as file:
        file.write(out.getvalue())
    console.print(f"[dim]cProfile of the worker (event loop and database threads) written to {path}[/dim]")


def run_baseline(receiver_url: str, http: httpx.Client, n: int, concurrency: int, sample: bytes) -> Delivered:
    """N signed POSTs of Downradar's body size from a bare client, `concurrency` in flight."""
    http.post("/reset")
    template = orjson.loads(sample)
    bodies = []
    for i in range(n):
        template["id"] = "dlv_" + secrets.token_hex(12)
        bodies.append((i, template["id"], orjson.dumps(template)))

    async def post_all() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=30, trust_env=False, limits=limits) as client:
            todo = iter(bodies)

            async def poster() -> None:
                for i, delivery, body in todo:
                    timestamp = int(time.time())
                    headers = {
                        "Content-Type": "application/json",
                        "User-Agent": "bench",
                        "X-Downradar-Delivery": delivery,
                        "X-Downradar-Timestamp": str(timestamp),
                        "X-Downradar-Signature": sign(subscriber_secret(i), timestamp, body),
                    }
                    response = await client.post(f"{receiver_url}/hook/{i}", content=body, headers=headers)
                    response.raise_for_status()

            start = time.time()
            await asyncio.gather(*(poster() for _ in range(concurrency)))
            return start

    start = asyncio.run(post_all())
    stats = receiver_stats(http)
    check(stats, n, "baseline")
    return delivered(stats, start)


def run_raw(port: int, http: httpx.Client, n: int, concurrency: int, sample: bytes) -> Delivered:
    """The receiver's own ceiling: the same signed POSTs written by hand on `concurrency` connections."""
    http.post("/reset")
    template = orjson.loads(sample)
    requests = []
    for i in range(n):
        template["id"] = "dlv_" + secrets.token_hex(12)
        body = orjson.dumps(template)
        timestamp = int(time.time())
        head = (
            f"POST /hook/{i} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Downradar-Delivery: {template['id']}\r\n"
            f"X-Downradar-Timestamp: {timestamp}\r\n"
            f"X-Downradar-Signature: {sign(subscriber_secret(i), timestamp, body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)

    async def post_all() -> float:
        todo = iter(requests)

        async def poster() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for request in todo:
                writer.write(request)
                status = await reader.readuntil(b"\r\n\r\n")  # the receiver answers with no body
                if not status.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(status.decode(errors="replace"))
            writer.close()

        start = time.time()
        await asyncio.gather(*(poster() for _ in range(concurrency)))
        return start

    start = asyncio.run(post_all())
    stats = receiver_stats(http)
    check(stats, n, "raw client")
    return delivered(stats, start)


def run(
    subscribers: int, *, db: str | None, concurrency: int, rounds: int, profile: str | None = None
) -> list[Round]:
    results = []
    command = [sys.executable, __file__, "--serve-receiver"]
    with serve(command, "/healthz") as receiver, httpx.Client(base_url=receiver.base_url) as http:
        if profile:  # an extra round under cProfile, which slows the worker: its figures are not kept
            console.print(f"[dim]profiled round (not counted): Downradar fan-out to {subscribers:,}…[/dim]")
            run_ours(db, receiver.base_url, http, subscribers, concurrency, profile)
        for number in range(1, rounds + 1):
            console.print(f"[dim]round {number}/{rounds}: Downradar fan-out to {subscribers:,}…[/dim]")
            backend, open_ms, ours, phases = run_ours(
                db, receiver.base_url, http, subscribers, concurrency, None
            )
            sample = receiver_stats(http)["sample"].encode()
            console.print(f"[dim]round {number}/{rounds}: bare httpx baseline…[/dim]")
            baseline = run_baseline(receiver.base_url, http, subscribers, concurrency, sample)
            raw = run_raw(receiver.port, http, subscribers, concurrency, sample)
            results.append(Round(backend, subscribers, open_ms, ours, baseline, raw, phases))
            console.print(
                f"[dim]  ours {ours.per_s:,.0f} msg/s, last after {ours.seconds:.2f} s; "
                f"baseline {baseline.per_s:,.0f} msg/s; raw client {raw.per_s:,.0f} msg/s; "
                f"body {len(sample):,} B[/dim]"
            )
    return results


def report(results: list[Round], concurrency: int) -> None:
    median = statistics.median
    first = results[0]

    def med(pick: Callable[[Round], float]) -> float:
        return median(pick(r) for r in results)

    table = Table(title=f"Fan-out of one incident update to {first.subscribers:,} webhooks ({first.backend})")
    table.add_column("")
    table.add_column("Downradar", justify="right")
    table.add_column(f"bare httpx ({concurrency})", justify="right")
    table.add_column(f"raw asyncio ({concurrency})", justify="right")
    sides: list[Callable[[Round], Delivered]] = [lambda r: r.ours, lambda r: r.baseline, lambda r: r.raw]
    table.add_row("messages/s", *(f"{med(lambda r, s=side: s(r).per_s):,.0f}" for side in sides))
    table.add_row("last delivered", *(f"{med(lambda r, s=side: s(r).seconds):.2f} s" for side in sides))
    table.add_row("first delivered", *(f"{med(lambda r, s=side: s(r).first_ms):,.0f} ms" for side in sides))
    table.add_row("latency p50", *(f"{med(lambda r, s=side: s(r).p50_ms):,.0f} ms" for side in sides))
    table.add_row("latency p99", *(f"{med(lambda r, s=side: s(r).p99_ms):,.0f} ms" for side in sides))
    table.add_row("open_incident txn", f"{med(lambda r: r.open_ms):,.0f} ms", "", "")
    table.add_row(
        "[bold]ratio to httpx[/bold]",
        f"[bold]{med(lambda r: r.ratio):.2f}×[/bold]",
        "1.00×",
        f"{med(lambda r: r.raw.per_s / r.baseline.per_s):.2f}×",
    )
    console.print(table)
    if len(results) > 1:
        console.print(f"[dim]ratio per round: {', '.join(f'{r.ratio:.2f}×' for r in results)}[/dim]")

    phases = Table(title="Downradar worker: where the time went (medians)")
    for column in ("phase", "calls", "seconds", "slowest", "share", "SQL runs", "rows"):
        phases.add_column(column, justify="left" if column == "phase" else "right")
    total = med(lambda r: r.phases.round_seconds)
    db_seconds = 0.0
    for name, label in (("_prepare", "prepare+group"), ("_claim", "claim+load"), ("_record", "record")):
        seconds = med(lambda r, n=name: r.phases.seconds[n])
        db_seconds += seconds
        phases.add_row(
            label,
            f"{med(lambda r, n=name: r.phases.calls[n]):,.0f}",
            f"{seconds:.2f}",
            f"{med(lambda r, n=name: r.phases.slowest.get(n, 0.0)) * 1000:,.0f} ms",
            f"{seconds / total:.0%}" if total else "",
            f"{med(lambda r, n=name: r.phases.statements[n]):,.0f}",
            f"{med(lambda r, n=name: r.phases.parameter_sets[n]):,.0f}",
        )
    sending = total - db_seconds
    phases.add_row("sending", "", f"{sending:.2f}", "", f"{sending / total:.0%}" if total else "", "", "")
    phases.add_row("rounds", f"{med(lambda r: r.phases.rounds):,.0f}", f"{total:.2f}", "", "", "", "")
    console.print(phases)
    console.print(
        "[dim]prepare+group, claim+load and record run in a thread between sends (none overlap them); "
        "calls include idle polls after the change[/dim]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", help="PostgreSQL server URL to create a scratch database on (default: SQLite)"
    )
    parser.add_argument("-n", "--subscribers", type=int, default=10_000, help="webhook subscribers (10000)")
    parser.add_argument("-c", "--concurrency", type=int, default=64, help="sends in flight, both sides (64)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, each ours then the baselines (1)")
    parser.add_argument("--profile", metavar="FILE", help="first an extra, uncounted round under cProfile")
    parser.add_argument("--serve-receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver:
        serve_receiver(args.port)
        return
    started = time.monotonic()
    console.print(f"[dim]{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}[/dim]")
    results = run(
        args.subscribers, db=args.db, concurrency=args.concurrency, rounds=args.rounds, profile=args.profile
    )
    report(results, args.concurrency)
    console.print(f"[dim]{time.monotonic() - started:.0f} s in all[/dim]")


if __name__ == "__main__":
    main()
