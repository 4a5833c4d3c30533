"""Change notes: "what the public pages show has changed", told by the code that changed it.

Domain code calls `record(conn, kind, service_id=None)` inside the change's own transaction. That notes
the change on the connection and, on PostgreSQL, sends a NOTIFY in the same transaction (delivered at
commit) so that other processes (the CLI, a second server) hear of it. Nothing here is process-wide: each
application owns one `ChangeBus`, attached to its own engine, which turns the notes of that engine's
transactions into generation bumps when they commit, and drops them when they roll back. Two apps in one
process (two engines) never see each other's changes; a change made on an engine no bus is attached to
(a CLI command, a replay) is not noted at all.

The page cache (web/serving/page_cache.py) keeps the generation each page was rendered at and renders again
once it moved. Reports move only the one service's own counter (`bump("reports", service_id)`), at most
once a second per service, so a storm of reports does not turn every page view into a render.

Two edges per change. SQLAlchemy's "commit" event fires just before the database commits, so a page
rendered between the bump and the commit's end would read the old rows yet carry the new generation. Each
bump therefore schedules a second one SETTLE seconds later (the trailing edge); a render in that window is
rendered again after it.

`PostgresListener` LISTENs for NOTIFYs (other processes', and this one's own after their commit) and bumps
its bus. With SQLite the cache's short TTL is what bounds how long another process's change stays unseen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import make_url

log = logging.getLogger("downradar.changes")
CHANNEL = "downradar_changes"
WAKE = "wake"  # a note that carries no change: it only wakes a listener being stopped
SETTLE_SECONDS = 1.0  # longer than a commit takes after its "commit" event
REPORTS_EVERY_SECONDS = 1.0  # a service's report counts invalidate its pages at most this often
# Set on an engine's execution options while a bus listens to it: only then are changes noted.
LISTENED = "downradar_change_bus"
NOTES = "downradar_changes"  # key of the pending notes in Connection.info

Note = tuple[str, str | None]


def record(conn: Connection, kind: str, service_id: str | None = None) -> None:
    """Note a change of `kind` made in `conn`'s open transaction; it counts once (and if) it commits."""
    if conn.get_execution_options().get(LISTENED):
        conn.info.setdefault(NOTES, []).append((kind, service_id))
    if conn.dialect.name == "postgresql":
        payload = f"{kind}:{service_id}" if service_id else kind
        conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


class ChangeBus:
    """A global generation and one per service; reading them is lock-free (the cache reads per request)."""

    def __init__(
        self,
        settle: float = SETTLE_SECONDS,
        reports_every: float = REPORTS_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settle = settle
        self.reports_every = reports_every
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = 0
        self._trailing_at: float | None = None
        self._services: dict[str, int] = {}
        self._service_last: dict[str, float] = {}
        self._service_pending: dict[str, float] = {}  # service → when its held-back bump is due

    # -- hearing of changes -------------------------------------------------------------------------------

    def attach(self, engine: Engine) -> None:
        """Bump for every change `record`ed in a transaction of `engine`, when it commits."""
        engine.update_execution_options(**{LISTENED: True})
        event.listen(engine, "commit", self._committed)
        event.listen(engine, "rollback", _forget)

    def detach(self, engine: Engine) -> None:
        engine.update_execution_options(**{LISTENED: False})
        if event.contains(engine, "commit", self._committed):
            event.remove(engine, "commit", self._committed)
        if event.contains(engine, "rollback", _forget):
            event.remove(engine, "rollback", _forget)

    def _committed(self, conn: Connection) -> None:
        notes: list[Note] | None = conn.info.pop(NOTES, None)
        for kind, service_id in notes or ():
            self.bump(kind, service_id)

    def bump(self, kind: str, service_id: str | None = None) -> None:
        """Count a change of `kind` now; "reports" changes only `service_id`'s own generation."""
        now = self._clock()
        with self._lock:
            if kind == "reports" and service_id is not None:
                self._bump_service(service_id, now)
                return
            self._generation += 1
            self._trailing_at = now + self.settle

    def _bump_service(self, service_id: str, now: float) -> None:
        last = self._service_last.get(service_id)
        if last is not None and now - last < self.reports_every:
            self._service_pending.setdefault(service_id, last + self.reports_every)
            return
        self._services[service_id] = self._services.get(service_id, 0) + 1
        self._service_last[service_id] = now
        self._service_pending.pop(service_id, None)

    def pending(self) -> bool:
        """Whether a trailing edge is still to come."""
        self.generation()
        return self._trailing_at is not None

    # -- reading ------------------------------------------------------------------------------------------

    def generation(self) -> int:
        """The global generation (every page depends on it)."""
        due = self._trailing_at
        if due is not None and self._clock() >= due:
            with self._lock:
                if self._trailing_at is not None and self._clock() >= self._trailing_at:
                    self._generation += 1
                    self._trailing_at = None
        return self._generation

    def service_generation(self, service_id: str) -> int:
        """The generation of one service's report counts (its own pages depend on it too)."""
        due = self._service_pending.get(service_id)
        if due is not None and self._clock() >= due:
            with self._lock:
                if service_id in self._service_pending:
                    self._bump_service_now(service_id)
        return self._services.get(service_id, 0)

    def _bump_service_now(self, service_id: str) -> None:
        self._services[service_id] = self._services.get(service_id, 0) + 1
        self._service_last[service_id] = self._clock()
        self._service_pending.pop(service_id, None)


def _forget(conn: Connection) -> None:
    """A rolled-back transaction changed nothing."""
    conn.info.pop(NOTES, None)


class PostgresListener:
    """LISTENs for other processes' changes (and this one's, delivered after their commit) in a thread."""

    def __init__(self, url: str, target: ChangeBus, poll_seconds: float = 1.0) -> None:
        self.url = url
        self.target = target
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="downradar-changes", daemon=True)

    def start(self) -> PostgresListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        self._thread.join(timeout=self.poll_seconds + 2)

    def _wake(self) -> None:
        """Send the listener a note so it sees the stop now, not after its poll (a second per shutdown)."""
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, WAKE))
        except Exception:
            log.debug("could not wake the change listener; it stops after its poll", exc_info=True)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Notifications sent while we were away are lost: count a reconnect as a change.
                    self.target.bump("reconnect")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self.poll_seconds):
                            if note.payload == WAKE:
                                break  # back to the loop's test: stop() sent it
                            kind, _, service_id = note.payload.partition(":")
                            self.target.bump(kind, service_id or None)
            except Exception:
                log.warning("change listener lost its connection; reconnecting", exc_info=True)
                self._stop.wait(self.poll_seconds)


def listen(database_url: str, target: ChangeBus) -> PostgresListener | None:
    """Start a listener when the database is PostgreSQL (None otherwise: SQLite has no NOTIFY)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresListener(plain, target).start()
