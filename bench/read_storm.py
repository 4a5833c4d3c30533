"""A refresh storm: the overview page and /api/v2/summary.json under wrk, Downradar against nginx.

Ours: `downradar run` (a fresh SQLite file, or a scratch database on `--db`'s PostgreSQL server, the demo
catalog, one open incident so the pages show an outage) with each ASGI server asked for (`--server`),
while a separate process POSTs reports to /api/v1/reports at a steady `--ingest-rate`: the pages are
served from the page cache (web/serving/page_cache.py), rendered again at every detector tick and every 5 s.

Baseline: nginx serving the same bytes (fetched from Downradar just before) from disk, with its stock
production settings (a worker per core, sendfile, keep-alive; `--nginx-workers 1` for one process, as
Downradar is one), on the same machine under the same wrk command. The ingest load runs during the nginx
run too, against the Downradar server, which serves nothing else then: both runs share the machine with
the same background work.

Target (issue 6): Downradar's req/s at least 0.5× nginx's and its p99 at most 10 ms, at 64 connections.

    .venv/bin/python bench/read_storm.py                        # granian and uvicorn, 10 s per run
    .venv/bin/python bench/read_storm.py --server granian --duration 20
    .venv/bin/python bench/read_storm.py --server granian --nginx-workers 1
    .venv/bin/python bench/read_storm.py --db postgresql://postgres@127.0.0.1:5432/test

Needs wrk and nginx (Debian packages); as root it installs them with apt-get, else it says so and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from statistics import median

import httpx
from rich.table import Table

from harness import (
    ADMIN_TOKEN,
    Subprocess,
    console,
    downradar_command,
    free_port,
    fresh_database,
    machine,
    serve,
)

PATHS = {"overview": "/", "summary.json": "/api/v2/summary.json"}
TARGET_RATIO = 0.5
MAX_INGEST_IN_FLIGHT = 32
TARGET_P99_MS = 10.0
SERVER_ENV = {
    "DOWNRADAR_ADMIN_TOKEN": ADMIN_TOKEN,
    "DOWNRADAR_SECRET": "bench-secret",
    "DOWNRADAR_REPORT_RATE_LIMIT": "10000000/second",
}
NGINX_CONF = """\
worker_processes {workers};
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp; fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
    types {{ text/html html; application/json json; }}
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/www;
        location = / {{ default_type text/html; try_files /index.html =404; }}
    }}
}}
"""


@dataclass(frozen=True)
class Run:
    target: str
    path: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def ensure_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        console.print(f"Installing {', '.join(missing)} with apt-get…")
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=False, stdout=subprocess.DEVNULL)
    still = [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None]
    if still:
        sys.exit(f"read_storm needs {' and '.join(still)}: apt-get install -y nginx wrk")


def wrk(url: str, *, duration: float, connections: int, threads: int) -> Run:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", url]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    found = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(found.group(1)) if found else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Run("", url, rate, p50, p99, errors)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def ingest(url: str, rate: float, stop_at: float, sent: Synchronized[int], failed: Synchronized[int]) -> None:
    """POST one report every 1/rate seconds until stop_at: a steady stream, each report sent on time
    whatever the answers to the earlier ones take (up to MAX_INGEST_IN_FLIGHT at once)."""
    asyncio.run(_ingest(url, rate, stop_at, sent, failed))


async def _ingest(
    url: str, rate: float, stop_at: float, sent: Synchronized[int], failed: Synchronized[int]
) -> None:
    services = ("chatgpt", "claude", "github", "slack")
    in_flight = asyncio.Semaphore(MAX_INGEST_IN_FLIGHT)
    limits = httpx.Limits(max_connections=MAX_INGEST_IN_FLIGHT)

    async def one(client: httpx.AsyncClient, n: int) -> None:
        body = {"service": services[n % len(services)], "symptom": "down", "client": f"storm-{n}"}
        try:
            ok = (await client.post("/api/v1/reports", json=body)).status_code == 202
        except httpx.HTTPError:
            ok = False
        finally:
            in_flight.release()
        counter = sent if ok else failed
        with counter.get_lock():
            counter.value += 1

    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        tasks = []
        next_at = time.monotonic()
        n = 0
        while time.monotonic() < stop_at:
            await in_flight.acquire()
            tasks.append(asyncio.create_task(one(client, n)))
            n += 1
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*tasks)


@contextmanager
def ingesting(url: str, rate: float, seconds: float) -> Iterator[tuple[Synchronized[int], Synchronized[int]]]:
    context = multiprocessing.get_context("spawn")
    sent, failed = context.Value("q", 0), context.Value("q", 0)
    process = context.Process(target=ingest, args=(url, rate, time.monotonic() + seconds, sent, failed))
    process.start()
    try:
        yield sent, failed
    finally:
        process.join(timeout=seconds + 30)
        if process.is_alive():
            process.terminate()


def start_nginx(pages: dict[str, bytes], workers: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    prefix = Path(tempfile.mkdtemp(prefix="downradar-bench-nginx-"))
    prefix.chmod(0o755)  # nginx's workers run as nobody and must read the pages
    (prefix / "tmp").mkdir()
    for path, body in pages.items():
        target = prefix / "www" / ("index.html" if path == "/" else path.lstrip("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    for item in prefix.rglob("*"):
        item.chmod(0o755 if item.is_dir() else 0o644)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, workers=workers))
    process = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/", timeout=1).status_code == 200:
                return process, base, prefix
        except httpx.TransportError:
            time.sleep(0.05)
    process.terminate()
    log = prefix / "error.log"
    sys.exit(f"nginx did not start: {log.read_text() if log.exists() else ''}")


@contextmanager
def downradar(db_url: str, server: str) -> Iterator[Subprocess]:
    command = [*downradar_command(), "run", "--db", db_url, "--server", server]
    with serve(command, "/healthz", SERVER_ENV) as running:
        yield running


def open_outage(base_url: str) -> None:
    """One open incident: the storm comes during an outage, and the pages show it."""
    response = httpx.post(
        base_url + "/api/v1/incidents",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={
            "service": "chatgpt",
            "name": "Conversations fail to load",
            "message": "We are investigating reports of errors.",
            "status": "investigating",
            "impact": "major",
            "components": {"conversations": "major_outage"},
        },
        timeout=10,
    )
    response.raise_for_status()


def storm(url: str, args: argparse.Namespace) -> Run:
    subprocess.run(["wrk", "-t1", "-c8", "-d1s", url], check=True, capture_output=True)  # warm up
    return wrk(url, duration=args.duration, connections=args.connections, threads=args.threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="PostgreSQL server to make a scratch database on (default: SQLite)")
    parser.add_argument("--server", choices=("granian", "uvicorn", "both"), default="both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="nginx-then-ours pairs per page; medians reported"
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--nginx-workers",
        default="auto",
        help="nginx's worker_processes: auto (one per core, its stock setting) or 1 (one process, like ours)",
    )
    parser.add_argument("--ingest-rate", type=float, default=200.0, help="reports per second during runs")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    ensure_tools()
    servers = ("granian", "uvicorn") if args.server == "both" else (args.server,)
    console.print(
        f"[bold]Read storm[/bold]: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, "
        f"{args.rounds} round(s) of nginx then Downradar per page, "
        f"{args.ingest_rate:g} reports/s ingested meanwhile; {machine()}"
    )
    pairs: list[Pair] = []
    ingest_totals: list[str] = []
    with fresh_database(args.db, "storm") as db_url, ExitStack() as nginx_running:
        base = ""
        for server in servers:
            with downradar(db_url, server) as ours:
                if not base:
                    open_outage(ours.base_url)
                    pages = {
                        path: httpx.get(ours.base_url + path, timeout=30).content for path in PATHS.values()
                    }
                    base = nginx_running.enter_context(nginx(pages, args.nginx_workers))
                for round_ in range(1, args.rounds + 1):
                    for name, path in PATHS.items():
                        # Back to back, so both runs of a pair share whatever else the machine is doing.
                        theirs = _measured(base + path, ours.base_url, args, ingest_totals, f"nginx {name}")
                        mine = _measured(
                            ours.base_url + path, ours.base_url, args, ingest_totals, f"{server} {name}"
                        )
                        pairs.append(Pair(server, name, round_, theirs, mine))
    _print(
        pairs,
        ingest_totals,
        {name: len(body) for name, body in zip(PATHS, pages.values(), strict=True)},
        args,
    )


@dataclass(frozen=True)
class Pair:
    """One round on one page: nginx's run and ours, measured back to back."""

    server: str
    page: str
    round: int
    nginx: Run
    ours: Run

    @property
    def ratio(self) -> float:
        return self.ours.requests_per_s / self.nginx.requests_per_s


