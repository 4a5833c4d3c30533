"""The honesty gap: what users and probes see next to what the provider's own page admits, and how late
providers acknowledge outages (a letter grade over 90 days).

A service is in the gap while an incident we detected is open and the provider's page (last good state)
says nothing is wrong. Each detected incident records when the provider first admitted it
(`incidents.acknowledged_at`); its delay is that minus our detection, and never below zero (a provider
who was first gets 0). An incident the provider did not acknowledge while it was open counts as 4 hours
once it is 4 hours old; dismissed incidents (false alarms) don't count. The grade is that of the mean delay:
A under 15 min, B 15–30, C 30 min–2 h, D 2–4 h, F over 4 h or no acknowledgement at all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, select

from downradar.core.model import CLOSED_STATUSES, ComponentStatus, UpstreamState
from downradar.incidents.lifecycle import DETECTOR
from downradar.store.schema import incidents, upstream_feeds
from downradar.upstream.parse import state_from_json

GRADE_WINDOW = timedelta(days=90)
NEVER = timedelta(hours=4)  # what an incident never acknowledged counts as
GRADE_BOUNDS: tuple[tuple[float, str], ...] = ((15, "A"), (30, "B"), (120, "C"), (240, "D"))


@dataclass(frozen=True)
class Acknowledgement:
    incident_id: str
    detected_at: datetime
    acknowledged_at: datetime | None
    delay_minutes: float | None  # None: never acknowledged (counts as NEVER in the grade)


@dataclass(frozen=True)
class Grade:
    letter: str
    average_minutes: float
    incidents: int
    acknowledged: int


@dataclass(frozen=True)
class Honesty:
    service: str
    watched: bool  # the service names a provider page
    official: UpstreamState | None  # the page's last good state
    reachable: bool  # the last poll of the page worked
    last_ok_at: datetime | None
    gap: bool
    state: str | None  # e.g. "Users report problems; official status: operational"
    grade: Grade | None  # None: no detected incident in the window yet
    acknowledgements: tuple[Acknowledgement, ...]

    @property
    def official_words(self) -> str:
        if self.official is None:
            return "unknown"
        return (
            ComponentStatus.operational.value
            if not self.official.admits_problem
            else self.official.description.lower()
        )


def grade_letter(average_minutes: float, acknowledged: int) -> str:
    if acknowledged == 0:
        return "F"
    return next((letter for bound, letter in GRADE_BOUNDS if average_minutes < bound), "F")


def honesty_by_service(conn: Connection, now: datetime) -> dict[str, Honesty]:
    """Every service whose provider page is watched, or that has had a detected incident."""
    feeds = {row.service_id: row for row in conn.execute(select(upstream_feeds))}
    rows = conn.execute(
        select(
            incidents.c.id,
            incidents.c.service_id,
            incidents.c.status,
            incidents.c.created_at,
            incidents.c.signals,
            incidents.c.acknowledged_at,
        )
        .where(
            incidents.c.kind == "incident",
            incidents.c.source == DETECTOR,
            incidents.c.dismissed_at.is_(None),
            incidents.c.created_at >= now - GRADE_WINDOW,
        )
        .order_by(incidents.c.created_at)
    ).all()
    by_service: dict[str, list[Row[*tuple[Any, ...]]]] = defaultdict(list)
    for row in rows:
        by_service[row.service_id].append(row)
    out: dict[str, Honesty] = {}
    for service in sorted(set(feeds) | set(by_service)):
        feed = feeds.get(service)
        official = state_from_json(feed.state) if feed is not None and feed.state else None
        found = by_service.get(service, [])
        open_rows = [r for r in found if r.status not in CLOSED_STATUSES]
        # Only what users or our probes saw can contradict the page (an incident the page alone opened
        # cannot).
        ours = set(open_rows[-1].signals or ("reports",)) & {"reports", "probes"} if open_rows else set()
        gap = bool(ours) and official is not None and not official.admits_problem
        state = None
        if gap:
            who = "Users report problems" if "reports" in ours else "Our probes fail"
            state = f"{who}; official status: operational"
        acknowledgements = tuple(_acknowledgement(r, now) for r in found) if feed is not None else ()
        out[service] = Honesty(
            service=service,
            watched=feed is not None,
            official=official,
            reachable=feed is not None and feed.failures == 0 and feed.last_ok_at is not None,
            last_ok_at=feed.last_ok_at if feed is not None else None,
            gap=gap,
            state=state,
            grade=_grade(acknowledgements, now),
            acknowledgements=acknowledgements,
        )
    return out


def _acknowledgement(row: Row[*tuple[Any, ...]], now: datetime) -> Acknowledgement:
    detected: datetime = row.created_at
    acknowledged: datetime | None = row.acknowledged_at
    delay = None
    if acknowledged is not None:
        delay = max(0.0, (acknowledged - detected).total_seconds() / 60)
    return Acknowledgement(row.id, detected, acknowledged, delay)


def _grade(acknowledgements: tuple[Acknowledgement, ...], now: datetime) -> Grade | None:
    delays: list[float] = []
    acknowledged = 0
    for ack in acknowledgements:
        if ack.delay_minutes is not None:
            delays.append(ack.delay_minutes)
            acknowledged += 1
        elif now - ack.detected_at >= NEVER:
            delays.append(NEVER.total_seconds() / 60)
        # else: open, unacknowledged and younger than NEVER: not counted yet
    if not delays:
        return None
    average = sum(delays) / len(delays)
    return Grade(grade_letter(average, acknowledged), average, len(delays), acknowledged)
