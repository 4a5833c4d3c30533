"""The page cache: the public pages and `/api/v2/*.json` are rendered once per change, then served as bytes.

A pure ASGI middleware in front of the application. For a GET or HEAD of a cacheable path it serves the
stored response when it is still current: rendered at the change bus's present generation (and, for a
service's own pages, its report generation) and younger than the TTL. The TTL is the backstop for changes
this process cannot see (another process on SQLite) and for what moves by itself (report counts, "updated"
times). Every stored response carries a strong ETag; a matching If-None-Match gets a 304.

Only 200 responses are stored, and never one that sets a cookie, says `no-store` or `private`, varies on
anything but Accept-Language, or streams (`text/event-stream`). Everything else — other methods, other
paths, /admin, /api/v1, requests carrying credentials — passes straight through, untouched and unbuffered.

Concurrent misses for one key render once (single-flight): the first request renders, the others wait for
it, or, when an older copy exists, are served that copy meanwhile — under a refresh storm nobody's latency
includes a render but the one request that triggered it.

Cache-Control: the application's own header is kept (pages and the JSON say `no-cache`, badges a short
public max-age); where a route sets none, `no-cache` is added. `no-cache` + ETag means browsers and CDNs
ask every time, and the answer is a 304 from memory: a status page must not keep saying "operational" for
max-age seconds after the incident was posted, and revalidating costs us only the bytes of the headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from downradar.store.changes import ChangeBus
from downradar.web.timefmt import DEFAULT_LANGUAGE, negotiate_language

TTL_SECONDS = 5.0
MAX_ENTRIES = 1024
MAX_BYTES = 64 * 1024 * 1024
MAX_BODY = 4 * 1024 * 1024  # a bigger response passes through instead of being kept
REPORT_FORM = re.compile(r"^/services/([^/]+)/report$")
# (pattern, whether the path's first group is a service whose report counts the page shows)
CACHEABLE: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(r"^/$"), False),
    (re.compile(r"^/services/([^/]+)$"), True),
    (re.compile(r"^/services/([^/]+)/live\.json$"), True),
    (re.compile(r"^/incidents/[^/]+$"), False),
    (re.compile(r"^/history(?:\.atom|\.rss)?$"), False),
    (re.compile(r"^/badge/[^/]+(?:/[^/]+)?\.svg$"), False),
    (re.compile(r"^/embed/[^/]+$"), False),
    (re.compile(r"^/api/v2/[\w/.-]+\.json$"), False),
)
# Query parameters that mean "this visitor just did something": their page is rendered for them alone.
PERSONAL_PARAMS = frozenset({"reported"})
VARY_ALLOWED = frozenset({"accept-language"})
# The admin session's cookie name (web/admin/session.COOKIE; importing it would load the whole admin UI).
ADMIN_COOKIE = "downradar_admin"


@dataclass(eq=False, slots=True)
class Entry:
    """One stored response, with its headers for a 200 and for a 304 made once."""

    etag: bytes
    body: bytes
    headers: list[tuple[bytes, bytes]]
    not_modified_headers: list[tuple[bytes, bytes]]
    generation: int
    service_id: str | None
    service_generation: int
    expires: float
    size: int = field(init=False)
    # The same headers as text, for servers whose interface takes str pairs (RSGI); made once per render.
    text_headers: list[tuple[str, str]] = field(init=False)
    text_not_modified_headers: list[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.body) + sum(len(k) + len(v) for k, v in self.headers)
        self.text_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers]
        self.text_not_modified_headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in self.not_modified_headers
        ]

    def not_modified(self, if_none_match: bytes | None) -> bool:
        """Whether the request's If-None-Match is answered with a 304."""
        return if_none_match is not None and _matches(if_none_match, self.etag)


@dataclass
class CacheStats:
    hits: int = 0
    renders: int = 0
    passes: int = 0  # cacheable path, response not storable


@dataclass(slots=True)
class _Request:
    key: tuple[str, bytes, str]
    if_none_match: bytes | None
    head: bool
    service_id: str | None = None  # set once the path is known cacheable


