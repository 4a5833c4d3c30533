"""A fake provider status page on 127.0.0.1 for the upstream tests: http.server in a thread.

It serves whatever documents the test sets (by path: `/api/v2/summary.json`, `/history.atom`, …) with an
ETag and a Last-Modified, answers conditional requests with 304, and counts requests and 304s. It can be
switched to answer 500, closed (the port stops listening: connection refused) and opened again on the
same port, while the test runs.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SUMMARY_PATH = "/api/v2/summary.json"
ATOM_PATH = "/history.atom"


class _Document:
    def __init__(self, body: bytes, content_type: str, modified: float) -> None:
        self.body = body
        self.content_type = content_type
        self.etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        # HTTP dates have whole seconds; a new body must look newer than the old one.
        self.last_modified = formatdate(modified, usegmt=True)


class FakeUpstream:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.documents: dict[str, _Document] = {}
        self.failing_status: int | None = None
        self.requests: Counter[str] = Counter()
        self.conditional_hits = 0
        self._clock = time.time() - 3600  # Last-Modified times: one second later for every new body
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._listen()

    # --- what it serves ---

    def set_document(self, path: str, body: bytes, content_type: str) -> None:
        with self.lock:
            current = self.documents.get(path)
            if current is not None and current.body == body:
                return
            self._clock += 1
            self.documents[path] = _Document(body, content_type, self._clock)

    def set_summary(self, data: dict[str, Any]) -> None:
        self.set_document(SUMMARY_PATH, json.dumps(data).encode(), "application/json")

    def set_summary_body(self, body: bytes) -> None:
        self.set_document(SUMMARY_PATH, body, "application/json")

    def set_atom(self, text: str | bytes) -> None:
        body = text.encode() if isinstance(text, str) else text
        self.set_document(ATOM_PATH, body, "application/atom+xml; charset=utf-8")

    def remove(self, path: str) -> None:
        with self.lock:
            self.documents.pop(path, None)

    def fail(self, status: int = 500) -> None:
        with self.lock:
            self.failing_status = status

    def recover(self) -> None:
        with self.lock:
            self.failing_status = None

    # --- reachability ---

    def close(self) -> None:
        """Stop listening: clients now get connection refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def reopen(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self._listen(self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeUpstream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- internals ---

    def _listen(self, port: int = 0) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def _answer(self, path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests[path] += 1
            if self.failing_status is not None:
                return self.failing_status, {"content-type": "text/html"}, b"<h1>Internal Server Error</h1>"
            document = self.documents.get(path)
            if document is None:
                return 404, {"content-type": "text/plain"}, b"not found"
            validators = {"etag": document.etag, "last-modified": document.last_modified}
            if _not_modified(document, headers):
                self.conditional_hits += 1
                return 304, validators, b""
            return 200, {**validators, "content-type": document.content_type}, document.body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = fake._answer(self.path.split("?")[0], self.headers)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


def _not_modified(document: _Document, headers: Any) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:  # RFC 9110: If-None-Match wins over If-Modified-Since
        return document.etag in [tag.strip() for tag in if_none_match.split(",")]
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        return parsedate_to_datetime(document.last_modified) <= parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
