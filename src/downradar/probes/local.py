"""The server's own probe location: runs the enabled probes meant for it and stores their results.

The probe set is re-read every `refresh_seconds`, so probes made or changed through the admin API start
without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Engine

from downradar.core.clock import Clock
from downradar.core.config import ProbeSettings
from downradar.core.model import ProbeResult
from downradar.probes.registry import enabled_specs
from downradar.probes.results import store_results
from downradar.probes.scheduler import ProbeScheduler

log = logging.getLogger("downradar.probes")


class LocalProbes:
    def __init__(
        self, engine: Engine, clock: Clock, settings: ProbeSettings, *, refresh_seconds: float = 15.0
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.location = settings.location
        self.refresh_seconds = refresh_seconds
        self.scheduler = ProbeScheduler(
            settings.location, self._store, concurrency=settings.concurrency, clock=clock
        )

    async def _store(self, results: list[ProbeResult]) -> None:
        def write() -> None:
            with self.engine.begin() as conn:
                store_results(conn, results, self.clock.now())

        await asyncio.to_thread(write)

    def _load(self) -> None:
        with self.engine.connect() as conn:
            self.scheduler.set_probes(enabled_specs(conn, self.location))

    async def run(self) -> None:
        await asyncio.to_thread(self._load)
        runner = asyncio.create_task(self.scheduler.run())
        try:
            while True:
                await self.clock.sleep(self.refresh_seconds)
                try:
                    await asyncio.to_thread(self._load)
                except Exception:
                    log.exception("could not reload the probe set; keeping the last one")
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
