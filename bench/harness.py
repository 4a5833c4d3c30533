"""What the intake benchmarks share: fresh databases, `downradar run` in a subprocess, result lines.

Not a test: these scripts measure; the ratios they print compare against a baseline run on the same
machine in the same run, because absolute numbers on shared machines mean little.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from downradar.core.config import database_url

ADMIN_TOKEN = "bench-admin-token"
console = Console(highlight=False)


def progress_bar() -> Progress:
    """The benchmarks' Rich progress bar for long set-up work: description, bar, n of m, time elapsed."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def fresh_database(base: str | None, label: str) -> Iterator[str]:
    """A new empty database: a SQLite file in a temporary folder, or a new database on `base`'s server."""
    if base is None or base.startswith("sqlite"):
        folder = Path(tempfile.mkdtemp(prefix=f"downradar-bench-{label}-"))
        try:
            yield f"sqlite:///{folder / 'bench.db'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    admin_url = database_url(base)
    name = f"downradar_bench_{label}_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def downradar_command() -> list[str]:
    script = Path(sys.executable).parent / "downradar"
    return [str(script)] if script.exists() else [sys.executable, "-m", "downradar"]


@dataclass
class Subprocess:
    """A server in a subprocess, answering on 127.0.0.1:port."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.base_url + path, timeout=1).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not answer {path} in {timeout:.0f} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextmanager
def serve(command: list[str], ready_path: str, env: dict[str, str] | None = None) -> Iterator[Subprocess]:
    """Run `command` (which gets `--port N` appended) until the block ends."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="downradar-bench-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Subprocess(process, port, log)
    profiler: subprocess.Popen[bytes] | None = None
    try:
        server.wait_ready(ready_path)
        profile = os.environ.get("DOWNRADAR_BENCH_PROFILE")  # py-spy collapsed stacks of the server
        if profile:
            py_spy = Path(sys.executable).parent / "py-spy"
            profiler = subprocess.Popen(
                [
                    str(py_spy),
                    "record",
                    "--pid",
                    str(process.pid),
                    "--format",
                    "raw",
                    "-o",
                    profile,
                    "-r",
                    "200",
                    # e.g. "--gil": only samples holding the GIL, i.e. the CPU the interpreter spends
                    *os.environ.get("DOWNRADAR_BENCH_PROFILE_ARGS", "").split(),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
        yield server
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        server.stop()
        log.unlink(missing_ok=True)


@contextmanager
def downradar_server(db_url: str, server: str = "granian", **env: str) -> Iterator[Subprocess]:
    """`downradar run` on db_url (served by `server`) with the admin token set and the per-address rate
    limit out of the way."""
    settings = {
        "DOWNRADAR_ADMIN_TOKEN": ADMIN_TOKEN,
        "DOWNRADAR_SECRET": "bench-secret",
        "DOWNRADAR_REPORT_RATE_LIMIT": "10000000/second",
        **env,
    }
    with serve(
        [*downradar_command(), "run", "--db", db_url, "--server", server], "/healthz", settings
    ) as running:
        yield running


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"


def ratio_line(name: str, ours: float, baseline: float, target: float, unit: str) -> str:
    ratio = ours / baseline if baseline else float("nan")
    verdict = "[green]meets[/green]" if ratio >= target else "[red]misses[/red]"
    return (
        f"[bold]{name}[/bold]: {ours:,.0f} {unit} vs baseline {baseline:,.0f} {unit} = "
        f"[bold]{ratio:.2f}×[/bold] ({verdict} the {target:.2f}× target)"
    )
