"""A real webhook receiver on 127.0.0.1 for the notification tests: http.server in a thread.

It answers 503 to the first `fail_first` requests, then waits `delay` seconds and answers 200, and keeps
every request it answered (or was about to answer) with its headers and raw body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    status: int
    headers: dict[str, str]
    body: bytes
    path: str = "/"

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        timestamp = self.headers["x-downradar-timestamp"]
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers["x-downradar-signature"], f"sha256={expected}")


class Receiver:
    def __init__(self, *, fail_first: int = 0, delay: float = 0.0) -> None:
        self.fail_first = fail_first
        self.delay = delay
        self.lock = threading.Lock()
        self.arrived = 0  # requests whose body was read
        self.answered = 0  # requests whose answer was written
        self.requests: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.arrived += 1
                    failing = receiver.arrived <= receiver.fail_first
                status = 503 if failing else 200
                if not failing:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    headers = {key.lower(): value for key, value in self.headers.items()}
                    receiver.requests.append(Received(status, headers, body, self.path))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
                with receiver.lock:
                    receiver.answered += 1

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.status == 200]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
