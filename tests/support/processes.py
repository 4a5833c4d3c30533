"""`downradar run` in a subprocess of its own: for tests where the process is the point (kill -9, fronts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.servers import ADMIN_TOKEN, free_port

START_TIMEOUT = 30.0


@dataclass
class Server:
    """`downradar run` in a subprocess of its own."""

    db_url: str
    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        command = [str(Path(sys.executable).parent / "downradar")]
        if not Path(command[0]).exists():
            command = [sys.executable, "-m", "downradar"]
        env = {
            **os.environ,
            "DOWNRADAR_ADMIN_TOKEN": ADMIN_TOKEN,
            "DOWNRADAR_SECRET": "durability-secret",
            "DOWNRADAR_REPORT_RATE_LIMIT": "1000000/second",
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "run", "--db", self.db_url, "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"server did not answer /healthz in {START_TIMEOUT:.0f} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
