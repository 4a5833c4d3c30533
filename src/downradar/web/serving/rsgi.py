"""Serving over granian's RSGI interface: page-cache hits in one call, the rest through the ASGI app.

Under a refresh storm nearly every request is a page-cache hit. Over ASGI each one costs granian a scope
dict, a task and two `send` awaits, each crossing between its Rust threads and the Python thread; over
RSGI a hit is one synchronous `response_bytes` with the stored bytes (bench/read_storm.py measures the
difference). Everything else — renders, POSTs, the admin, static files — gets an ASGI scope, `receive`
and `send` made from RSGI's, so the application stays plain ASGI and runs under uvicorn unchanged.

RSGI has no lifespan protocol: cli._serve_granian runs the application's lifespan around the server.
"""

from __future__ import annotations

import logging
from typing import Any

from granian.rsgi import ProtocolClosed
from starlette.types import ASGIApp, Message, Scope

from downradar.web.serving.page_cache import PageCache, keyed_request, personal

log = logging.getLogger("downradar.web")
ASGI = {"version": "3.0", "spec_version": "2.3"}
WHOLE_BODY_LIMIT = 1 << 20  # a body this size or smaller, with a Content-Length, is read in one await
_SERVER_ERROR = (500, [("content-type", "text/plain; charset=utf-8")], b"Internal Server Error")


class RSGIFront:
    """The RSGI application granian serves: `cache` hits answered here, the rest handed to `app`."""

    def __init__(self, app: ASGIApp, cache: PageCache | None) -> None:
        self.app = app
        self.cache = cache

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":  # websockets are off: granian is started with websockets=False
            return
        if self.cache is not None and self._answered_from_cache(scope, protocol):
            return
        await _Exchange(scope, protocol).run(self.app)

    def _answered_from_cache(self, scope: Any, protocol: Any) -> bool:
        method = scope.method
        if method != "GET" and method != "HEAD":
            return False
        headers = scope.headers
        if personal(headers.get("authorization"), headers.get("cookie")):
            return False
        if_none_match = headers.get("if-none-match")
        request = keyed_request(
            scope.path,
            scope.query_string.encode("latin-1"),
            method,
            if_none_match.encode("latin-1") if if_none_match is not None else None,
            headers.get("accept-language"),
        )
        if request is None:
            return False
        assert self.cache is not None
        entry = self.cache.fresh(request.key)
        if entry is None:  # a miss: the ASGI middleware renders it (once, however many ask meanwhile)
            return False
        if entry.not_modified(request.if_none_match):
            protocol.response_empty(304, entry.text_not_modified_headers)
        else:
            protocol.response_bytes(200, entry.text_headers, b"" if request.head else entry.body)
        return True


def asgi_scope(scope: Any) -> Scope:
    """The ASGI HTTP scope of an RSGI request (granian gives the path already percent-decoded)."""
    return {
        "type": "http",
        "asgi": ASGI,
        "http_version": scope.http_version,
        "method": scope.method,
        "scheme": scope.scheme,
        "path": scope.path,
        "query_string": scope.query_string.encode("latin-1"),
        "root_path": "",
        "headers": [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in scope.headers.items()
        ],
        "client": _address(scope.client),
        "server": _address(scope.server),
        "extensions": {},
    }


def _address(text: str | None) -> tuple[str, int] | None:
    """ "127.0.0.1:5000" or "[::1]:5000" as (host, port)."""
    if not text:
        return None
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


class _Exchange:
    """One request through the ASGI app: `receive` reads RSGI's body, `send` answers through it."""

    def __init__(self, scope: Any, protocol: Any) -> None:
        self.scope = asgi_scope(scope)
        self.protocol = protocol
        length = scope.headers.get("content-length")
        self.whole_body = length is not None and length.isdigit() and int(length) <= WHOLE_BODY_LIMIT
        self.chunks: Any = None
        self.body_done = False
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self.transport: Any = None
        self.finished = False
        self.closed = False

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except Exception:
            log.exception("request failed: %s %s", self.scope["method"], self.scope["path"])
            if self.transport is None and not self.finished:
                self.protocol.response_bytes(*_SERVER_ERROR)
            return
        if self.transport is None and not self.finished:
            log.error("no response from the application: %s %s", self.scope["method"], self.scope["path"])
            self.protocol.response_bytes(*_SERVER_ERROR)

    async def receive(self) -> Message:
        if not self.body_done:
            try:
                return await self._body()
            except ProtocolClosed:  # the client went away mid-body
                self.body_done = True
                return {"type": "http.disconnect"}
        # Once the body is read, the only thing left to hear is the client leaving (event streams wait here).
        await self.protocol.client_disconnect()
        return {"type": "http.disconnect"}

    async def _body(self) -> Message:
        if self.whole_body:
            self.body_done = True
            return {"type": "http.request", "body": await self.protocol(), "more_body": False}
        if self.chunks is None:
            self.chunks = aiter(self.protocol)
        try:
            chunk = await anext(self.chunks)
        except StopAsyncIteration:
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": bytes(chunk), "more_body": True}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in message.get("headers", ())
            ]
            return
        if kind != "http.response.body" or self.finished or self.closed:
            return
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self.transport is None and not more:  # the usual case: the whole response in one message
            self.protocol.response_bytes(self.status, self.headers, body)
            self.finished = True
            return
        if self.transport is None:
            self.transport = self.protocol.response_stream(self.status, self.headers)
        if body:
            try:
                await self.transport.send_bytes(body)
            except ProtocolClosed:  # the stream's reader left; receive() says so next
                self.closed = True
                return
        if not more:
            self.finished = True
