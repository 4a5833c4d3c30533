"""Live and replay count the same way: one seeded report stream through the app's bulk intake
(SQLite and PostgreSQL) and through `Replay` gives the same per-minute counts (every cell, and so every
series the detector reads: service totals, components, countries, symptoms) and the same incident events.

The stream has what makes counting hard: floods (one client every 10 s), a client reporting twice within
a minute with the later report sent first (late within the minute, for different components), reports
without a client, components the catalog does not list (they count as "other"), regions in lower case
(counted in upper case), several services,
components, regions and symptoms, and an outage that opens, updates and resolves an incident.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from downradar.core.catalog import load_catalog
from downradar.core.clock import FakeClock
from downradar.core.config import DEMO_CATALOG
from downradar.detect import SeriesKey, epoch_minute, minute_datetime
from downradar.detection.replay import Replay
from downradar.detection.scenario import Episode, Flood, Mix, Scenario, ServiceSpec, report_stream
from downradar.detection.series import series_counts
from downradar.store import make_engine
from downradar.store.schema import report_minutes
from support.inprocess import start_in_process
from support.servers import ADMIN_TOKEN, LiveServer, make_settings

START = datetime(2026, 3, 2, tzinfo=UTC)
HOURS = 9  # past the detector's six-hour warm-up
ONSET = START + timedelta(hours=7)
STEP = timedelta(minutes=30)  # how far the live clock moves between detector catch-ups
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

Cell = tuple[str, str, str, str]
# The fields of an event that must agree; incident ids are random live and derived in replay.
EVENT_FIELDS = ("ts", "type", "service", "components", "regions", "status", "impact", "signals",
                "reports_per_min", "baseline_per_min", "score")  # fmt: skip


def scenario() -> Scenario:
    start = epoch_minute(START)
    onset = epoch_minute(ONSET)
    chatgpt = Mix({"conversations": 0.5, "login": 0.3, "search": 0.2}, {"US": 0.5, "US-CA": 0.2, "GB": 0.3},
                  {"error": 0.5, "slow": 0.3, "cannot-load": 0.2})  # fmt: skip
    outage = Mix({"login": 0.8, "conversations": 0.2}, {"US": 0.7, "US-NY": 0.2, "DE": 0.1},
                 {"login": 0.7, "error": 0.3})  # fmt: skip
    claude = Mix({"claude-ai": 0.7, "api": 0.3}, {"GB": 0.5, "FR": 0.5}, {"slow": 1.0})
    return Scenario(
        start,
        HOURS * 60,
        (
            ServiceSpec("chatgpt", per_min=2.5, mix=chatgpt),
            ServiceSpec("claude", per_min=1.2, mix=claude),
            ServiceSpec("github", per_min=0.6),
        ),
        (Episode.plateau("chatgpt", onset, 40, 35.0, outage, ramp=3),),
        (
            Flood("claude", clients=3, start=start + 90, end=start + 150, component="api", symptom="error"),
            Flood("github", clients=2, start=onset - 20, end=onset + 10, region="US"),
        ),
        seed=13,
    )


def stream() -> list[dict[str, Any]]:
    """The scenario's reports, plus per hour a client who reports twice within a minute with the later
    report arriving first; every 97th report without a client, every 89th for a component nobody lists,
    every 83rd with its region in lower case."""
    reports: list[dict[str, Any]] = []
    for n, report in enumerate(report_stream(scenario())):
        if n % 97 == 0:
            report = {k: v for k, v in report.items() if k != "client"}
        if n % 89 == 0:
            report = {**report, "component": "warp-drive"}
        if n % 83 == 0 and "region" in report:
            report = {**report, "region": report["region"].lower()}
        reports.append(report)
        minute = datetime.fromisoformat(report["ts"]).replace(second=0)
        if minute.minute == 17 and report.get("client") and report["service"] == "chatgpt":
            late = minute.replace(second=int(report["ts"][17:19]) // 2)
            reports.append({**report, "ts": late.isoformat().replace("+00:00", "Z"), "component": "search"})
    return reports


def live_run(db_url: str, lines: list[dict[str, Any]]) -> tuple[dict[tuple[int, Cell], int], list[dict]]:
    """The stream through the app (in-process): bulk intake, then the detector minute by minute as the clock
    moves on. Returns the stored minute buckets (counted reports per cell) and the events."""
    clock = FakeClock(START - timedelta(days=1))  # before every report: the detector waits for them
    server: LiveServer = start_in_process(make_settings(db_url, probes=False, upstream=False), clock=clock)
    try:
        with server.client() as http:
            encoded = [orjson.dumps(line) for line in lines]
            for start in range(0, len(encoded), 4000):
                response = http.post(
                    "/api/v1/reports/bulk", content=b"\n".join(encoded[start : start + 4000]), headers=ADMIN
                )
                assert response.status_code == 202 and response.json()["rejected"] == 0, response.text
            detection = server.runtime.detection
            assert detection is not None
            # Up to the minute after the last report, as replay's finish() runs one quiet minute more.
            end = minute_datetime(epoch_minute(datetime.fromisoformat(lines[-1]["ts"])) + 2) + timedelta(
                seconds=5
            )
            moment = START
            while moment < end:
                moment = min(moment + STEP, end)
                clock.set(moment)
                detection.catch_up()
            events = http.get("/api/v1/events", params={"limit": 1000}).json()["events"]
        engine = make_engine(db_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(
                        report_minutes.c.minute,
                        report_minutes.c.service_id,
                        report_minutes.c.component,
                        report_minutes.c.region,
                        report_minutes.c.symptom,
                        report_minutes.c.clients,
                    )
                ).all()
        finally:
            engine.dispose()
    finally:
        server.stop()
    cells = {(epoch_minute(minute), (service, c, r, s)): n for minute, service, c, r, s, n in rows if n}
    return cells, events


def replay_run(lines: list[dict[str, Any]]) -> tuple[dict[tuple[int, Cell], int], list[dict]]:
    cells: dict[tuple[int, Cell], int] = {}

    def minute_done(minute: int, counted: dict[Cell, int]) -> None:
        cells.update(((minute, cell), n) for cell, n in counted.items())

    replay = Replay(load_catalog(DEMO_CATALOG), on_minute=minute_done)
    replay.feed_lines(orjson.dumps(line) for line in lines)
    stats = replay.finish()
    assert stats.rejected == 0, stats.errors
    return cells, stats.events


def series(cells: dict[tuple[int, Cell], int]) -> dict[int, dict[SeriesKey, int]]:
    """Per minute, the detector's series (totals and children) from the cells, as live detection reads."""
    by_minute: dict[int, list[tuple[str, str, str, str, int]]] = defaultdict(list)
    for (minute, cell), n in cells.items():
        by_minute[minute].append((*cell, n))
    return {minute: series_counts(rows) for minute, rows in by_minute.items()}