class PageCache:
    """The store: an LRU bounded by entries and bytes, and the renders in flight (single-flight)."""

    def __init__(
        self,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        bus: ChangeBus | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bus = bus or ChangeBus()  # the app passes its own, attached to its engine
        self.clock = clock
        self.stats = CacheStats()
        self._entries: OrderedDict[tuple[str, bytes, str], Entry] = OrderedDict()
        self._bytes = 0
        self._inflight: dict[tuple[str, bytes, str], asyncio.Future[Entry | None]] = {}

    def current(self, entry: Entry) -> bool:
        if entry.expires <= self.clock() or entry.generation != self.bus.generation():
            return False
        service_id = entry.service_id
        return service_id is None or entry.service_generation == self.bus.service_generation(service_id)

    def fresh(self, key: tuple[str, bytes, str]) -> Entry | None:
        """The stored response for `key` if it is still current (a hit), counted; else None."""
        entry = self._entries.get(key)
        if entry is None or not self.current(entry):
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return entry

    def get(self, key: tuple[str, bytes, str]) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, bytes, str], entry: Entry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        if entry.size > self.max_bytes:
            return
        self._entries[key] = entry
        self._bytes += entry.size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes


class PageCacheMiddleware:
    """ASGI middleware serving PageCache's entries; see the module docstring for what is cached."""

    def __init__(self, app: ASGIApp, cache: PageCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            if method == "POST":
                await self._pass_report_form(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        # The hit path first, and as short as it can be: a storm is almost all hits.
        request = _request(scope)
        if request is None:
            await self.app(scope, receive, send)
            return
        cache = self.cache
        hit = cache.fresh(request.key)
        if hit is not None:
            await _send_entry(send, hit, request)
            return
        entry = cache.get(request.key)  # an outdated copy, if any
        if entry is None and not _cacheable_path(scope["path"], request):
            await self.app(scope, receive, send)
            return
        inflight = cache._inflight.get(request.key)
        if inflight is not None:
            if entry is not None:  # someone is already rendering: the older copy is served meanwhile
                cache.stats.hits += 1
                await _send_entry(send, entry, request)
                return
            rendered = await asyncio.shield(inflight)
            if rendered is not None:
                cache.stats.hits += 1
                await _send_entry(send, rendered, request)
            else:
                await self._pass(scope, receive, send, request.head)
            return
        await self._render(scope, receive, send, request)

    async def _render(self, scope: Scope, receive: Receive, send: Send, request: _Request) -> None:
        cache = self.cache
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        cache._inflight[request.key] = future
        # Read before rendering: a change during the render leaves the entry already outdated.
        generation = cache.bus.generation()
        service_generation = cache.bus.service_generation(request.service_id) if request.service_id else 0
        entry: Entry | None = None
        try:
            cache.stats.renders += 1
            capture = _Capture(send, request.head)
            await self.app(_as_get(scope), receive, capture)
            if capture.storable:
                entry = _entry(
                    capture, generation, request.service_id, service_generation, cache.clock() + cache.ttl
                )
                cache.put(request.key, entry)
            else:
                cache.stats.passes += 1
        finally:
            del cache._inflight[request.key]
            future.set_result(entry)
        if entry is not None:
            await _send_entry(send, entry, request)

    async def _pass(self, scope: Scope, receive: Receive, send: Send, head: bool) -> None:
        await self.app(_as_get(scope), receive, _Capture(send, head, passthrough=True))

    async def _pass_report_form(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The report form's POST: once it redirects (the report is committed), the service's pages
        count it (throttled per service by the bus)."""
        found = REPORT_FORM.match(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status in (302, 303):
                    self.cache.bus.bump("reports", found.group(1))
            await send(message)

        await self.app(scope, receive, watch)


class _Capture:
    """The `send` a render runs with: it keeps a storable response, and forwards any other untouched."""

    def __init__(self, send: Send, head: bool, passthrough: bool = False) -> None:
        self.send = send
        self.head = head
        self.passthrough = passthrough
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.complete = False

    @property
    def storable(self) -> bool:
        return self.start is not None and self.complete and not self.passthrough

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.passthrough or not _storable(message):
                self.passthrough = True
                await self.send(message)
            else:
                self.start = message
            return
        if kind != "http.response.body":
            await self.send(message)
            return
        if self.passthrough:
            await self._forward(message)
            return
        body = message.get("body", b"")
        self.chunks.append(body)
        self.size += len(body)
        if not message.get("more_body", False):
            self.complete = True
        elif self.size > MAX_BODY:  # too big to keep: send what we have and let the rest stream
            self.passthrough = True
            assert self.start is not None
            await self.send(self.start)
            await self._forward(
                {"type": "http.response.body", "body": b"".join(self.chunks), "more_body": True}
            )
            self.chunks = []

    async def _forward(self, message: Message) -> None:
        if self.head:  # a HEAD was rendered as a GET: the headers only
            if not message.get("more_body", False):
                await self.send({"type": "http.response.body", "body": b""})
            return
        await self.send(message)


def _request(scope: Scope) -> _Request | None:
    """The request's cache key and validators; None when it must not be served from the cache."""
    if_none_match: bytes | None = None
    accept_language: str | None = None
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            if_none_match = value
        elif name == b"accept-language":
            accept_language = value.decode("latin-1")
        elif (name == b"authorization" or name == b"cookie") and _personal(name, value):
            return None
    return keyed_request(
        scope["path"], scope["query_string"], scope["method"], if_none_match, accept_language
    )


def keyed_request(
    path: str, query: bytes, method: str, if_none_match: bytes | None, accept_language: str | None
) -> _Request | None:
    """The cache key and validators of a request already known to carry no credentials (see _personal);
    None when its query makes it someone's own. Shared by the ASGI middleware and the RSGI front."""
    lang: str | None = None
    if query:
        params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
        if not PERSONAL_PARAMS.isdisjoint(params):
            return None
        lang = params.get("lang")
    # Key on the language the page will be in, not the raw header: a handful of variants, not thousands.
    language = negotiate_language(lang, accept_language) if lang or accept_language else DEFAULT_LANGUAGE
    return _Request((path, query, language), if_none_match, method == "HEAD")


def _cacheable_path(path: str, request: _Request) -> bool:
    """Whether the path is one of the cached pages (and, for a service's own pages, which service)."""
    for pattern, per_service in CACHEABLE:
        found = pattern.match(path)
        if found is not None:
            request.service_id = found.group(1) if per_service else None
            return True
    return False


def personal(authorization: str | None, cookie: str | None) -> bool:
    """_personal for headers as text (RSGI)."""
    return authorization is not None or (cookie is not None and ADMIN_COOKIE in cookie)


def _personal(name: bytes, value: bytes) -> bool:
    """Credentials make a request someone's own: an Authorization header, or an admin session cookie."""
    return name == b"authorization" or ADMIN_COOKIE.encode() in value


def _storable(start: Message) -> bool:
    if start["status"] != 200:
        return False
    for name, value in start.get("headers", ()):
        lowered = name.lower()
        if lowered == b"set-cookie":
            return False
        if lowered == b"cache-control" and (b"no-store" in value.lower() or b"private" in value.lower()):
            return False
        if lowered == b"vary" and not {v.strip().lower() for v in value.decode().split(",")} <= VARY_ALLOWED:
            return False
        if lowered == b"content-type" and value.lower().startswith(b"text/event-stream"):
            return False
    return True


def _entry(
    capture: _Capture, generation: int, service_id: str | None, service_generation: int, expires: float
) -> Entry:
    assert capture.start is not None
    body = b"".join(capture.chunks)
    etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
    headers: list[tuple[bytes, bytes]] = []
    has_cache_control = False
    for name, value in capture.start.get("headers", ()):
        lowered = name.lower()
        if lowered in (b"content-length", b"etag"):
            continue
        has_cache_control = has_cache_control or lowered == b"cache-control"
        headers.append((lowered, value))
    if not has_cache_control:
        headers.append((b"cache-control", b"no-cache"))
    headers.append((b"etag", etag))
    # What RFC 9110 §15.4.5 says a 304 carries: the validators and the caching headers.
    kept = (b"cache-control", b"content-location", b"etag", b"expires", b"vary")
    not_modified = [(n, v) for n, v in headers if n in kept]
    headers.append((b"content-length", str(len(body)).encode()))
    return Entry(etag, body, headers, not_modified, generation, service_id, service_generation, expires)


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    if if_none_match.strip() == b"*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    return any(tag.strip().removeprefix(b"W/") == etag for tag in if_none_match.split(b","))


async def _send_entry(send: Send, entry: Entry, request: _Request) -> None:
    if entry.not_modified(request.if_none_match):
        await send({"type": "http.response.start", "status": 304, "headers": entry.not_modified_headers})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
    await send({"type": "http.response.body", "body": b"" if request.head else entry.body})


def _as_get(scope: Scope) -> Scope:
    """HEAD is answered from a GET's rendering: the routes only declare GET."""
    if scope["method"] != "HEAD":
        return scope
    copy: dict[str, Any] = dict(scope)
    copy["method"] = "GET"
    return copy
