"""Single-report POSTs from 64 concurrent clients, against a bare Starlette endpoint answering 202.

Ours: `downradar run` in a subprocess on a fresh database (SQLite in WAL mode with synchronous=FULL unless
--db names a PostgreSQL server), POST /api/v1/reports with a small JSON report whose client id is new on
every request (many distinct reporters). Each 202 is sent only after the report's transaction committed.

Baseline: bench/bare_app.py, a Starlette route that reads the body and answers 202, served by the same
server software with the same options (`--server`: granian, the default of `downradar run`, or uvicorn)
on the same machine, hit by the same load tool with the same requests.

Load tool: wrk (C, a Lua script builds the bodies) when it is on PATH, so the measurement is of the server
rather than of a Python client sharing its CPU; install it with `apt-get install wrk` (Debian/Ubuntu) or
`brew install wrk`. Without wrk an asyncio httpx client stands in (`--tool httpx`); it needs much more CPU
per request than wrk, so on a small machine both sides are partly client-bound and the ratio looks better
than it is.

    .venv/bin/python bench/single_post.py                      # 2 rounds of 10 s per side, SQLite
    .venv/bin/python bench/single_post.py --server uvicorn      # both sides on uvicorn
    .venv/bin/python bench/single_post.py --duration 30 --rounds 3 --db postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import func, select

from downradar.core.catalog import load_catalog
from downradar.core.config import DEMO_CATALOG
from downradar.store import make_engine
from downradar.store.schema import reports
from harness import console, downradar_server, fresh_database, machine, ratio_line, serve

TARGET = 0.5
BARE_APP = Path(__file__).with_name("bare_app.py")
PATH = "/api/v1/reports"

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local templates = {%(templates)s}
local counter = 0
prefix = "0"  -- set per thread by setup()

function setup(thread)
  thread:set("prefix", tostring(math.random(1, 2000000000)))
end

function init(args)
  math.randomseed(os.time() + tonumber(prefix))
end

function request()
  counter = counter + 1
  local body = string.format(templates[math.random(#templates)], prefix .. "-" .. counter)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"errors":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds


@dataclass
class SingleResult:
    backend: str
    tool: str
    connections: int
    ours: Load
    baseline: Load

    @property
    def ratio(self) -> float:
        return self.ours.per_s / self.baseline.per_s


def report_templates() -> list[str]:
    """JSON bodies with a %s where the client id goes: every service, component and symptom of the demo."""
    templates = []
    for service in load_catalog(DEMO_CATALOG).services:
        for i, symptom in enumerate(service.symptoms):
            body = {"service": service.id, "symptom": symptom, "region": ["US", "GB", "DE", "IN"][i % 4]}
            if service.components:
                body["component"] = service.components[i % len(service.components)].id
            templates.append(orjson.dumps({**body, "client": "bench-CLIENT"}).decode())
    return [t.replace("CLIENT", "%s") for t in templates]


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(url: str, connections: int, seconds: float, threads: int) -> Load:
    script = WRK_SCRIPT % {"templates": ", ".join(_lua_string(t) for t in report_templates())}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            file.name,
            url + PATH,
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        Path(file.name).unlink()
    line = next(x for x in reversed(output.splitlines()) if x.startswith("{"))
    stats = orjson.loads(line)
    if stats["errors"]:
        raise RuntimeError(f"wrk saw {stats['errors']} errors or non-2xx answers:\n{output}")
    return Load(stats["requests"], stats["duration_us"] / 1e6, stats["p50_us"] / 1e3, stats["p99_us"] / 1e3)


def run_httpx(url: str, connections: int, seconds: float) -> Load:
    templates = report_templates()

    async def main() -> Load:
        latencies: list[float] = []
        errors: list[str] = []
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        headers = {"Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=url, limits=limits, headers=headers, timeout=10) as http:
            started = time.perf_counter()
            deadline = started + seconds

            async def worker(n: int) -> None:
                i = 0
                while time.perf_counter() < deadline and not errors:
                    i += 1
                    body = templates[(n + i) % len(templates)] % f"httpx-{n}-{i}"
                    sent = time.perf_counter()
                    response = await http.post(PATH, content=body)
                    if response.status_code != 202:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                    latencies.append(time.perf_counter() - sent)

            await asyncio.gather(*(worker(n) for n in range(connections)))
            elapsed = time.perf_counter() - started
        if errors:
            raise RuntimeError(f"answers other than 202: {errors[0]}")
        latencies.sort()
        return Load(
            len(latencies),
            elapsed,
            latencies[len(latencies) // 2] * 1e3,
            latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
        )

    return asyncio.run(main())


@contextmanager
def bare_server(server: str) -> Iterator[str]:
    with serve([sys.executable, str(BARE_APP), "--server", server], "/healthz") as running:
        yield running.base_url


def _stored(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(reports)) or 0)
    finally:
        engine.dispose()


def run(
    *,
    db: str | None = None,
    connections: int = 64,
    duration: float = 10.0,
    rounds: int = 2,
    warmup: float = 2.0,
    tool: str = "auto",
    wrk_threads: int = 1,
    server: str = "granian",
    say: Callable[[str], None] = console.print,
) -> SingleResult:
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "httpx"
        if tool == "httpx":
            say("[yellow]wrk not found (apt-get install wrk); using the slower httpx load client[/yellow]")

    def load(url: str, seconds: float) -> Load:
        if tool == "wrk":
            return run_wrk(url, connections, seconds, wrk_threads)
        return run_httpx(url, connections, seconds)

    backend = "sqlite" if db is None or db.startswith("sqlite") else "postgresql"
    say(
        f"single POSTs: {connections} connections, {tool}, {rounds} × {duration:g} s per side "
        f"(after {warmup:g} s warm-up), {backend}, both sides on {server}"
    )
    ours: list[Load] = []
    base: list[Load] = []
    steps = rounds * 2
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("single POSTs", total=steps)
        for round_ in range(rounds):  # alternate, so drift in the machine's speed hits both sides alike
            progress.update(task, description=f"round {round_ + 1}: bare Starlette")
            with bare_server(server) as url:
                load(url, warmup)
                base.append(load(url, duration))
            progress.advance(task)
            progress.update(task, description=f"round {round_ + 1}: Downradar")
            with fresh_database(db, "single") as db_url:
                with downradar_server(db_url, server) as running:
                    load(running.base_url, warmup)
                    before = _stored(db_url)
                    ours.append(load(running.base_url, duration))
                    stored = _stored(db_url) - before
                if stored < ours[-1].requests:
                    raise RuntimeError(f"{ours[-1].requests} reports acknowledged, only {stored} stored")
            progress.advance(task)
            if rounds > 1:
                say(
                    f"  round {round_ + 1}: ours {ours[-1].per_s:,.0f} req/s, "
                    f"bare {base[-1].per_s:,.0f} req/s"
                )

    def combined(loads: list[Load]) -> Load:  # rate over all rounds, median of the rounds' percentiles
        return Load(
            sum(x.requests for x in loads),
            sum(x.seconds for x in loads),
            statistics.median(x.p50_ms for x in loads),
            statistics.median(x.p99_ms for x in loads),
        )

    result = SingleResult(backend, tool, connections, combined(ours), combined(base))
    for name, x in (("ours", result.ours), ("bare", result.baseline)):
        say(f"  {name}: {x.per_s:,.0f} req/s, p50 {x.p50_ms:.1f} ms, p99 {x.p99_ms:.1f} ms")
    say(ratio_line(f"single POST ({backend})", result.ours.per_s, result.baseline.per_s, TARGET, "req/s"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", help="PostgreSQL server URL to create scratch databases on (default: SQLite)")
    parser.add_argument("-c", "--connections", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds per measurement (10)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds, pooled (2)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measurement")
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto", help="load tool (auto)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1: leave CPU to the server)")
    parser.add_argument("--server", choices=("granian", "uvicorn"), default="granian", help="for both sides")
    args = parser.parse_args()
    console.print(f"[dim]{machine()}[/dim]")
    run(
        db=args.db,
        connections=args.connections,
        duration=args.duration,
        rounds=args.rounds,
        warmup=args.warmup,
        tool=args.tool,
        wrk_threads=args.wrk_threads,
        server=args.server,
    )


if __name__ == "__main__":
    main()
