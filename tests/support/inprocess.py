"""The app in-process: its lifespan and requests run on an event loop in a thread, reached through httpx.

A real Uvicorn server costs a port, a start-up poll and a shutdown tick per test; here the same app (its
lifespan, middleware and background loops: writer, detection, delivery, probes) runs on an event loop of its
own and httpx speaks ASGI to it directly. Same surface as `support.servers.LiveServer` (`client()`,
`get()`, `post()`, `runtime`, `admin`, `stop()`); tests where a socket is the point (agents posting,
browsers, streams, kill -9) keep the real server.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

import httpx
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from downradar.core.config import Settings
from downradar.web.app import create_app

BASE_URL = "http://127.0.0.1"
CLIENT_ADDRESS = "127.0.0.1"  # what the app sees as the caller, as a local client would be
CLIENT_PORT = 50000
START_TIMEOUT = 30.0


class _LoopTransport(httpx.BaseTransport):
    """A synchronous httpx transport that hands each request to the app on its event loop."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop, address: str) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=(address, CLIENT_PORT))
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def send() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=body)
            response = await self._asgi.handle_async_request(forwarded)
            content = await response.aread()
            return response.status_code, response.headers.raw, content

        status, headers, content = asyncio.run_coroutine_threadsafe(send(), self._loop).result()
        return httpx.Response(status, headers=headers, content=content, request=request)


class InProcessServer:
    """The app with its lifespan entered, on an event loop in a daemon thread."""

    def __init__(self, settings: Settings, app: Any) -> None:
        self.base_url = BASE_URL
        self.settings = settings
        self.app = app
        # What Uvicorn puts in front of every app: X-Forwarded-* from 127.0.0.1 are believed.
        self._front = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="in-process-app", daemon=True)
        self._to_app: asyncio.Queue[dict[str, Any]] | None = None
        self._from_app: asyncio.Queue[dict[str, Any]] | None = None
        self._lifespan: Future[None] | None = None

    def start(self) -> InProcessServer:
        self._thread.start()
        self._lifespan = asyncio.run_coroutine_threadsafe(self._run_lifespan(), self._loop)
        message = self._receive()
        if message["type"] != "lifespan.startup.complete":
            self._close_loop()
            raise RuntimeError(f"the app did not start: {message.get('message', message)}")
        return self

    @property
    def admin(self) -> dict[str, str]:
        from support.servers import ADMIN_TOKEN

        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def client(self, *, address: str = CLIENT_ADDRESS, **kwargs: Any) -> httpx.Client:
        """A client of its own (its own cookies); `address` is the caller's IP address the app sees."""
        transport = _LoopTransport(self._front, self._loop, address)
        return httpx.Client(base_url=self.base_url, timeout=30, transport=transport, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request from a fresh client (no cookies), as `httpx.request` would send it."""
        with self.client() as http:
            return http.request(method, path, **kwargs)

    def stop(self) -> None:
        if self._lifespan is None:
            return
        self._send({"type": "lifespan.shutdown"})
        self._receive()
        self._lifespan.result(timeout=START_TIMEOUT)
        self._lifespan = None
        self._close_loop()

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=START_TIMEOUT)
        self._loop.close()

    async def _run_lifespan(self) -> None:
        self._to_app, self._from_app = asyncio.Queue(), asyncio.Queue()
        await self._to_app.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        try:
            await self._front(scope, self._to_app.get, self._from_app.put)
        except BaseException as error:  # a failed start-up must reach start(), not hang it
            await self._from_app.put({"type": "lifespan.startup.failed", "message": repr(error)})
            raise

    def _send(self, message: dict[str, Any]) -> None:
        async def put() -> None:
            assert self._to_app is not None
            await self._to_app.put(message)

        asyncio.run_coroutine_threadsafe(put(), self._loop).result(timeout=START_TIMEOUT)

    def _receive(self) -> dict[str, Any]:
        async def get() -> dict[str, Any]:
            while self._from_app is None:
                await asyncio.sleep(0)
            return await self._from_app.get()

        return asyncio.run_coroutine_threadsafe(get(), self._loop).result(timeout=START_TIMEOUT)


def start_in_process(settings: Settings, clock: Any = None, *, app: Any = None) -> InProcessServer:
    """The app (the ordinary one unless `app` is given) started in-process; `stop()` it afterwards."""
    server = InProcessServer(settings, app if app is not None else create_app(settings, clock=clock))
    return server.start()
