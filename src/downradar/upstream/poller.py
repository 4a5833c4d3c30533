"""Polling every watched status page at its own interval, concurrently, and storing what they say.

One page failing (unreachable, 500, nonsense) never stops the others: the error is stored on its feed
row and the page is tried again at its next turn. An `auto` page's kind is detected once and remembered
in the database; after `REDETECT_AFTER` failed polls in a row it is detected again, since a provider may
have moved from Statuspage to incident.io, say.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, Engine

from downradar.core.clock import Clock
from downradar.upstream import history
from downradar.upstream.fetch import FetchResult, UpstreamDetectError, detect_kind, fetch
from downradar.upstream.history import PollOutcome
from downradar.upstream.parse import UpstreamFormatError, load_json, parse_feed, parse_summary
from downradar.upstream.spec import UpstreamSpec

log = logging.getLogger("downradar.upstream")

REDETECT_AFTER = 3
T = TypeVar("T")


class UpstreamPoller:
    def __init__(
        self,
        engine: Engine,
        services: Sequence[tuple[str, UpstreamSpec]],
        *,
        clock: Clock,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._specs: dict[str, UpstreamSpec] = dict(services)
        self._client = client
        self._owns_client = client is None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False

    @property
    def services(self) -> dict[str, UpstreamSpec]:
        return dict(self._specs)

    def set_services(self, services: Sequence[tuple[str, UpstreamSpec]]) -> None:
        """Watch these pages from now on; while running, removed pages stop and new or changed ones start."""
        new = dict(services)
        changed = {s for s in self._specs.keys() | new.keys() if self._specs.get(s) != new.get(s)}
        self._specs = new
        if not self._running:
            return
        for service in changed:
            task = self._tasks.pop(service, None)
            if task is not None:
                task.cancel()
            if service in new:
                self._start(service)

    async def poll_once(self, service: str) -> None:
        """Fetch the service's page once and store the outcome (errors included: this never raises for a
        page's trouble)."""
        spec = self._specs[service]
        now = self._clock.now()
        feed = await self._db(history.ensure_feed, service, spec)
        kind, fetch_url = feed["detected_kind"], feed["fetch_url"]
        etag, last_modified = feed["etag"], feed["last_modified"]
        if spec.kind != "auto":
            kind, fetch_url = spec.kind, _configured_url(spec)
        elif kind is None or fetch_url is None:
            try:
                kind, fetch_url = await detect_kind(self._http(), spec.url, spec.timeout_seconds)
            except UpstreamDetectError as exc:
                await self._db(history.record_poll, service, spec, PollOutcome.failed(str(exc)), now)
                await self._after_failure(service, spec, str(exc))
                return
            await self._db(history.remember_detection, service, kind, fetch_url)
            etag = last_modified = None

        result = await fetch(
            self._http(), fetch_url, etag=etag, last_modified=last_modified, timeout=spec.timeout_seconds
        )
        outcome = self._outcome(service, spec, kind, result, now)
        changed = await self._db(history.record_poll, service, spec, outcome, now)
        if changed:
            log.info("upstream %s: %s", service, outcome.state.description if outcome.state else "")
        if outcome.status == "error":
            await self._after_failure(service, spec, outcome.error)

    async def run(self) -> None:
        """Poll every page at its interval until cancelled."""
        self._running = True
        try:
            for service in self._specs:
                self._start(service)
            await asyncio.Event().wait()
        finally:
            self._running = False
            tasks = list(self._tasks.values())
            self._tasks.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client when the poller made it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- internals ---

    async def _after_failure(self, service: str, spec: UpstreamSpec, error: str | None) -> None:
        status = await self._db(history.feed_status, service)
        failures = status["failures"] if status is not None else 0
        if failures == 1:  # say so once, not at every poll of a page that stays down
            log.warning("upstream %s: %s", service, error)
        if spec.kind == "auto" and failures and failures % REDETECT_AFTER == 0:
            await self._db(history.forget_detection, service)

    def _start(self, service: str) -> None:
        self._tasks[service] = asyncio.create_task(self._loop(service), name=f"upstream:{service}")

    async def _loop(self, service: str) -> None:
        while service in self._specs:
            try:
                await self.poll_once(service)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug or a database hiccup for one page: log it and keep this page's turn.
                log.exception("upstream %s: poll failed", service)
            spec = self._specs.get(service)
            if spec is None:
                return
            await self._clock.sleep(spec.interval_seconds)

    def _outcome(
        self, service: str, spec: UpstreamSpec, kind: str, result: FetchResult, seen_at: datetime
    ) -> PollOutcome:
        if result.status == "not_modified":
            return PollOutcome.not_modified()
        if result.status == "error":
            return PollOutcome.failed(result.error or "fetch failed")
        mapping = spec.components
        try:
            if kind == "statuspage":
                state = parse_summary(
                    load_json(result.body), service=service, seen_at=seen_at, mapping=mapping
                )
            else:
                state = parse_feed(result.body, service=service, seen_at=seen_at, mapping=mapping)
        except UpstreamFormatError as exc:
            return PollOutcome.failed(f"{kind} page could not be read: {exc}")
        # Validators only with a state we could read: a 304 must never stand in for a broken page.
        return PollOutcome.ok(state, etag=result.etag, last_modified=result.last_modified)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        return self._client

    async def _db(self, function: Callable[..., T], *args: Any) -> T:
        """Run a history function in one transaction, off the event loop."""

        def in_transaction() -> T:
            conn: Connection
            with self._engine.begin() as conn:
                return function(conn, *args)

        return await asyncio.to_thread(in_transaction)


def _configured_url(spec: UpstreamSpec) -> str:
    """What to poll for a page whose kind is configured: a Statuspage given by its page URL is read
    through its summary.json."""
    if spec.kind == "statuspage" and not urlsplit(spec.url).path.endswith(".json"):
        return f"{spec.url.rstrip('/')}/api/v2/summary.json"
    return spec.url