def _measured(url: str, ingest_url: str, args: argparse.Namespace, totals: list[str], label: str) -> Run:
    with ingesting(ingest_url, args.ingest_rate, args.duration + 1.5) as (sent, failed):
        run = storm(url, args)
    totals.append(f"{label}: {sent.value} reports accepted, {failed.value} failed")
    return run


@contextmanager
def nginx(pages: dict[str, bytes], workers: str) -> Iterator[str]:
    process, base, prefix = start_nginx(pages, workers)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(prefix, ignore_errors=True)


def _print(
    pairs: list[Pair], ingest_totals: list[str], sizes: dict[str, int], args: argparse.Namespace
) -> None:
    rounds = Table(title="Each round (nginx, then Downradar, back to back)")
    for column in (
        "server",
        "page",
        "round",
        "nginx req/s",
        "ours req/s",
        "× nginx",
        "nginx p99",
        "ours p99",
    ):
        rounds.add_column(column, justify="left" if column in ("server", "page") else "right")
    for pair in pairs:
        rounds.add_row(
            pair.server,
            pair.page,
            str(pair.round),
            f"{pair.nginx.requests_per_s:,.0f}",
            f"{pair.ours.requests_per_s:,.0f}",
            f"{pair.ratio:.2f}",
            f"{pair.nginx.p99_ms:.2f}",
            f"{pair.ours.p99_ms:.2f}",
        )
    console.print(rounds)
    summary = Table(title=f"Refresh storm: medians of {args.rounds} round(s) (wrk, same machine)")
    columns = ("served by", "page", "bytes", "req/s", "nginx req/s", "× nginx", "p50 ms", "p99 ms", "errors")
    for column in (*columns, "target"):
        summary.add_column(column, justify="left" if column in ("served by", "page", "target") else "right")
    groups: dict[tuple[str, str], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault((pair.server, pair.page), []).append(pair)
    for (server, page), group in groups.items():
        ratio = median(p.ratio for p in group)
        p99 = median(p.ours.p99_ms for p in group)
        met = ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS
        summary.add_row(
            f"downradar ({server})",
            page,
            f"{sizes[page]:,}",
            f"{median(p.ours.requests_per_s for p in group):,.0f}",
            f"{median(p.nginx.requests_per_s for p in group):,.0f}",
            f"{ratio:.2f}",
            f"{median(p.ours.p50_ms for p in group):.2f}",
            f"{p99:.2f}",
            str(sum(p.ours.errors + p.nginx.errors for p in group)),
            "[green]meets[/green]" if met else "[red]misses[/red]",
        )
    console.print(summary)
    console.print(
        f"Target: ≥ {TARGET_RATIO}× nginx's req/s and p99 ≤ {TARGET_P99_MS:g} ms "
        f"(nginx: {args.nginx_workers} workers; ratios are per round, then the median)."
    )
    for line in ingest_totals:
        console.print(f"  ingest during {line}")


if __name__ == "__main__":
    main()
