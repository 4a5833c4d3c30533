"""Writing reports: dedup per (service, client), insert, and roll up into minute buckets — one transaction.

Which reports count is intake/counting.py's rule, the one replay follows too: a client's first report per
service within the dedup window counts towards volumes, later ones are stored with duplicate=True. The
writer is the only place that decides this live, so it keeps the last counted time per (service, client)
in memory and asks the database on a miss that an earlier run (or a trimmed cache entry) could explain:
live reports after the first window of a run cost no lookup. It assumes it is the only writer of its
database, as the server's writer is.

This is the hot path of intake, so it talks to the driver directly (inside the SQLAlchemy transaction):
rows become parameter tuples once, bound exactly as the UTCDateTime column type would bind them (naive
UTC text on SQLite, aware datetimes on PostgreSQL), and go in as multi-row statements (SQLite) or unnest()
array parameters (PostgreSQL). SQLAlchemy's per-row parameter processing cost more than SQLite's own
insert, and a statement per row more than the rows (bench/README.md has the figures).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPICursor

from downradar.intake.counting import DEDUP_WINDOW, judge
from downradar.store.schema import report_minutes, reports

if TYPE_CHECKING:
    import psycopg

_SQLITE_LOOKUP_CHUNK = 500  # clients per lookup query: well under SQLite's bound-parameter limit
_SQLITE_ROWS_PER_STATEMENT = 1024  # 10 columns: 10,240 parameters, under SQLite's 32,766
_CACHE_LIMIT = 200_000
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_RESOLUTION = timedelta(microseconds=1)
# Column: its PostgreSQL type, for the array parameters of a many-row insert.
_REPORT_COLUMNS = {
    "ts": "timestamptz",
    "received_at": "timestamptz",
    "service_id": "text",
    "component": "text",
    "region": "text",
    "symptom": "text",
    "client": "text",
    "comment": "text",
    "duplicate": "boolean",
    "source": "text",
}
_MINUTE_COLUMNS = {
    "service_id": "text",
    "minute": "timestamptz",
    "component": "text",
    "region": "text",
    "symptom": "text",
    "reports": "int",
    "clients": "int",
}
_INSERT_COLUMNS = tuple(_REPORT_COLUMNS)
_MINUTE_KEY = ("service_id", "minute", "component", "region", "symptom")

ClientKey = tuple[str, str]
Param = Any  # what the driver binds for a UTC time: str on SQLite, aware datetime on PostgreSQL
# A row's time as (aware UTC datetime, bound parameter, bound start of its minute bucket).
_Time = tuple[datetime, Param, Param]


class ReportStore:
    def __init__(self, engine: Engine, dedup_window: timedelta = DEDUP_WINDOW) -> None:
        self.engine = engine
        self.window = dedup_window
        self._window_seconds = dedup_window.total_seconds()
        self._last_counted: dict[ClientKey, float] = {}  # epoch seconds of each client's last counted report
        self._conn: Connection | None = None
        self._complete_since: dict[str, datetime] = {}  # see _complete_from
        self._trimmed_before = _EARLIEST  # cache entries before this were dropped
        self._sqlite = engine.dialect.name == "sqlite"
        self._mark = "?" if self._sqlite else "%s"
        self._bind_time: Callable[[datetime], Param] = _sqlite_time if self._sqlite else _aware_time
        # Statements as head + VALUES rows + tail; SQLite's are sent with many rows at once.
        self._insert_head = f"INSERT INTO {reports.name} ({', '.join(_INSERT_COLUMNS)}) VALUES "
        self._upsert_minutes_head = (
            f"INSERT INTO {report_minutes.name} ({', '.join(_MINUTE_KEY)}, reports, clients) VALUES "
        )
        self._upsert_minutes_tail = (
            f" ON CONFLICT ({', '.join(_MINUTE_KEY)}) DO UPDATE SET "
            f"reports = {report_minutes.name}.reports + excluded.reports, "
            f"clients = {report_minutes.name}.clients + excluded.clients"
        )
        # PostgreSQL: many rows in one statement, a column per array parameter. psycopg's executemany
        # spends more Python per row than the server spends inserting it.
        self._insert_arrays = (
            f"INSERT INTO {reports.name} ({', '.join(_INSERT_COLUMNS)}) "
            f"SELECT {', '.join(_INSERT_COLUMNS)} FROM unnest({_arrays(_REPORT_COLUMNS)}) "
            f"WITH ORDINALITY AS r({', '.join(_INSERT_COLUMNS)}, n) ORDER BY n"
        )
        self._upsert_minutes_arrays = (
            f"{self._upsert_minutes_head.removesuffix('VALUES ')}"
            f"SELECT * FROM unnest({_arrays(_MINUTE_COLUMNS)}){self._upsert_minutes_tail}"
        )

    def write(
        self, batches: Sequence[list[dict[str, Any]]], want_ids: Sequence[bool]
    ) -> list[list[int | None]]:
        """Commit several batches of normalised rows in one transaction; rows gain a `duplicate` flag.

        Returns, per batch, the new report ids (or None for batches that did not ask for them).
        """
        rows = [row for batch in batches for row in batch]
        times, received = self._times(rows)
        conn = self._connection()
        try:
            ids = self._write(conn, batches, want_ids, rows, times, received)
        except Exception:
            self.close()  # a broken connection is not reused; the next write opens another
            raise
        self._trim_cache()
        return ids

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> Connection:
        # One connection for the writer's life: a pool checkout per write (reset, pre-ping) cost more than
        # a small batch's inserts.
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _write(
        self,
        conn: Connection,
        batches: Sequence[list[dict[str, Any]]],
        want_ids: Sequence[bool],
        rows: list[dict[str, Any]],
        times: list[_Time],
        received: list[Param],
    ) -> list[list[int | None]]:
        with conn.begin():
            cursor = conn.connection.cursor()
            try:
                counted = self._mark_duplicates(cursor, rows, times)
                params = [
                    (
                        t[1],
                        arrived,
                        r["service_id"],
                        r["component"],
                        r["region"],
                        r["symptom"],
                        r["client"],
                        r["comment"],
                        r["duplicate"],
                        r["source"],
                    )
                    for r, t, arrived in zip(rows, times, received, strict=True)
                ]
                ids = self._insert_batches(cursor, params, [len(b) for b in batches], want_ids)
                minute_rows = _roll_up(rows, times)
                if minute_rows:
                    if self._sqlite:
                        _execute_rows(
                            cursor, self._upsert_minutes_head, self._upsert_minutes_tail, minute_rows
                        )
                    else:
                        # Behind SQLAlchemy's DB-API view this is psycopg's cursor: prepare=False is its own.
                        psycopg_cursor = cast("psycopg.Cursor[Any]", cursor)
                        psycopg_cursor.execute(
                            self._upsert_minutes_arrays, _columns(minute_rows), prepare=False
                        )
            finally:
                cursor.close()
        self._last_counted.update(counted)  # only once committed
        return ids

    def _times(self, rows: list[dict[str, Any]]) -> tuple[list[_Time], list[Param]]:
        """Each row's _Time, and its received_at as bound (a request's rows share one received_at)."""
        time_of = self._time
        times: list[_Time] = []
        received: list[Param] = []
        arrival: datetime | None = None
        arrived: _Time = (datetime.min, None, None)
        for r in rows:
            if r["received_at"] is not arrival:
                arrival = r["received_at"]
                arrived = time_of(arrival)
            ts = r["ts"]
            times.append(arrived if ts is arrival else time_of(ts))  # a single report's ts is its arrival
            received.append(arrived[1])
        return times, received

    def _time(self, value: datetime) -> _Time:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        utc = value.astimezone(UTC)
        # Truncating to the minute commutes with the UTC conversion unless the offset has seconds.
        whole_minutes = value.second == utc.second and value.microsecond == utc.microsecond
        if self._sqlite:
            bound = utc.isoformat(" ", "microseconds")[:26]  # drop the "+00:00": naive UTC, as stored
            if whole_minutes:
                return utc, bound, bound[:17] + "00.000000"
            return utc, bound, _sqlite_time(value.replace(second=0, microsecond=0))
        if whole_minutes:
            return utc, utc, utc.replace(second=0, microsecond=0)
        return utc, utc, value.replace(second=0, microsecond=0).astimezone(UTC)

    def _insert_batches(
        self, cursor: Any, params: list[tuple[Any, ...]], sizes: list[int], want_ids: Sequence[bool]
    ) -> list[list[int | None]]:
        """Insert every row; per batch of `sizes`, the new ids in order (or Nones where not wanted)."""
        if self._sqlite:
            # Multi-row statements: SQLite hands the GIL back to the event loop around every statement
            # step, so executemany's one step per row meant as many hand-offs. The transaction holds the
            # write lock and rows without an id get max(id) + 1, so the ids are consecutive, in order.
            last = _execute_rows(cursor, self._insert_head, "", params)
            new_ids: list[int | None] = list(range(last - len(params) + 1, last + 1))
        elif any(want_ids):
            # One statement, one round trip. RETURNING's order is not promised, but the ids are: the
            # sequence hands them out as rows are inserted, in ORDER BY n order, so sorted they pair up.
            cursor.execute(self._insert_arrays + " RETURNING id", _columns(params), prepare=False)
            new_ids = sorted(row[0] for row in cursor.fetchall())
        else:
            cursor.execute(self._insert_arrays, _columns(params), prepare=False)
            new_ids = [None] * len(params)
        out: list[list[int | None]] = []
        start = 0
        for size, wants in zip(sizes, want_ids, strict=True):
            out.append(new_ids[start : start + size] if wants else [None] * size)
            start += size
        return out

    def _mark_duplicates(
        self, cursor: Any, rows: list[dict[str, Any]], times: list[_Time]
    ) -> dict[ClientKey, float]:
        """Flag each row `duplicate` by the counting rule, in the order the rows arrived; returns the last
        counted time of each client that had a report counted, for the cache once committed."""
        last_counted = self._last_counted
        earliest: dict[ClientKey, datetime] = {}  # of each (service, client) the cache does not know
        for r, t in zip(rows, times, strict=True):
            key = (r["service_id"], r["client"])
            if key not in last_counted:
                seen = earliest.get(key)
                if seen is None or t[0] < seen:
                    earliest[key] = t[0]
        # Only where the window reaches back before what the cache is sure of can the database know more.
        unknown = {
            key for key, ts in earliest.items() if ts - self.window < self._complete_from(cursor, key[0])
        }
        from_db = self._lookup(cursor, unknown, times) if unknown else {}
        # This batch's view: what the cache or the database knew of each client, then its own decisions.
        staged: dict[ClientKey, float] = {}
        counted: set[ClientKey] = set()
        window = self._window_seconds
        for row, t in zip(rows, times, strict=True):
            key = (row["service_id"], row["client"])
            if key not in staged:
                known = last_counted.get(key)
                if known is None:
                    known = from_db.get(key)
                if known is not None:
                    staged[key] = known
            duplicate = not judge(staged, key, t[0].timestamp(), window)
            row["duplicate"] = duplicate
            if not duplicate:
                counted.add(key)
        return {key: staged[key] for key in counted}

    def _lookup(self, cursor: Any, keys: set[ClientKey], times: list[_Time]) -> dict[ClientKey, float]:
        """Last counted report time of each unseen (service, client) near this batch's time span."""
        utc = [t[0] for t in times]
        low = self._bind_time(min(utc) - self.window)
        high = self._bind_time(max(utc) + self.window)
        found: dict[ClientKey, float] = {}
        by_service: dict[str, list[str]] = {}
        for service_id, client in keys:
            by_service.setdefault(service_id, []).append(client)
        for service_id, service_clients in by_service.items():
            if self._sqlite:
                for start in range(0, len(service_clients), _SQLITE_LOOKUP_CHUNK):
                    chunk = service_clients[start : start + _SQLITE_LOOKUP_CHUNK]
                    cursor.execute(
                        f"SELECT client, max(ts) FROM {reports.name} WHERE service_id = ? "
                        f"AND client IN ({', '.join('?' * len(chunk))}) "
                        "AND duplicate = 0 AND ts BETWEEN ? AND ? GROUP BY client",
                        (service_id, *chunk, low, high),
                    )
                    for client, ts in cursor.fetchall():
                        found[(service_id, client)] = _parse_stored(ts).timestamp()
            else:
                # One array parameter, however many clients, and one index probe per client: its latest
                # counted report up to `high`, kept if not before `low` (the same as max(ts) between them).
                # Put as a join, or with both bounds inside, the planner took the (service, ts) index
                # before the table had statistics and read every report of the service in the span, a
                # cost that grows with the outage.
                cursor.execute(
                    "SELECT k.client, m.ts FROM unnest(%b::text[]) AS k(client) CROSS JOIN LATERAL "
                    f"(SELECT r.ts FROM {reports.name} r WHERE r.service_id = %s AND r.client = k.client "
                    "AND r.duplicate = false AND r.ts <= %s ORDER BY r.ts DESC LIMIT 1) m WHERE m.ts >= %s",
                    (service_clients, service_id, high, low),
                    prepare=False,  # a plan for these values: a generic one can scan the whole table
                )
                for client, ts in cursor.fetchall():
                    found[(service_id, client)] = _parse_stored(ts).timestamp()
        return found

    def _complete_from(self, cursor: Any, service_id: str) -> datetime:
        """The time from which every counted report of the service is in the cache.

        Reports stored before this writer started (an earlier run) all lie at or before the service's
        latest report then; this writer caches what it counts itself, and drops only what it trims.
        """
        since = self._complete_since.get(service_id)
        if since is None:
            cursor.execute(
                f"SELECT max(ts) FROM {reports.name} WHERE service_id = {self._mark}", (service_id,)
            )
            latest = cursor.fetchone()[0]
            since = _EARLIEST if latest is None else _parse_stored(latest) + _RESOLUTION
            self._complete_since[service_id] = since
        return max(since, self._trimmed_before)

    def _trim_cache(self) -> None:
        if len(self._last_counted) <= _CACHE_LIMIT:
            return
        newest = max(self._last_counted.values())
        horizon = newest - self._window_seconds
        self._trimmed_before = max(self._trimmed_before, datetime.fromtimestamp(horizon, UTC))
        self._last_counted = {k: v for k, v in self._last_counted.items() if v > horizon}


