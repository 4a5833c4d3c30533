"""Event-time replay: a report stream through the same counting rule (intake/counting.py), series,
detector and incident code as the live server, with a temporary in-memory store, writing the incident
events (DESIGN.md 3.2). tests/test_live_replay_agree.py holds the two to the same series and events.

Reports must come in time order: a report older than the minute being filled (the detector has had its
minute already) counts in the minute being filled, and is counted as `late`. Out of order within a
minute is fine. The stream may also hold probe results and provider page states,
which go through the same probe tracker and fusion as live:

    {"ts": "...Z", "probe": {"id": "chatgpt.api", "location": "eu", "ok": false, "latency_ms": 812.5,
                             "status_code": 503, "error": "status 503 not in 200-399"}}
    {"ts": "...Z", "upstream": {"service": "chatgpt", "indicator": "major", "description": "...",
                                "components": {"conversations": "major_outage"}, "incidents": [...]}}
Services the catalog does not know are created as they appear, with their components. A component the
catalog does not list for one of its own services counts as "other", as live intake files it.
Deterministic: the same stream gives the same events.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress
from typing import IO, Any, cast

import numpy as np
import orjson
from numpy.typing import NDArray
from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool

from downradar.core.catalog import Catalog, Component, Page, Service
from downradar.core.model import ProbeResult, UpstreamState
from downradar.detect import Detector, DetectorConfig, IndexedCounts, SeriesKey, TickResult, minute_datetime
from downradar.detect.fusion import FusedFinding, Fusion
from downradar.detect.probe_state import ProbeTracker
from downradar.detection.evidence import latest, minute_end, rule_of
from downradar.detection.series import series_keys
from downradar.incidents.automatic import AutomaticIncidents, AutomaticPolicy
from downradar.incidents.events import events_after
from downradar.intake.counting import DEDUP_WINDOW, judge, minute_of
from downradar.intake.validation import OTHER_COMPONENT, region_code
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import new_component_row, new_service_row
from downradar.store.schema import components as components_table
from downradar.store.schema import services as services_table
from downradar.upstream.parse import state_from_json

SLUG = re.compile(r"^[a-z0-9-]{1,64}$")
MAX_ERRORS = 20
CHUNK_BYTES = 1 << 20  # replay_file reads and feeds the stream this much at a time
Cell = tuple[str, str, str, str]  # service, component, region, symptom
EPOCH = datetime.fromtimestamp(0, tz=UTC)
_NO_COUNTS = IndexedCounts(np.zeros(0, np.int64), np.zeros(0, np.int64))  # a quiet minute
_NO_ROWS = [-1, -1, -1, -1]  # pads a cell's detector rows: -1 for a dimension it does not count in


@dataclass
class ReplayStats:
    reports: int = 0
    counted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: int = 0
    probe_results: int = 0
    upstream_states: int = 0
    minutes: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def incidents_opened(self) -> int:
        return sum(1 for e in self.events if e["type"] == "incident.opened")


def _check_fields(report: dict[str, Any]) -> str:
    """Refuse a report whose optional fields break the record (DESIGN 3.1) before it touches any state:
    later, an odd component failed the catalog sync and an odd region the minute's roll-up. Returns the
    region as live intake counts it (upper case; "" when absent), and refuses one live intake refuses."""
    for name in ("component", "symptom"):
        value = report.get(name)
        if value and (type(value) is not str or not SLUG.match(value)):
            raise ValueError(f"{name} {value!r} is not a slug")
    region = report.get("region")
    if region:
        if type(region) is not str:
            raise ValueError(f"region {region!r} is not an ISO 3166 code such as US or US-CA")
        try:
            region = region_code(region)
        except ValueError as exc:
            raise ValueError(f"region {region!r}: {exc}") from None
    client = report.get("client")
    if client is not None and type(client) is not str:
        raise ValueError(f"client {client!r} is not a string")
    return region or ""


def _plain(field: Any) -> bool:
    """A field `_ready` may hold a cell under as the report has it: a string, or None for absent (the
    cell has "" there), so the raw fields map to one cell only."""
    return field is None or type(field) is str


def _epoch_seconds(ts: Any) -> float:
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return float(ts)
    if isinstance(ts, str):
        moment = datetime.fromisoformat(ts)
        if moment.tzinfo is None:
            raise ValueError("ts needs a UTC offset")
        return moment.timestamp()
    raise ValueError("ts must be an RFC 3339 string or epoch seconds")


def _replay_incident_id(finding: FusedFinding) -> str:
    """The same stream gives the same incident ids: derived from the service and the episode's start."""
    digest = hashlib.sha256(f"{finding.service}@{finding.opened_at.isoformat()}".encode()).digest()
    return "r" + base64.b32encode(digest).decode().lower()[:11]


