"""Probe results in `probe_results`: storing batches, per-minute series, availability, latest per location.

Minute buckets are computed in SQL with each backend's own expression (strftime on SQLite, to_char of
the UTC time on PostgreSQL), both giving the same "YYYY-MM-DDTHH:MM" text, so GROUP BY runs in the
database on either. Every query filters on probe_id and a ts range first, which the (probe_id, ts)
index serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, literal_column, select
from sqlalchemy.sql import ColumnElement

from downradar.core.model import ProbeResult
from downradar.store.schema import probe_results

_MINUTE_TEXT = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True)
class MinutePoint:
    """One minute of one probe. Latency figures cover the checks that measured one (a timeout has none)."""

    minute: datetime
    checks: int
    failures: int
    availability: float | None  # share of checks that were ok; None without checks
    latency_ms_avg: float | None
    latency_ms_max: float | None


def store_results(conn: Connection, results: Sequence[ProbeResult], received_at: datetime) -> None:
    """Insert a batch of results in one executemany."""
    if not results:
        return
    conn.execute(
        probe_results.insert(),
        [
            {
                "probe_id": r.probe,
                "location": r.location,
                "ts": r.ts,
                "ok": r.ok,
                "latency_ms": r.latency_ms,
                "status_code": r.status_code,
                "error": r.error,
                "received_at": received_at,
            }
            for r in results
        ],
    )


def floor_minute(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(second=0, microsecond=0)


def _minute_bucket(conn: Connection) -> ColumnElement[Any]:
    ts = probe_results.c.ts
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", ts), literal_column("'YYYY-MM-DD\"T\"HH24:MI'"))
    if conn.dialect.name == "sqlite":
        return func.strftime(_MINUTE_TEXT, ts)  # SQLite keeps UTC times as naive ISO text
    raise ValueError(f"probe series need SQLite or PostgreSQL, not {conn.dialect.name}")


def probe_series(
    conn: Connection, probe: str, start: datetime, minutes: int, location: str | None = None
) -> list[MinutePoint]:
    """`minutes` points from the minute holding `start`, one per minute, empty minutes included; all
    locations together unless `location` is given."""
    first = floor_minute(start)
    end = first + timedelta(minutes=minutes)
    bucket = _minute_bucket(conn).label("minute")
    failed = case((probe_results.c.ok, 0), else_=1)
    conditions = [probe_results.c.probe_id == probe, probe_results.c.ts >= first, probe_results.c.ts < end]
    if location is not None:
        conditions.append(probe_results.c.location == location)
    query = (
        select(
            bucket,
            func.count().label("checks"),
            func.sum(failed).label("failures"),
            func.avg(probe_results.c.latency_ms).label("latency_avg"),
            func.max(probe_results.c.latency_ms).label("latency_max"),
        )
        .where(and_(*conditions))
        .group_by(bucket)
    )
    rows = {
        datetime.strptime(row.minute, _MINUTE_TEXT).replace(tzinfo=UTC): row for row in conn.execute(query)
    }
    points = []
    for n in range(minutes):
        minute = first + timedelta(minutes=n)
        row = rows.get(minute)
        if row is None:
            points.append(MinutePoint(minute, 0, 0, None, None, None))
            continue
        checks, failures = int(row.checks), int(row.failures or 0)
        points.append(
            MinutePoint(
                minute=minute,
                checks=checks,
                failures=failures,
                availability=(checks - failures) / checks,
                latency_ms_avg=float(row.latency_avg) if row.latency_avg is not None else None,
                latency_ms_max=float(row.latency_max) if row.latency_max is not None else None,
            )
        )
    return points


def availability(conn: Connection, probe: str, since: datetime) -> float | None:
    """Share of ok checks of `probe` (all locations) since `since`; None when there were none."""
    passed = case((probe_results.c.ok, 1), else_=0)
    checks, ok = conn.execute(
        select(func.count(), func.sum(passed)).where(
            probe_results.c.probe_id == probe, probe_results.c.ts >= since
        )
    ).one()
    return int(ok or 0) / checks if checks else None


def latest_results(conn: Connection, probes: Sequence[str]) -> dict[tuple[str, str], ProbeResult]:
    """The newest result (by ts) of each (probe, location) among `probes`."""
    if not probes:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=(probe_results.c.probe_id, probe_results.c.location),
            order_by=(probe_results.c.ts.desc(), probe_results.c.id.desc()),
        )
        .label("rank")
    )
    ranked = select(probe_results, rank).where(probe_results.c.probe_id.in_(list(probes))).subquery("ranked")
    latest: dict[tuple[str, str], ProbeResult] = {}
    for row in conn.execute(select(ranked).where(ranked.c.rank == 1)):
        latest[(row.probe_id, row.location)] = ProbeResult(
            probe=row.probe_id,
            location=row.location,
            ts=row.ts,
            ok=bool(row.ok),
            latency_ms=row.latency_ms,
            status_code=row.status_code,
            error=row.error,
        )
    return latest


def prune_results(conn: Connection, before: datetime) -> int:
    """Delete results received before `before` (the received_at index serves it); returns how many."""
    return conn.execute(delete(probe_results).where(probe_results.c.received_at < before)).rowcount
