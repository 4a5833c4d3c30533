"""The change bus: generation counters that say "what the public pages show has changed".

Every incident, component or detector change calls `bump(kind)`; the page cache
(web/serving/page_cache.py) keeps the generation each page was rendered at and renders again once it
moved. Reports move only the one service's own counter (`bump("reports", service_id)`), at most once a
second per service, so a storm of reports does not turn every page view into a render.

Two edges per change. A change bumps while its transaction is still open, so a page rendered between the
bump and the commit would read the old rows yet carry the new generation. Each bump therefore schedules a
second one SETTLE seconds later (the trailing edge); a render in that window is rendered again after it.

Other processes (the CLI, a second server) reach this one through PostgreSQL's LISTEN/NOTIFY when the
database is PostgreSQL (`bump(..., conn=)` sends a NOTIFY in the change's transaction, delivered at commit;
`PostgresListener` turns them into local bumps). With SQLite the cache's short TTL is what bounds how long
another process's change stays unseen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, text

log = logging.getLogger("downradar.changes")
CHANNEL = "downradar_changes"
WAKE = "wake"  # a note that carries no change: it only wakes a listener being stopped
SETTLE_SECONDS = 1.0  # longer than a change's transaction stays open after its bump
REPORTS_EVERY_SECONDS = 1.0  # a service's report counts invalidate its pages at most this often


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

    def bump(self, kind: str, service_id: str | None = None) -> None:
        """Record a change of `kind`; "reports" changes only `service_id`'s own generation."""
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


bus = ChangeBus()


def bump(kind: str, service_id: str | None = None, *, conn: Connection | None = None) -> None:
    """Tell the page cache something it shows changed; with `conn` on PostgreSQL, other processes too."""
    bus.bump(kind, service_id)
    if conn is not None and conn.dialect.name == "postgresql":
        payload = f"{kind}:{service_id}" if service_id else kind
        conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


def generation() -> int:
    return bus.generation()


def service_generation(service_id: str) -> int:
    return bus.service_generation(service_id)


class PostgresListener:
    """LISTENs for other processes' changes (and this one's, delivered after their commit) in a thread."""

    def __init__(self, url: str, target: ChangeBus | None = None, poll_seconds: float = 1.0) -> None:
        self.url = url
        self.target = target or bus
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


def listen(database_url: str) -> PostgresListener | None:
    """Start a listener when the database is PostgreSQL (None otherwise: SQLite has no NOTIFY)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresListener(plain).start()
