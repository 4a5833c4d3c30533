"""Event-time replay: a report stream through the same dedup rule, series, detector and incident code as
the live server, with a temporary in-memory store, writing the incident events (DESIGN.md 3.2).

Reports must come in time order (a report a little older than the minute being filled counts in that
minute, as a late arrival would live). Services, components and regions the catalog does not know are
created as they appear. Deterministic: the same stream gives the same events.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool

from downradar.catalog import Catalog, Component, Page, Service
from downradar.detect import Detector, DetectorConfig, Finding, minute_datetime
from downradar.incidents.automatic import AutomaticIncidents, AutomaticPolicy
from downradar.incidents.events import events_after
from downradar.series_feed import series_counts
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog

SLUG = re.compile(r"^[a-z0-9-]{1,64}$")
DEDUP_SECONDS = 15 * 60
MAX_ERRORS = 20
Cell = tuple[str, str, str, str]  # service, component, region, symptom


@dataclass
class ReplayStats:
    reports: int = 0
    counted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: int = 0
    minutes: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def incidents_opened(self) -> int:
        return sum(1 for e in self.events if e["type"] == "incident.opened")


def _epoch_seconds(ts: Any) -> float:
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return float(ts)
    if isinstance(ts, str):
        moment = datetime.fromisoformat(ts)
        if moment.tzinfo is None:
            raise ValueError("ts needs a UTC offset")
        return moment.timestamp()
    raise ValueError("ts must be an RFC 3339 string or epoch seconds")


def _replay_incident_id(finding: Finding) -> str:
    """The same stream gives the same incident ids: derived from the service and the episode's start."""
    digest = hashlib.sha256(f"{finding.service}@{finding.opened_at.isoformat()}".encode()).digest()
    return "r" + base64.b32encode(digest).decode().lower()[:11]


class Replay:
    def __init__(
        self,
        catalog: Catalog | None = None,
        config: DetectorConfig | None = None,
        policy: AutomaticPolicy | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.catalog = catalog or Catalog(page=Page(name="Replay"), services=[])
        self.engine: Engine = make_engine("sqlite://", poolclass=StaticPool)
        upgrade(self.engine)
        self.detector = Detector(config)
        self.automatic = AutomaticIncidents(self.catalog, policy, incident_ids=_replay_incident_id)
        self.on_event = on_event
        self.stats = ReplayStats()
        self._known = {s.id: {c.id for c in s.components} for s in self.catalog.services}
        self._dirty = True
        self._minute: int | None = None
        self._cells: dict[Cell, int] = {}
        self._last_counted: dict[tuple[str, str], float] = {}
        self._event_cursor = 0
        self._line = 0

    # -- input -------------------------------------------------------------------------------------------

    def feed_lines(self, lines: Iterable[bytes | str]) -> None:
        for line in lines:
            self._line += 1
            number = self._line
            if not line.strip():
                continue
            try:
                report = orjson.loads(line)
                if not isinstance(report, dict):
                    raise ValueError("not a JSON object")
                self.feed(report)
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                self.stats.rejected += 1
                if len(self.stats.errors) < MAX_ERRORS:
                    self.stats.errors.append(f"line {number}: {exc}")

    def feed(self, report: dict[str, Any]) -> None:
        service = report["service"]
        if not isinstance(service, str) or not SLUG.match(service):
            raise ValueError(f"service {service!r} is not a slug")
        seconds = _epoch_seconds(report["ts"])
        minute = int(seconds // 60)
        stats = self.stats
        stats.reports += 1
        if self._minute is None:
            self._minute = minute
        elif minute > self._minute:
            self._flush(minute)
        elif minute < self._minute:
            stats.late += 1
        client = report.get("client")
        if client is not None:
            key = (service, client)
            last = self._last_counted.get(key)
            if last is not None and abs(seconds - last) < DEDUP_SECONDS:
                stats.duplicates += 1
                return
            self._last_counted[key] = seconds
        component = report.get("component") or ""
        known = self._known.get(service)
        if known is None or (component and component not in known):
            self._discover(service, component)
        cell = (service, component, report.get("region") or "", report.get("symptom") or "")
        self._cells[cell] = self._cells.get(cell, 0) + 1
        stats.counted += 1

    def finish(self) -> ReplayStats:
        """Close the last minute, run one quiet minute past the end, and return the statistics."""
        if self._minute is not None:
            self._flush(self._minute + 1)
            self._flush(self._minute + 1)
        return self.stats

    # -- minutes -----------------------------------------------------------------------------------------

    def _flush(self, next_minute: int) -> None:
        """Hand the filled minute to the detector; then move to `next_minute` (quiet minutes between)."""
        assert self._minute is not None
        if self._dirty:
            self._sync_catalog()
        rows = [(*cell, n) for cell, n in self._cells.items()]
        self._cells = {}
        result = self.detector.observe(self._minute, series_counts(rows))
        self.stats.minutes += next_minute - self._minute
        if result.findings:
            now = minute_datetime(self._minute + 1)
            with self.engine.begin() as conn:
                self.automatic.apply(conn, result, now)
            self._drain_events()
        self._minute = next_minute
        if len(self._last_counted) > 200_000:
            horizon = next_minute * 60 - DEDUP_SECONDS
            self._last_counted = {k: v for k, v in self._last_counted.items() if v >= horizon}

    def _drain_events(self) -> None:
        with self.engine.connect() as conn:
            found = events_after(conn, self._event_cursor, limit=100_000)
        for event_id, record in found:
            self._event_cursor = event_id
            self.stats.events.append(record)
            if self.on_event is not None:
                self.on_event(record)

    # -- catalog -----------------------------------------------------------------------------------------

    def _discover(self, service: str, component: str) -> None:
        known = self._known.setdefault(service, set())
        if component and component != "other":
            known.add(component)
        self._dirty = True

    def _sync_catalog(self) -> None:
        services = []
        for service_id, slugs in self._known.items():
            existing = self.catalog.service(service_id)
            have = {c.id for c in existing.components} if existing else set()
            extra = [Component(id=s, name=s.replace("-", " ").capitalize()) for s in sorted(slugs - have)]
            if existing is None:
                services.append(Service(id=service_id, name=service_id, components=extra))
            else:
                services.append(existing.model_copy(update={"components": [*existing.components, *extra]}))
        self.catalog = self.catalog.model_copy(update={"services": services})
        self.automatic.catalog = self.catalog
        with self.engine.begin() as conn:
            sync_catalog(conn, self.catalog, datetime.fromtimestamp(0, tz=UTC))
        self._dirty = False


def replay_file(
    stream: IO[bytes],
    *,
    catalog: Catalog | None = None,
    events_out: IO[bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    config: DetectorConfig | None = None,
) -> ReplayStats:
    """Replay an NDJSON report stream; write each event as one JSON line to `events_out` as it happens."""

    def write(record: dict[str, Any]) -> None:
        if events_out is not None:
            events_out.write(orjson.dumps(record) + b"\n")

    started = time.perf_counter()
    runner = Replay(catalog, config, on_event=write)
    chunk: list[bytes] = []
    for line in stream:
        chunk.append(line)
        if len(chunk) == 10_000:
            runner.feed_lines(chunk)
            if progress is not None:
                progress(sum(len(x) for x in chunk))
            chunk = []
    runner.feed_lines(chunk)
    if progress is not None:
        progress(sum(len(x) for x in chunk))
    stats = runner.finish()
    stats.seconds = time.perf_counter() - started
    return stats