class Replay:
    """Feed it reports (dicts with `feed`, NDJSON lines with `feed_lines`), then `finish`.

    Per report only a few dict operations run: each (service, component, region, symptom) cell gets an id
    the first time it is seen, and a minute's reports are a list of cell ids. At the end of the minute the
    ids are expanded to the detector's rows with numpy (IndexedCounts, one count per report and row). A
    minute with a cell whose series the detector has not had yet registers them first, in the order of
    the cells' first reports. Quiet minutes between reports are observed and fused one by one, as live.

    The counting rule (intake/counting.py) keys on (service, client); its state is one dict per service,
    client -> last counted second, so the usual report needs no key tuple for it. Most of a report's cost
    is cache misses in these dicts, hence the shared strings (`_strings`) and the small dict of services.
    """

    def __init__(
        self,
        catalog: Catalog | None = None,
        config: DetectorConfig | None = None,
        policy: AutomaticPolicy | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_minute: Callable[[int, dict[Cell, int]], None] | None = None,
        dedup_window: timedelta = DEDUP_WINDOW,
    ) -> None:
        self.catalog = catalog or Catalog(page=Page(name="Replay"), services=[])
        self.engine: Engine = make_engine("sqlite://", poolclass=StaticPool)
        upgrade(self.engine)
        self.detector = Detector(config)
        self.automatic = AutomaticIncidents(self.catalog, policy, incident_ids=_replay_incident_id)
        self.fusion = Fusion()
        self.probes = ProbeTracker()
        self.probes.set_rules(
            {p.key(s.id): rule_of(s.id, p) for s in self.catalog.services for p in s.probes}
        )
        self.official: dict[str, UpstreamState] = {}
        self._probe_results: list[ProbeResult] = []  # this minute's
        self._upstream: list[UpstreamState] = []
        self.on_event = on_event
        self.on_minute = on_minute  # each minute's counted reports per cell, as the detector gets them
        self._window = dedup_window.total_seconds()
        self.stats = ReplayStats()
        self._known = {s.id: {c.id for c in s.components} for s in self.catalog.services}
        self._listed = frozenset(self._known)  # the catalog's own services: their components are fixed
        self._dirty = True
        self._position = {s.id: i for i, s in enumerate(self.catalog.services)}
        self._touched: set[str] = set()  # services whose components changed since the last sync
        self._stored: dict[str, int] | None = None  # services in the store: their first n components
        self._minute: int | None = None
        # Dedup: per service, client -> the second its last counted report was sent (pruned by
        # _forget_clients_before). A small dict of services, looked up with the report's service string
        # (hashed already for its cell), where a list indexed by cell id would be one more cache miss.
        self._last_counted: dict[str, dict[Any, float]] = {}
        self._event_cursor = 0
        self._line = 0
        # Cells: every cell has an id (`_cell_of`, `_cells`); `_ready` holds those a report can be counted
        # in without any check (its service is a valid slug and the catalog knows its component), under
        # the cell and under the fields as a report has them (None where absent), which feed_lines looks
        # up without normalising them.
        self._cell_of: dict[Cell, int] = {}
        self._cells: list[Cell] = []
        self._ready: dict[tuple[Any, ...], int] = {}
        # The first string object seen for each field value: cells and `_ready` keys are built from these,
        # so the hundreds of thousands of keys share a few hundred strings that stay in cache, and the
        # comparison behind each lookup (a report's fields are new string objects every time) is cheap.
        self._strings: dict[str, str] = {}
        # Per cell id: the detector rows it counts in (total, component, country, symptom; -1 for none),
        # once the detector has them.
        self._cell_rows = np.full((0, 4), -1, dtype=np.int64)
        self._has_rows = np.zeros(0, dtype=np.bool_)
        self._cell_keys: dict[int, list[SeriesKey]] = {}  # cells waiting for rows: their series
        self._series_rows: dict[SeriesKey, int] = {}  # series the detector has registered
        self._ids: list[int] = []  # this minute's counted reports, as cell ids
        self._times: dict[str, tuple[float, int]] = {}  # ts string -> (epoch seconds, epoch minute)
        self._slugs: set[str] = set()  # service slugs found valid

    # -- input -------------------------------------------------------------------------------------------

    def feed_lines(self, lines: Iterable[bytes | str]) -> None:
        """Parse and feed NDJSON lines; a bad line is counted as rejected (its error kept), not raised."""
        # The usual report (a ready cell, a string ts) is handled inline here; everything else goes
        # through `feed`, which checks things in the order the usual path relies on.
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        stats = self.stats
        ready = self._ready
        times = self._times
        last_counted_of_service = self._last_counted
        window = self._window
        append = self._ids.append
        current = self._minute
        reports = counted = duplicates = late = 0
        number = self._line
        try:
            for number, line in enumerate(lines, start=self._line + 1):
                try:
                    report = loads(line)
                    try:
                        service = report["service"]
                        cell = ready[
                            service,
                            report.get("component"),
                            report.get("region"),
                            report.get("symptom"),
                        ]
                        ts = report["ts"]
                        moment = times.get(ts)  # only strings are cached: None for a new or other ts
                        client = report.get("client")
                    except (KeyError, TypeError, AttributeError):
                        cell, moment = -1, None
                    if (
                        cell < 0
                        or (moment is None and type(ts) is not str)
                        or (client is not None and type(client) is not str)  # feed refuses it
                    ):
                        if not isinstance(report, dict):
                            raise ValueError("not a JSON object")
                        stats.reports += reports
                        stats.counted += counted
                        stats.duplicates += duplicates
                        stats.late += late
                        reports = counted = duplicates = late = 0
                        try:
                            self.feed(report)
                        finally:
                            current = self._minute  # feed may have moved on a minute, even if it raised
                        continue
                    if moment is None:
                        seconds = _epoch_seconds(ts)
                        moment = times[ts] = (seconds, minute_of(seconds))
                    seconds, minute = moment
                    reports += 1
                    if minute != current:
                        if current is None:
                            self._minute = current = minute
                        elif minute > current:
                            self._flush(minute)
                            current = minute
                        else:
                            late += 1
                    # The per-service dict was made with the cell.
                    if client is not None and not judge(
                        last_counted_of_service[service], client, seconds, window
                    ):
                        duplicates += 1
                        continue
                    append(cell)
                    counted += 1
                except (ValueError, KeyError, TypeError, decode_error) as exc:
                    if isinstance(exc, decode_error) and not line.strip():
                        continue  # blank lines are skipped silently
                    stats.rejected += 1
                    if len(stats.errors) < MAX_ERRORS:
                        stats.errors.append(f"line {number}: {exc}")
        finally:
            self._line = number
            stats.reports += reports
            stats.counted += counted
            stats.duplicates += duplicates
            stats.late += late

    def feed(self, report: dict[str, Any]) -> None:
        if "service" not in report and ("probe" in report or "upstream" in report):
            self._feed_evidence(report)
            return
        service = report["service"]
        if type(service) is not str or service not in self._slugs:
            if not isinstance(service, str) or not SLUG.match(service):
                raise ValueError(f"service {service!r} is not a slug")
            self._slugs.add(service)
        region = _check_fields(report)
        ts = report["ts"]
        moment = self._times.get(ts) if type(ts) is str else None
        if moment is None:
            seconds = _epoch_seconds(ts)
            moment = (seconds, minute_of(seconds))
            if type(ts) is str:
                self._times[ts] = moment
        seconds, minute = moment
        stats = self.stats
        stats.reports += 1
        if self._minute is None:
            self._minute = minute
        elif minute > self._minute:
            self._flush(minute)
        elif minute < self._minute:
            stats.late += 1
        client = report.get("client")
        if client is not None and not judge(
            self._last_counted.setdefault(service, {}), client, seconds, self._window
        ):
            stats.duplicates += 1
            return
        fields = (service, report.get("component"), report.get("region"), report.get("symptom"))
        cell = (service, fields[1] or "", region, fields[3] or "")
        found = self._ready.get(cell)
        if found is None:
            found = self._cell_id(cell)
        if (
            fields != cell
            and cell in self._ready
            and _plain(fields[1])
            and _plain(fields[2])
            and _plain(fields[3])
        ):
            self._ready[self._shared(fields)] = found  # feed_lines finds it without normalising the fields
        self._ids.append(found)
        stats.counted += 1

    def _feed_evidence(self, record: dict[str, Any]) -> None:
        """A probe result or a provider page state: counted in the minute of its `ts`."""
        seconds = _epoch_seconds(record.get("ts"))
        moment = datetime.fromtimestamp(seconds, tz=UTC)
        if "probe" in record:
            probe = _probe_result(record["probe"], moment)
        else:
            upstream = _upstream_state(record["upstream"], moment)
        service = probe.probe.split(".", 1)[0] if "probe" in record else upstream.service
        if service not in self._known:
            self._discover(service, "")  # its incidents need the service in the store
        minute = minute_of(seconds)
        if self._minute is None:
            self._minute = minute
        elif minute > self._minute:
            self._flush(minute)
        if "probe" in record:
            self._probe_results.append(probe)
            self.stats.probe_results += 1
        else:
            self._upstream.append(upstream)
            self.stats.upstream_states += 1

    def _cell_id(self, cell: Cell) -> int:
        """The id of a cell not in `_ready`, after the catalog check the usual path skips."""
        cell = self._shared(cell)
        service, component = cell[0], cell[1]
        known = self._known.get(service)
        if component and service in self._listed and component not in self._known[service]:
            # As live intake counts it (intake/validation.normalise): a component the catalog does not
            # list for its service is "other".
            other = self._shared((service, OTHER_COMPONENT, cell[2], cell[3]))
            found = self._cell_of.get(other)
            if found is None:
                found = self._new_cell(other)
            self._ready[cell] = found
            return found
        if known is None or (component and component not in known):
            self._discover(service, component)
        found = self._cell_of.get(cell)
        if found is None:
            found = self._new_cell(cell)
        if not (component and component not in self._known[service]):
            self._ready[cell] = found  # the catalog check can no longer discover anything for it
        return found

    def _shared(self, fields: tuple[Any, ...]) -> Any:
        """`fields` with each string replaced by the first equal one seen (see `_strings`)."""
        shared = self._strings.setdefault
        return tuple([shared(f, f) if type(f) is str else f for f in fields])

    def _new_cell(self, cell: Cell) -> int:
        """An id for a cell never seen. Its detector rows are looked up at the end of the minute."""
        found = self._cell_of[cell] = len(self._cells)
        self._cells.append(cell)
        self._last_counted.setdefault(cell[0], {})  # feed_lines counts on it for a ready cell
        if found >= self._has_rows.shape[0]:
            size = max(64, 2 * found)
            self._cell_rows = np.concatenate([self._cell_rows, np.full((size, 4), -1, dtype=np.int64)])
            self._has_rows = np.concatenate([self._has_rows, np.zeros(size, dtype=np.bool_)])
        return found

    def finish(self) -> ReplayStats:
        """Close the last minute, run one quiet minute past the end, and return the statistics."""
        if self._minute is not None:
            self._flush(self._minute + 1)
            self._flush(self._minute + 1)
        return self.stats

    # -- minutes -----------------------------------------------------------------------------------------

    def _flush(self, next_minute: int) -> None:
        """Hand the filled minute to the detector, and each quiet minute up to `next_minute`."""
        assert self._minute is not None
        if self._dirty:
            self._sync_catalog()
        ids = np.array(self._ids, dtype=np.intp)
        self._ids.clear()
        self._times.clear()
        if self.on_minute is not None and ids.size:
            self.on_minute(self._minute, self._cell_counts(ids))
        result = self.detector.observe(self._minute, self._counts(ids))
        self.stats.minutes += next_minute - self._minute
        self._fuse(self._minute, result)
        # The live loop observes and fuses every minute, quiet or not, so an incident changes in the same
        # minute here (the detector alone would give the same state after skipping them).
        for quiet in range(self._minute + 1, next_minute):
            self._fuse(quiet, self.detector.observe(quiet, _NO_COUNTS))
        self._minute = next_minute
        if sum(map(len, self._last_counted.values())) > 200_000:
            self._forget_clients_before(next_minute * 60 - self._window)

    def _fuse(self, minute: int, result: TickResult) -> None:
        """The minute's detector result, probe results and provider pages through fusion and the incident
        code, as live detection does each minute."""
        self.probes.observe(sorted(self._probe_results, key=lambda r: r.ts))
        self.official = latest(self._upstream, self.official)
        self._probe_results.clear()
        self._upstream.clear()
        verdicts = self.probes.verdicts(minute_end(minute)) if self.probes.rules else []
        fused = self.fusion.step(result, verdicts, self.official)
        if fused:
            now = minute_datetime(minute + 1)
            with self.engine.begin() as conn:
                self.automatic.apply_fused(conn, fused, now)
            self._drain_events()

    def _counts(self, ids: NDArray[np.intp]) -> IndexedCounts:
        """The minute's counts for the detector, from its reports' cell ids; registers new series first."""
        waiting = ~self._has_rows[ids]
        if waiting.any():
            # In the order of their first report this minute: the order series_counts would name their
            # series in, and so the order new series must be registered in.
            unresolved = list(dict.fromkeys(ids[waiting].tolist()))
            new_keys = self._resolve(unresolved)
            if new_keys:
                self._registered(new_keys, self.detector.register(new_keys))
                self._resolve([c for c in unresolved if not self._has_rows[c]])
        # Every report's rows, each counting 1: the detector adds them up (np.bincount).
        block = self._cell_rows[ids]
        rows = block[block >= 0]
        return IndexedCounts(rows, np.ones(rows.shape, np.int64))

    def _cell_counts(self, ids: NDArray[np.intp]) -> dict[Cell, int]:
        """The minute's counted reports per cell (what report_minutes.clients holds live)."""
        present, per_cell = np.unique(ids, return_counts=True)
        return {self._cells[c]: n for c, n in zip(present.tolist(), per_cell.tolist(), strict=True)}

    def _forget_clients_before(self, horizon: float) -> None:
        """Drop dedup entries older than `horizon`.

        Which to keep is one numpy comparison per service over its seconds (all floats), not a Python
        comparison per entry.
        """
        horizon = float(horizon)
        for service, last_counted in list(self._last_counted.items()):
            seconds = np.fromiter(last_counted.values(), np.float64, len(last_counted))
            self._last_counted[service] = dict(compress(last_counted.items(), (seconds >= horizon).tolist()))

    def _resolve(self, cell_ids: list[int]) -> list[SeriesKey]:
        """Note the detector rows of cells whose series all exist; return the missing series in order."""
        rows_of = self._series_rows
        cells = self._cells
        waiting = self._cell_keys
        missing: dict[SeriesKey, None] = {}
        resolved: list[int] = []
        resolved_rows: list[list[int]] = []
        for c in cell_ids:
            keys = waiting.pop(c, None) or series_keys(*cells[c])
            rows = list(map(rows_of.get, keys))
            if None in rows:
                waiting[c] = keys
                missing.update((k, None) for k, r in zip(keys, rows, strict=True) if r is None)
            else:
                rows += _NO_ROWS[len(rows) :]
                resolved.append(c)
                resolved_rows.append(cast("list[int]", rows))  # no None: checked above
        if resolved:  # one numpy write for all of them
            self._cell_rows[resolved] = resolved_rows
            self._has_rows[resolved] = True
        return list(missing)

    def _registered(self, keys: list[SeriesKey], rows: NDArray[np.int32]) -> None:
        self._series_rows.update(zip(keys, rows.tolist(), strict=True))

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
        if component and component != OTHER_COMPONENT:
            known.add(component)
        self._dirty = True
        self._touched.add(service)

    def _sync_catalog(self) -> None:
        """Add what was discovered to the catalog and the store: new services in order of first report,
        new components of a service appended sorted by slug.

        Only the rows sync_catalog would add are inserted (it also rewrites every row already there with
        the values it has, and deletes components the catalog dropped, which a replay's catalog never
        does): the whole catalog the first time (the store starts empty), then what was touched; one
        executemany per table.
        """
        services = list(self.catalog.services)
        position = dict(self._position)
        touched = [s for s in self._known if s in self._touched]  # in order of first report
        for service_id in touched:
            slugs = self._known[service_id]
            i = position.get(service_id)
            if i is None:
                position[service_id] = len(services)
                services.append(Service(id=service_id, name=service_id, components=_components(slugs)))
            else:
                existing = services[i]
                extra = _components(slugs - {c.id for c in existing.components})
                if extra:
                    services[i] = existing.model_copy(update={"components": [*existing.components, *extra]})
        self._position = position
        self.catalog = self.catalog.model_copy(update={"services": services})
        self.automatic.catalog = self.catalog
        stored = {} if self._stored is None else dict(self._stored)
        changed = range(len(services)) if self._stored is None else [position[s] for s in touched]
        service_rows: list[dict[str, Any]] = []
        component_rows: list[dict[str, Any]] = []
        for i in changed:
            service = services[i]
            before = stored.get(service.id)
            if before is None:
                service_rows.append(new_service_row(service, i + 1, EPOCH))
            component_rows += [
                new_component_row(service, component, n, EPOCH)
                for n, component in enumerate(service.components[before or 0 :], start=(before or 0) + 1)
            ]
            stored[service.id] = len(service.components)
        if service_rows or component_rows:
            with self.engine.begin() as conn:
                if service_rows:
                    conn.execute(services_table.insert(), service_rows)
                if component_rows:
                    conn.execute(components_table.insert(), component_rows)
        self._stored = stored
        self._touched.clear()
        self._dirty = False