def _execute_rows(cursor: DBAPICursor, head: str, tail: str, rows: list[tuple[Any, ...]]) -> int:
    """`head VALUES (?, …), (?, …) … tail` over all rows, in chunks of power-of-two sizes (few distinct
    statements for the driver's cache, each under SQLite's bound-parameter limit). Returns the last
    inserted rowid."""
    start = 0
    while start < len(rows):
        size = min(_SQLITE_ROWS_PER_STATEMENT, 1 << ((len(rows) - start).bit_length() - 1))
        chunk = rows[start : start + size]
        cursor.execute(_multi_row_sql(head, tail, size, len(chunk[0])), [v for row in chunk for v in row])
        start += size
    return cursor.lastrowid


@lru_cache(maxsize=128)
def _multi_row_sql(head: str, tail: str, rows: int, columns: int) -> str:
    row = f"({', '.join('?' * columns)})"
    return f"{head}{', '.join([row] * rows)}{tail}"


def _arrays(columns: dict[str, str]) -> str:
    """Array parameters sent in binary (%b): psycopg dumps text arrays in Python, five times slower."""
    return ", ".join(f"%b::{pg_type}[]" for pg_type in columns.values())


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows to one list per column: the array parameters of an unnest() insert."""
    return [list(column) for column in zip(*rows, strict=True)]


def _parse_stored(value: str | datetime) -> datetime:
    """A ts as the driver returns it: naive UTC text from SQLite, an aware datetime from PostgreSQL."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _sqlite_time(value: datetime) -> str:
    """What UTCDateTime and SQLAlchemy's SQLite DATETIME store: naive UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _aware_time(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


def _roll_up(rows: list[dict[str, Any]], times: list[_Time]) -> list[tuple[Any, ...]]:
    """(service, minute, component, region, symptom, reports, distinct clients) per minute bucket."""
    totals: dict[tuple[str, Any, str, str, str], int] = {}
    distinct: dict[tuple[str, Any, str, str, str], int] = {}
    for row, t in zip(rows, times, strict=True):
        key = (row["service_id"], t[2], row["component"], row["region"], row["symptom"])
        totals[key] = totals.get(key, 0) + 1
        if not row["duplicate"]:
            distinct[key] = distinct.get(key, 0) + 1
    return [(*key, count, distinct.get(key, 0)) for key, count in totals.items()]
