"""Writing reports: dedup per (service, client), insert, and roll up into minute buckets — one transaction.

Only the first report per client per service within the dedup window counts towards volumes (as outage
trackers do); later ones are stored with duplicate=True. The writer is the only place that decides this,
so it keeps the last counted time per (service, client) in memory and asks the database on a miss.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from downradar.store.schema import report_minutes, reports

_LOOKUP_CHUNK = 500
_CACHE_LIMIT = 200_000

ClientKey = tuple[str, str]


class ReportStore:
    def __init__(self, engine: Engine, dedup_window: timedelta = timedelta(minutes=15)) -> None:
        self.engine = engine
        self.window = dedup_window
        self._last_counted: dict[ClientKey, datetime] = {}
        dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        insert = dialect.insert(report_minutes)
        self._upsert_minutes = insert.on_conflict_do_update(
            index_elements=["service_id", "minute", "component", "region", "symptom"],
            set_={
                "reports": report_minutes.c.reports + insert.excluded.reports,
                "clients": report_minutes.c.clients + insert.excluded.clients,
            },
        )
        self._insert_returning = reports.insert().returning(reports.c.id, sort_by_parameter_order=True)

    def write(
        self, batches: Sequence[list[dict[str, Any]]], want_ids: Sequence[bool]
    ) -> list[list[int | None]]:
        """Commit several batches of normalised rows in one transaction; rows gain a `duplicate` flag.

        Returns, per batch, the new report ids (or None for batches that did not ask for them).
        """
        with self.engine.begin() as conn:
            counted = self._mark_duplicates(conn, [row for batch in batches for row in batch])
            ids: list[list[int | None]] = []
            for batch, wants in zip(batches, want_ids, strict=True):
                if not batch:
                    ids.append([])
                elif wants:
                    ids.append(list(conn.scalars(self._insert_returning, batch)))
                else:
                    conn.execute(reports.insert(), batch)
                    ids.append([None] * len(batch))
            minute_rows = _roll_up(row for batch in batches for row in batch)
            if minute_rows:
                conn.execute(self._upsert_minutes, minute_rows)
        self._last_counted.update(counted)
        self._trim_cache()
        return ids

    def _mark_duplicates(self, conn: Connection, rows: list[dict[str, Any]]) -> dict[ClientKey, datetime]:
        unknown = {(r["service_id"], r["client"]) for r in rows} - self._last_counted.keys()
        from_db = self._lookup(conn, unknown, rows) if unknown else {}
        counted: dict[ClientKey, datetime] = {}
        for row in sorted(rows, key=lambda r: r["ts"]):
            key = (row["service_id"], row["client"])
            last = counted.get(key) or self._last_counted.get(key) or from_db.get(key)
            duplicate = last is not None and abs(row["ts"] - last) < self.window
            row["duplicate"] = duplicate
            if not duplicate:
                counted[key] = row["ts"] if last is None else max(last, row["ts"])
        return counted

    def _lookup(
        self, conn: Connection, keys: set[ClientKey], rows: list[dict[str, Any]]
    ) -> dict[ClientKey, datetime]:
        """Last counted report time of each unseen (service, client) near this batch's time span."""
        low = min(r["ts"] for r in rows) - self.window
        high = max(r["ts"] for r in rows) + self.window
        by_service: dict[str, list[str]] = {}
        for service_id, client in keys:
            by_service.setdefault(service_id, []).append(client)
        found: dict[ClientKey, datetime] = {}
        for service_id, clients in by_service.items():
            for start in range(0, len(clients), _LOOKUP_CHUNK):
                chunk = clients[start : start + _LOOKUP_CHUNK]
                query = (
                    select(reports.c.client, func.max(reports.c.ts))
                    .where(
                        reports.c.service_id == service_id,
                        reports.c.client.in_(chunk),
                        reports.c.duplicate.is_(False),
                        reports.c.ts.between(low, high),
                    )
                    .group_by(reports.c.client)
                )
                for client, ts in conn.execute(query):
                    found[(service_id, client)] = ts  # func.max keeps the column type: aware UTC
        return found

    def _trim_cache(self) -> None:
        if len(self._last_counted) <= _CACHE_LIMIT:
            return
        newest = max(self._last_counted.values())
        self._last_counted = {k: v for k, v in self._last_counted.items() if newest - v < self.window}


def _roll_up(rows: Any) -> list[dict[str, Any]]:
    totals: Counter[tuple[str, datetime, str, str, str]] = Counter()
    distinct: Counter[tuple[str, datetime, str, str, str]] = Counter()
    for row in rows:
        key = (
            row["service_id"],
            row["ts"].replace(second=0, microsecond=0),
            row["component"],
            row["region"],
            row["symptom"],
        )
        totals[key] += 1
        if not row["duplicate"]:
            distinct[key] += 1
    return [
        {
            "service_id": key[0],
            "minute": key[1],
            "component": key[2],
            "region": key[3],
            "symptom": key[4],
            "reports": count,
            "clients": distinct[key],
        }
        for key, count in totals.items()
    ]
