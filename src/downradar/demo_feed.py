"""The demo's live traffic: ordinary reports every minute, and after a quiet lead-in the 4 February 2026
ChatGPT outage, replayed against the running server through the same intake as bulk reports.

The demo runs on an accelerated clock (60 demo minutes per real minute), so a newcomer watches the
report chart climb past its usual band and the detector open the incident within the first minutes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from downradar.catalog import Catalog
from downradar.demo import REGION_WEIGHTS, USUAL_PER_15_MIN, daily_factor, poisson
from downradar.intake.validation import normalise, parse_report
from downradar.web.runtime import Runtime

log = logging.getLogger("downradar.demo")
EPISODE = Path(__file__).with_name("demo_episode.toml")


class DemoClock:
    """Demo time: starts at `start` and runs `speed` times faster than the wall clock."""

    def __init__(self, start: datetime, speed: float = 60.0) -> None:
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)


def load_episode() -> dict[str, Any]:
    return tomllib.loads(EPISODE.read_text(encoding="utf-8"))


class DemoFeed:
    def __init__(self, catalog: Catalog, lead_in: timedelta, seed: int = 4) -> None:
        self.catalog = catalog
        self.lead_in = lead_in
        self.episode = load_episode()
        self.rng = random.Random(seed)
        self._serial = 0
        # Set once the feed runs; the scripted provider (demo_provider) keys its timeline off it too.
        self.onset: datetime | None = None

    def episode_level(self, minutes_since_onset: float) -> float:
        """Reports per 15 minutes at this point of the episode (the usual level outside its curve)."""
        usual = self.episode["usual_per_15min"]
        at, per_15 = zip(*self.episode["curve"], strict=True)
        return float(np.interp(minutes_since_onset, at, per_15, left=usual, right=usual))

    @property
    def episode_minutes(self) -> float:
        """Minutes from the onset until the curve is back at the usual level (its last point)."""
        return float(self.episode["curve"][-1][0])

    def episode_extra(self, minutes_since_onset: float) -> float:
        """Extra reporters per minute the episode adds over the usual level at this point."""
        return max(self.episode_level(minutes_since_onset) - self.episode["usual_per_15min"], 0.0) / 15

    def reports_for(self, minute: datetime, onset: datetime) -> list[dict[str, Any]]:
        """One minute's reports: ordinary traffic for every service, plus the episode's extra."""
        reports: list[dict[str, Any]] = []
        factor = daily_factor(minute)
        regions, weights = zip(*REGION_WEIGHTS.items(), strict=True)
        for service in self.catalog.services:
            lam = USUAL_PER_15_MIN.get(service.id, 3.0) / 15 * factor
            for _ in range(poisson(self.rng, lam)):
                component = self.rng.choice(service.components).id if service.components else None
                region = self.rng.choices(regions, weights)[0]
                reports.append(
                    self._report(minute, service.id, component, region, self.rng.choice(service.symptoms))
                )
        extra = self.episode_extra((minute - onset).total_seconds() / 60)
        if extra and self.catalog.service(self.episode["service"]) is not None:
            shares = self.episode["shares"]
            for _ in range(poisson(self.rng, extra)):
                reports.append(
                    self._report(
                        minute,
                        self.episode["service"],
                        self._pick(shares["components"]),
                        self._pick(shares["regions"]),
                        self._pick(shares["symptoms"]),
                    )
                )
        return reports

    def _pick(self, shares: dict[str, float]) -> str:
        return self.rng.choices(list(shares), list(shares.values()))[0]

    def _report(
        self, minute: datetime, service: str, component: str | None, region: str, symptom: str
    ) -> dict:
        self._serial += 1
        report = {
            "ts": (minute + timedelta(seconds=self.rng.random() * 59)).isoformat(),
            "service": service,
            "region": region,
            "symptom": symptom,
            "client": f"demo-live-{self._serial}",
        }
        if component:
            report["component"] = component
        return report

    async def run(self, rt: Runtime) -> None:
        """Post each demo minute's reports once it has passed, until the server stops."""
        start = rt.clock.now().replace(second=0, microsecond=0)
        onset = self.onset = start + self.lead_in
        log.info("demo: the 4 Feb 2026 ChatGPT outage starts at %s demo time", onset.isoformat())
        minute = start
        while True:
            now = rt.clock.now()
            while minute + timedelta(minutes=1) <= now:
                await self._post(rt, self.reports_for(minute, onset))
                minute += timedelta(minutes=1)
            await asyncio.sleep(0.05)

    async def _post(self, rt: Runtime, reports: list[dict[str, Any]]) -> None:
        received = rt.clock.now()
        rows = []
        for raw in reports:
            report = parse_report(raw, allow_ts=True, require_ts=True)
            slugs = rt.component_slugs[report.service]
            rows.append(normalise(report, known_components=slugs, client=raw["client"], received_at=received,
                                  source="demo"))  # fmt: skip
        if rows:
            await rt.writer.submit(rows)
            rt.metrics.count_reports(rows)


def demo_start(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).replace(second=0, microsecond=0)
