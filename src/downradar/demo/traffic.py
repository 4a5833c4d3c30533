"""The demo's live traffic: ordinary reports every minute, and after a quiet lead-in the 4 February 2026
ChatGPT outage, replayed against the running server through the same intake as bulk reports. A few of
the reporters leave a comment, as people do on a tracker's page; the texts are in episode.toml.

The demo runs on an accelerated clock (60 demo minutes per real minute), so a newcomer watches the
report chart climb past its usual band and the detector open the incident within the first minutes.
"""

from __future__ import annotations

import logging
import random
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from downradar.core.catalog import Catalog
from downradar.core.clock import SystemClock
from downradar.demo.seed import REGION_WEIGHTS, USUAL_PER_15_MIN, daily_factor, poisson
from downradar.intake.validation import ReportError, normalise, parse_report
from downradar.web.runtime import Runtime

log = logging.getLogger("downradar.demo")
EPISODE = Path(__file__).with_name("episode.toml")


class DemoClock:
    """Demo time: starts at `start` and runs `speed` times faster than real time (a Clock)."""

    # No loop on the demo clock wakes more often than this (real seconds): a one-second poll would
    # otherwise spin sixty times a real second.
    SHORTEST_REAL_PAUSE = 0.05

    def __init__(self, start: datetime, speed: float = 60.0, real: SystemClock | None = None) -> None:
        self.start = start
        self.speed = speed
        self._real = real or SystemClock()
        self._t0 = self._real.monotonic()

    def monotonic(self) -> float:
        return (self._real.monotonic() - self._t0) * self.speed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(max(seconds / self.speed, self.SHORTEST_REAL_PAUSE))


def load_episode() -> dict[str, Any]:
    return tomllib.loads(EPISODE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class DemoComment:
    """A comment the demo's reporters may leave, and the reports it fits (None: any)."""

    text: str
    service: str | None = None
    component: str | None = None
    symptom: str | None = None
    region: str | None = None
    after: float | None = None  # minutes since onset: said from then on
    before: float | None = None  # ... and until then

    def fits(self, report: dict[str, Any], minutes_since_onset: float) -> bool:
        for field in ("service", "component", "symptom", "region"):
            wanted = getattr(self, field)
            if wanted is not None and report.get(field) != wanted:
                return False
        if self.after is not None and minutes_since_onset < self.after:
            return False
        return self.before is None or minutes_since_onset < self.before


def load_comments(entries: list[dict[str, Any]]) -> list[DemoComment]:
    """The episode file's comments, each checked as the intake checks a report's comment: a bad one would
    make the intake refuse that whole minute's reports, so the demo refuses to start instead."""
    comments = []
    for entry in entries:
        try:
            comment = DemoComment(**entry)
        except TypeError as exc:
            raise ValueError(f"{EPISODE.name}: comment {entry}: {exc}") from None
        try:
            parse_report({"service": "demo", "comment": comment.text}, allow_ts=False)
        except ReportError as exc:
            raise ValueError(f"{EPISODE.name}: comment {comment.text[:40]!r}: {exc}") from None
        if not comment.text.strip():
            raise ValueError(f"{EPISODE.name}: a comment's text is empty")
        comments.append(comment)
    return comments


class DemoTraffic:
    def __init__(self, catalog: Catalog, lead_in: timedelta, seed: int = 4) -> None:
        self.catalog = catalog
        self.lead_in = lead_in
        self.episode = load_episode()
        self.rng = random.Random(seed)
        # Comments draw from their own stream (seeded alike), so adding or editing the texts leaves the
        # report stream, and with it the detector's timeline, exactly as it was.
        self.comment_rng = random.Random(f"comments-{seed}")
        comments = self.episode["comments"]
        self.outage_comments = load_comments(comments["outage"])
        self.background_comments = load_comments(comments["background"])
        self._serial = 0
        # Set once the traffic runs; the scripted provider (demo_provider) keys its timeline off it too.
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
        usual = float(self.episode["usual_per_15min"])
        return max(self.episode_level(minutes_since_onset) - usual, 0.0) / 15

    def reports_for(self, minute: datetime, onset: datetime) -> list[dict[str, Any]]:
        """One minute's reports: ordinary traffic for every service, plus the episode's extra."""
        reports: list[dict[str, Any]] = []
        minutes_since_onset = (minute - onset).total_seconds() / 60
        comments = self.episode["comments"]
        factor = daily_factor(minute)
        regions, weights = zip(*REGION_WEIGHTS.items(), strict=True)
        for service in self.catalog.services:
            lam = USUAL_PER_15_MIN.get(service.id, 3.0) / 15 * factor
            for _ in range(poisson(self.rng, lam)):
                component = self.rng.choice(service.components).id if service.components else None
                region = self.rng.choices(regions, weights)[0]
                report = self._report(
                    minute, service.id, component, region, self.rng.choice(service.symptoms)
                )
                self._comment(
                    report, self.background_comments, comments["background_share"], minutes_since_onset
                )
                reports.append(report)
        extra = self.episode_extra(minutes_since_onset)
        if extra and self.catalog.service(self.episode["service"]) is not None:
            shares = self.episode["shares"]
            for _ in range(poisson(self.rng, extra)):
                report = self._report(
                    minute,
                    self.episode["service"],
                    self._pick(shares["components"]),
                    self._pick(shares["regions"]),
                    self._pick(shares["symptoms"]),
                )
                self._comment(report, self.outage_comments, comments["outage_share"], minutes_since_onset)
                reports.append(report)
        return reports

    def _comment(
        self, report: dict[str, Any], pool: list[DemoComment], share: float, minutes_since_onset: float
    ) -> None:
        """With probability `share`, the reporter adds one of the comments that fit the report."""
        if self.comment_rng.random() >= share:
            return
        fitting = [c for c in pool if c.fits(report, minutes_since_onset)]
        if fitting:
            report["comment"] = self.comment_rng.choice(fitting).text

    def _pick(self, shares: dict[str, float]) -> str:
        return self.rng.choices(list(shares), list(shares.values()))[0]

    def _report(
        self, minute: datetime, service: str, component: str | None, region: str, symptom: str
    ) -> dict[str, Any]:
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
            await rt.clock.sleep((minute + timedelta(minutes=1) - now).total_seconds())

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
    return (now or SystemClock().now()).replace(second=0, microsecond=0)