def _probe_result(data: Any, ts: datetime) -> ProbeResult:
    if not isinstance(data, dict):
        raise ValueError("probe must be an object")
    key, ok = data.get("id"), data.get("ok")
    if type(key) is not str or "." not in key or not all(SLUG.match(p) for p in key.split(".", 1)):
        raise ValueError(f"probe id {key!r} is not '<service>.<probe>'")
    if type(ok) is not bool:
        raise ValueError("probe ok must be true or false")
    location = data.get("location", "replay")
    if type(location) is not str or not SLUG.match(location):
        raise ValueError(f"probe location {location!r} is not a slug")
    latency = data.get("latency_ms")
    if latency is not None and (not isinstance(latency, int | float) or isinstance(latency, bool)):
        raise ValueError("probe latency_ms must be a number")
    status = data.get("status_code")
    error = data.get("error")
    return ProbeResult(
        probe=key,
        location=location,
        ts=ts,
        ok=ok,
        latency_ms=float(latency) if latency is not None else None,
        status_code=status if type(status) is int else None,
        error=str(error) if error is not None else None,
    )


INDICATORS = ("none", "minor", "major", "critical", "maintenance")


def _upstream_state(data: Any, ts: datetime) -> UpstreamState:
    if not isinstance(data, dict):
        raise ValueError("upstream must be an object")
    if type(data.get("service")) is not str or not SLUG.match(data["service"]):
        raise ValueError(f"upstream service {data.get('service')!r} is not a slug")
    if data.get("indicator") not in INDICATORS:
        raise ValueError(f"upstream indicator must be one of {', '.join(INDICATORS)}")
    try:
        return state_from_json({**data, "ts": ts})
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"upstream state is not valid: {exc}") from exc


def _components(slugs: set[str]) -> list[Component]:
    return [Component(id=s, name=s.replace("-", " ").capitalize()) for s in sorted(slugs)]


def replay_file(
    stream: IO[bytes],
    *,
    catalog: Catalog | None = None,
    events_out: IO[bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    config: DetectorConfig | None = None,
    policy: AutomaticPolicy | None = None,
    dedup_window: timedelta = DEDUP_WINDOW,
) -> ReplayStats:
    """Replay an NDJSON report stream; write each event as one JSON line to `events_out` as it happens."""

    def write(record: dict[str, Any]) -> None:
        if events_out is not None:
            events_out.write(orjson.dumps(record) + b"\n")

    started = time.perf_counter()
    runner = Replay(catalog, config, policy=policy, on_event=write, dedup_window=dedup_window)
    # readlines(hint) splits about a megabyte of lines at a time in C, not line by line in Python.
    while chunk := stream.readlines(CHUNK_BYTES):
        runner.feed_lines(chunk)
        if progress is not None:
            progress(sum(map(len, chunk)))
    stats = runner.finish()
    stats.seconds = time.perf_counter() - started
    return stats
