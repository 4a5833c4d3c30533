"""A probe agent: runs one location's probes away from the server and posts the results back.

It asks the server for its probes every `refresh_seconds` (keeping the last list while the server cannot
be reached), runs them with the same ProbeScheduler the server uses, and posts the results in batches.
Results that could not be posted wait in memory (at most `max_pending`, the oldest dropped first, with a
warning) and are retried with backoff, so a server restart or a network cut loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections import deque
from typing import Any

import httpx

from downradar.core.clock import Clock, SystemClock
from downradar.core.model import ProbeResult
from downradar.probes.scheduler import ProbeScheduler
from downradar.probes.spec import ProbeSpec

log = logging.getLogger("downradar.agent")

BATCH = 5_000  # the server takes at most this many results per request
_INDEX = re.compile(r"^results\.(\d+)\.")


class AgentError(RuntimeError):
    """The agent cannot go on: a token the server does not know, or one for another location."""


def result_json(result: ProbeResult) -> dict[str, Any]:
    """What the server takes for one result; the location is the token's, so it is not sent."""
    return {
        "probe": result.probe,
        "ts": result.ts.isoformat(),
        "ok": result.ok,
        "latency_ms": result.latency_ms,
        "status_code": result.status_code,
        "error": result.error,
    }


class Agent:
    def __init__(
        self,
        server: str,
        token: str,
        location: str,
        *,
        concurrency: int = 100,
        refresh_seconds: float = 30.0,
        max_pending: int = 100_000,
        flush_seconds: float = 1.0,
        backoff_base_seconds: float = 1.0,
        backoff_cap_seconds: float = 60.0,
        request_timeout_seconds: float = 10.0,
        probe_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.location = location
        self.concurrency = concurrency
        self.refresh_seconds = refresh_seconds
        self.max_pending = max_pending
        self.flush_seconds = flush_seconds
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self._token = token
        self._timeout = request_timeout_seconds
        self._probe_client = probe_client
        self.clock = clock or SystemClock()
        self._pending: deque[ProbeResult] = deque()
        self._have_pending = asyncio.Event()
        self.probes: dict[str, ProbeSpec] = {}
        self.posted = 0  # results the server accepted
        self.dropped = 0  # results given up on (queue full, or refused by the server)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """Run until cancelled; on cancel, post what is left once (briefly) before returning. Raises
        AgentError when the server refuses the token or it belongs to another location."""
        headers = {"Authorization": f"Bearer {self._token}"}
        async with httpx.AsyncClient(base_url=self.server, headers=headers, timeout=self._timeout) as api:
            await self._first_probe_list(api)
            scheduler = ProbeScheduler(
                self.location,
                self._enqueue,
                client=self._probe_client,
                concurrency=self.concurrency,
                flush_seconds=self.flush_seconds,
                clock=self.clock,
            )
            scheduler.set_probes(self.probes)
            tasks = [
                asyncio.create_task(scheduler.run(), name="agent-scheduler"),
                asyncio.create_task(self._refresh_forever(api, scheduler), name="agent-refresh"),
                asyncio.create_task(self._post_forever(api), name="agent-post"),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()  # an AgentError stops the agent
            finally:
                for task in tasks:  # the scheduler flushes its last results into the queue on cancel
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, AgentError):
                        await task
                await self._post_leftovers(api)

    # -- the probe list --------------------------------------------------------------------------------

    async def _fetch_probes(self, api: httpx.AsyncClient) -> dict[str, ProbeSpec]:
        response = await api.get("/api/v1/agent/probes")
        if response.status_code in (401, 403):
            raise AgentError(f"the server at {self.server} does not accept this location token")
        response.raise_for_status()
        body = response.json()
        if body["location"] != self.location:
            raise AgentError(
                f"the token belongs to location {body['location']!r}, not {self.location!r}: "
                "start the agent with the matching --location, or use that location's token"
            )
        return {key: ProbeSpec.model_validate(spec) for key, spec in body["probes"].items()}

    async def _first_probe_list(self, api: httpx.AsyncClient) -> None:
        """Wait, retrying with backoff, until the server answers once."""
        failures = 0
        while True:
            try:
                self.probes = await self._fetch_probes(api)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                failures += 1
                log.warning("cannot fetch probes from %s yet (%s); retrying", self.server, _why(exc))
                await self.clock.sleep(self._backoff(failures))
                continue
            log.info("location %s: %d probes", self.location, len(self.probes))
            return

    async def _refresh_forever(self, api: httpx.AsyncClient, scheduler: ProbeScheduler) -> None:
        while True:
            await self.clock.sleep(self.refresh_seconds)
            try:
                probes = await self._fetch_probes(api)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.warning("cannot refresh probes (%s); keeping the last %d", _why(exc), len(self.probes))
                continue
            if probes != self.probes:
                log.info("location %s: %d probes (changed)", self.location, len(probes))
                self.probes = probes
                scheduler.set_probes(probes)

    # -- results ---------------------------------------------------------------------------------------

    async def _enqueue(self, results: list[ProbeResult]) -> None:
        self._pending.extend(results)
        self._trim()
        if self._pending:
            self._have_pending.set()

    def _trim(self) -> None:
        excess = len(self._pending) - self.max_pending
        if excess > 0:
            for _ in range(excess):
                self._pending.popleft()
            self.dropped += excess
            log.warning(
                "%d results not yet posted were dropped (the oldest): at most %d are kept",
                excess,
                self.max_pending,
            )

    def _take_batch(self) -> list[ProbeResult]:
        batch = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
        if not self._pending:
            self._have_pending.clear()
        return batch

    def _put_back(self, batch: list[ProbeResult]) -> None:
        self._pending.extendleft(reversed(batch))
        self._trim()
        self._have_pending.set()

    async def _post_forever(self, api: httpx.AsyncClient) -> None:
        failures = 0
        while True:
            await self._have_pending.wait()
            batch = self._take_batch()
            try:
                rest = await self._post(api, batch)
            except AgentError:
                self._put_back(batch)
                raise
            except httpx.HTTPError as exc:
                self._put_back(batch)
                failures += 1
                delay = self._backoff(failures)
                log.warning(
                    "cannot post %d results (%s); retrying in %.1f s", len(self._pending), _why(exc), delay
                )
                await self.clock.sleep(delay)
                continue
            failures = 0
            if rest:
                self._put_back(rest)

    async def _post(self, api: httpx.AsyncClient, batch: list[ProbeResult]) -> list[ProbeResult]:
        """Post one batch; returns what should be posted again (the batch less results the server refused
        one by one, such as those of a probe deleted since they ran). Raises httpx.HTTPError to retry."""
        response = await api.post("/api/v1/agent/results", json={"results": [result_json(r) for r in batch]})
        if response.status_code == 202:
            self.posted += len(batch)
            return []
        if response.status_code in (401, 403):
            raise AgentError(f"the server at {self.server} no longer accepts this location token")
        if response.status_code == 422:
            refused = _refused_indices(response)
            if not refused or len(refused) == len(batch):
                self._give_up(batch, response)
                return []
            self._give_up([batch[i] for i in sorted(refused)], response)
            return [r for i, r in enumerate(batch) if i not in refused]
        # 5xx and the like: retried
        message = f"HTTP {response.status_code}: {_error_line(response)}"
        raise httpx.HTTPStatusError(message, request=response.request, response=response)

    def _give_up(self, results: list[ProbeResult], response: httpx.Response) -> None:
        self.dropped += len(results)
        log.warning("the server refused %d results: %s", len(results), _error_line(response))

    async def _post_leftovers(self, api: httpx.AsyncClient) -> None:
        """On the way out, one quick try to post what is queued."""
        while self._pending:
            batch = self._take_batch()
            try:
                # Real time: a bound on how long shutdown waits for the network.
                rest = await asyncio.wait_for(self._post(api, batch), timeout=5)
            except (httpx.HTTPError, AgentError, TimeoutError):
                self._put_back(batch)
                log.warning("stopping with %d results not posted", len(self._pending))
                return
            if rest:
                self._put_back(rest)

    def _backoff(self, failures: int) -> float:
        bound = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** min(failures - 1, 16))
        return random.uniform(bound / 2, bound)  # jitter: many agents do not return at the same instant


def _refused_indices(response: httpx.Response) -> set[int]:
    try:
        errors = response.json().get("errors", [])
    except ValueError:
        return set()
    return {int(m.group(1)) for e in errors if (m := _INDEX.match(f"{e.get('field', '')}."))}


def _error_line(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error"))
    except ValueError:
        return f"HTTP {response.status_code}"


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