@pytest.fixture(scope="module")
def lines() -> list[dict[str, Any]]:
    return stream()


@pytest.fixture(scope="module")
def replayed(lines: list[dict[str, Any]]) -> tuple[dict[tuple[int, Cell], int], list[dict]]:
    return replay_run(lines)


def test_the_stream_has_what_makes_counting_hard(lines, replayed) -> None:
    cells, events = replayed
    assert sum(cells.values()) < len(lines)  # floods and repeat reporters: duplicates
    assert any("client" not in line for line in lines)
    assert any(cell[1] == "other" for _, cell in cells)  # warp-drive, as live intake files it
    late = [(a, b) for a, b in pairwise(lines) if b["ts"] < a["ts"]]
    assert late and all(b["ts"][:16] == a["ts"][:16] for a, b in late)  # late only within the minute
    assert {"incident.opened", "incident.resolved"} <= {e["type"] for e in events}


def test_live_intake_and_replay_give_the_same_minutes_and_events(db_url: str, lines, replayed) -> None:
    replay_cells, replay_events = replayed
    live_cells, live_events = live_run(db_url, lines)

    assert live_cells == replay_cells
    assert series(live_cells) == series(replay_cells)
    assert [{k: e[k] for k in EVENT_FIELDS} for e in live_events] == [
        {k: e[k] for k in EVENT_FIELDS} for e in replay_events
    ]
    # One incident live is one incident in replay: the ids pair up one to one.
    pairs = {(a["incident_id"], b["incident_id"]) for a, b in zip(live_events, replay_events, strict=True)}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_a_report_sent_late_within_its_minute_is_judged_in_arrival_order() -> None:
    """The client's report that arrives first counts (its component); the earlier-stamped one that comes
    second is a duplicate. The live store judges a batch in the same order (the differential test above
    holds it to that with the stream's late reports)."""
    cells: dict[tuple[int, Cell], int] = {}
    replay = Replay(
        load_catalog(DEMO_CATALOG), on_minute=lambda m, c: cells.update(((m, k), n) for k, n in c.items())
    )
    replay.feed({"ts": "2026-03-02T09:17:40Z", "service": "chatgpt", "component": "login", "client": "x"})
    replay.feed({"ts": "2026-03-02T09:17:10Z", "service": "chatgpt", "component": "search", "client": "x"})
    stats = replay.finish()
    minute = epoch_minute(datetime(2026, 3, 2, 9, 17, tzinfo=UTC))
    assert (stats.counted, stats.duplicates) == (1, 1)
    assert cells == {(minute, ("chatgpt", "login", "", "")): 1}
