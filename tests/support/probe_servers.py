"""Real targets on 127.0.0.1 for the probe tests: an HTTP(S) server and a UDP DNS server, in threads.

The HTTP server's paths behave the way probed services misbehave:

    /ok               200 "all ok"
    /flap             200 and 500 alternately
    /slow?ms=N        waits N ms, then 200 "all ok" (or ?status=N)
    /status/N         answers status N
    /json             {"status": {"indicator": "none"}, "items": [{"up": true}, {"up": false}]}
    /post             200 only for POST with header X-Probe-Token: s3cret and body "ping", else 400
    /redirect         302 to /ok
    /set-cookie       200 and a cookie; /cookie echoes the Cookie header it got

It counts requests per path and the most that were in flight at once for each.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

JSON_BODY = {"status": {"indicator": "none"}, "items": [{"up": True}, {"up": False}]}


class ProbeTarget:
    """An HTTP server in a thread; HTTPS when given a server-side SSLContext."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self._flap = 0
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                target._handle(self)

            def do_POST(self) -> None:
                target._handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ProbeTarget:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}{path}"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        path = parts.path
        body = request.rfile.read(int(request.headers.get("content-length") or 0))
        with self.lock:
            self.hits[path] += 1
            self.in_flight[path] += 1
            self.max_in_flight[path] = max(self.max_in_flight[path], self.in_flight[path])
        try:
            status, payload, headers = self._answer(request, path, parse_qs(parts.query), body)
        finally:
            with self.lock:
                self.in_flight[path] -= 1
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _answer(
        self, request: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        if path == "/flap":
            with self.lock:
                self._flap += 1
                failing = self._flap % 2 == 0
            return (500, b"oops", {}) if failing else (200, b"all ok", {})
        if path == "/slow":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
            return int(query.get("status", ["200"])[0]), b"all ok", {}
        if path.startswith("/status/"):
            return int(path.rsplit("/", 1)[1]), b"status page says hi", {}
        if path == "/json":
            return 200, json.dumps(JSON_BODY).encode(), {"Content-Type": "application/json"}
        if path == "/post":
            good = (
                request.command == "POST"
                and request.headers.get("x-probe-token") == "s3cret"
                and body == b"ping"
            )
            return (200, b"pong", {}) if good else (400, b"bad request", {})
        if path == "/redirect":
            return 302, b"", {"Location": "/ok"}
        if path == "/set-cookie":
            return 200, b"all ok", {"Set-Cookie": "session=abc; Path=/"}
        if path == "/cookie":
            return 200, (request.headers.get("cookie") or "no cookie").encode(), {}
        return 200, b"all ok", {}


class DNSServer:
    """A UDP DNS server on 127.0.0.1 that knows one name; NXDOMAIN for every other. With `silent`, it
    reads queries and never answers (for timeouts)."""

    def __init__(
        self, name: str = "svc.probe.test.", address: str = "10.0.0.7", silent: bool = False
    ) -> None:
        self.name = name
        self.address = address
        self.silent = silent
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> DNSServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            if self.silent:
                continue
            query = dns.message.from_wire(wire)
            reply = dns.message.make_response(query)
            question = query.question[0]
            if question.name.to_text().lower() == self.name:
                if question.rdtype == dns.rdatatype.A:
                    reply.answer.append(dns.rrset.from_text(self.name, 60, "IN", "A", self.address))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self._sock.sendto(reply.to_wire(), peer)
