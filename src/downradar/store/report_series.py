"""Reading the minute buckets back: 15-minute bars and the top problems, for the API and the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Connection, func, select

from downradar.store.schema import report_minutes

BUCKET = timedelta(minutes=15)


@dataclass(frozen=True)
class Bucket:
    start: datetime
    reports: int
    clients: int


@dataclass(frozen=True)
class Share:
    key: str
    clients: int
    share: float  # 0..1 of the counted reports in the window

    @property
    def label(self) -> str:
        return f"{self.key} {round(self.share * 100)} %"


@dataclass(frozen=True)
class ReportSummary:
    service_id: str
    start: datetime
    end: datetime
    buckets: list[Bucket]
    total_reports: int
    total_clients: int
    top_problems: list[Share]  # symptoms
    top_components: list[Share]
    top_regions: list[Share]


def bucket_start(moment: datetime, size: timedelta = BUCKET) -> datetime:
    seconds = int(size.total_seconds())
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=moment.tzinfo)


def report_summary(
    conn: Connection, service_id: str, now: datetime, hours: int = 24, top: int = 3
) -> ReportSummary:
    end = bucket_start(now) + BUCKET
    start = end - timedelta(hours=hours)
    window = (
        report_minutes.c.service_id == service_id,
        report_minutes.c.minute >= start,
        report_minutes.c.minute < end,
    )
    per_minute = conn.execute(
        select(
            report_minutes.c.minute, func.sum(report_minutes.c.reports), func.sum(report_minutes.c.clients)
        )
        .where(*window)
        .group_by(report_minutes.c.minute)
    ).all()
    bars: dict[datetime, list[int]] = {}
    for minute, n_reports, n_clients in per_minute:
        bar = bars.setdefault(bucket_start(minute), [0, 0])
        bar[0] += int(n_reports)
        bar[1] += int(n_clients)
    buckets = []
    cursor = start
    while cursor < end:
        n_reports, n_clients = bars.get(cursor, (0, 0))
        buckets.append(Bucket(cursor, n_reports, n_clients))
        cursor += BUCKET
    total_clients = sum(b.clients for b in buckets)

    def shares(column: Column[Any], skip: tuple[str, ...] = ("",)) -> list[Share]:
        rows = conn.execute(
            select(column, func.sum(report_minutes.c.clients).label("n"))
            .where(*window, column.not_in(skip))
            .group_by(column)
            .order_by(func.sum(report_minutes.c.clients).desc(), column)
            .limit(top)
        ).all()
        return [Share(key, int(n), int(n) / total_clients) for key, n in rows if n and total_clients]

    return ReportSummary(
        service_id=service_id,
        start=start,
        end=end,
        buckets=buckets,
        total_reports=sum(b.reports for b in buckets),
        total_clients=total_clients,
        top_problems=shares(report_minutes.c.symptom),
        top_components=shares(report_minutes.c.component),
        top_regions=shares(report_minutes.c.region),
    )
