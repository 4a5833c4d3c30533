"""Storing what providers' pages said: one `upstream_feeds` row per watched page (how it was last
fetched, its last good state) and one `upstream_changes` row each time the admitted state changed.

Two states are "the same" when they differ only in `ts` (when we saw them) and `provider_updated_at`:
a Statuspage bumps its page time for every edit, also of components we do not map, and that is not a
change in what it admits about us. The stored state keeps the `ts` it was first seen with, so an
incident without a creation time is still dated from when it first appeared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, RowMapping, select, update

from downradar.core.model import UpstreamState
from downradar.store.schema import upstream_changes, upstream_feeds
from downradar.upstream.parse import incident_from_json, incident_to_json, state_from_json, state_to_json
from downradar.upstream.spec import UpstreamSpec

PollStatus = Literal["ok", "not_modified", "error"]
_UNDETECTED: dict[str, Any] = {"detected_kind": None, "fetch_url": None, "etag": None, "last_modified": None}


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of a page gave: a parsed state, "nothing new" (304), or an error in words."""

    status: PollStatus
    state: UpstreamState | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def ok(
        cls, state: UpstreamState, *, etag: str | None = None, last_modified: str | None = None
    ) -> PollOutcome:
        return cls("ok", state=state, etag=etag, last_modified=last_modified)

    @classmethod
    def not_modified(cls) -> PollOutcome:
        return cls("not_modified")

    @classmethod
    def failed(cls, error: str) -> PollOutcome:
        return cls("error", error=error)


# --- Writing ----------------------------------------------------------------------------------------------


def ensure_feed(conn: Connection, service: str, spec: UpstreamSpec) -> RowMapping:
    """The service's feed row, created when missing. A changed url or kind forgets what was detected and
    the validators, which belonged to the old page; the last good state stays until a new one arrives."""
    row = _feed_row(conn, service)
    if row is None:
        conn.execute(
            upstream_feeds.insert().values(service_id=service, url=spec.url, kind=spec.kind, failures=0)
        )
    elif row["url"] != spec.url or row["kind"] != spec.kind:
        conn.execute(
            _update_feed(service).values(
                url=spec.url,
                kind=spec.kind,
                detected_kind=None,
                fetch_url=None,
                etag=None,
                last_modified=None,
            )
        )
    else:
        return row
    fresh = _feed_row(conn, service)
    assert fresh is not None
    return fresh


def remember_detection(conn: Connection, service: str, kind: str, fetch_url: str) -> None:
    """Keep what auto-detection found, so the page is not probed again at every poll."""
    conn.execute(_update_feed(service).values(detected_kind=kind, fetch_url=fetch_url))


def forget_detection(conn: Connection, service: str) -> None:
    """Detect the page's kind again at the next poll (and start without validators)."""
    conn.execute(
        _update_feed(service).values(detected_kind=None, fetch_url=None, etag=None, last_modified=None)
    )


def record_poll(
    conn: Connection, service: str, spec: UpstreamSpec, outcome: PollOutcome, now: datetime
) -> bool:
    """Store one poll's outcome; True when it was a new state (and an `upstream_changes` row was added)."""
    row = ensure_feed(conn, service, spec)
    if outcome.status == "error":
        conn.execute(
            _update_feed(service).values(
                last_polled_at=now,
                failures=upstream_feeds.c.failures + 1,
                last_error=outcome.error or "unknown error",
            )
        )
        return False
    # A 304 answers with our own validators: the page is reachable again, whatever failed before.
    healthy: dict[str, Any] = {"last_polled_at": now, "last_ok_at": now, "failures": 0, "last_error": None}
    if outcome.status == "not_modified":
        conn.execute(_update_feed(service).values(**healthy))
        return False
    state = outcome.state
    assert state is not None, "an ok outcome carries a state"
    validators = {"etag": outcome.etag, "last_modified": outcome.last_modified}
    stored = row["state"]
    if stored is not None and _comparable(stored) == _comparable(state_to_json(state)):
        conn.execute(_update_feed(service).values(**healthy, **validators))
        return False
    conn.execute(
        _update_feed(service).values(
            **healthy, **validators, state=state_to_json(state), state_since=state.ts
        )
    )
    conn.execute(upstream_changes.insert().values(**_change_values(state)))
    return True


# --- Reading ----------------------------------------------------------------------------------------------


def feed_row(conn: Connection, service: str) -> RowMapping | None:
    """The raw `upstream_feeds` row (validators, detected kind), for the poller."""
    return _feed_row(conn, service)


def current_state(conn: Connection, service: str) -> UpstreamState | None:
    """The last good state of the service's page (kept while the page is unreachable)."""
    stored = conn.scalar(select(upstream_feeds.c.state).where(upstream_feeds.c.service_id == service))
    return state_from_json(stored) if stored is not None else None


def current_states(conn: Connection) -> dict[str, UpstreamState]:
    rows = conn.execute(
        select(upstream_feeds.c.service_id, upstream_feeds.c.state).where(upstream_feeds.c.state.is_not(None))
    )
    return {service: state_from_json(stored) for service, stored in rows if stored is not None}


def changes_between(conn: Connection, start: datetime, end: datetime) -> list[UpstreamState]:
    """Every service's state changes seen in [start, end), oldest first."""
    query = (
        select(upstream_changes)
        .where(upstream_changes.c.ts >= start, upstream_changes.c.ts < end)
        .order_by(upstream_changes.c.ts, upstream_changes.c.id)
    )
    return [_change_state(row) for row in conn.execute(query).mappings()]


def changes_for(conn: Connection, service: str, since: datetime) -> list[UpstreamState]:
    """One service's state changes seen at or after `since`, oldest first."""
    query = (
        select(upstream_changes)
        .where(upstream_changes.c.service_id == service, upstream_changes.c.ts >= since)
        .order_by(upstream_changes.c.ts, upstream_changes.c.id)
    )
    return [_change_state(row) for row in conn.execute(query).mappings()]


def feed_status(conn: Connection, service: str) -> dict[str, Any] | None:
    """How polling the service's page goes, for operators; None when the service watches no page yet."""
    row = _feed_row(conn, service)
    if row is None:
        return None
    return {
        "url": row["url"],
        "kind": row["kind"],
        "detected_kind": row["detected_kind"],
        "fetch_url": row["fetch_url"],
        "last_polled_at": row["last_polled_at"],
        "last_ok_at": row["last_ok_at"],
        "last_error": row["last_error"],
        "failures": row["failures"],
        "reachable": row["failures"] == 0,
        "state_since": row["state_since"],
    }


# --- Helpers ----------------------------------------------------------------------------------------------


def _feed_row(conn: Connection, service: str) -> RowMapping | None:
    return (
        conn.execute(select(upstream_feeds).where(upstream_feeds.c.service_id == service)).mappings().first()
    )


def _update_feed(service: str) -> Any:
    return update(upstream_feeds).where(upstream_feeds.c.service_id == service)


def _comparable(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stored.items() if key not in ("ts", "provider_updated_at")}


def _change_values(state: UpstreamState) -> dict[str, Any]:
    return {
        "service_id": state.service,
        "ts": state.ts,
        "indicator": state.indicator,
        "description": state.description,
        "components": dict(state.components),
        "incidents": [incident_to_json(incident) for incident in state.incidents],
        "provider_updated_at": state.provider_updated_at,
    }


def _change_state(row: RowMapping) -> UpstreamState:
    return UpstreamState(
        service=row["service_id"],
        ts=row["ts"],
        indicator=row["indicator"],
        description=row["description"],
        components=dict(row["components"] or {}),
        incidents=tuple(incident_from_json(i) for i in row["incidents"] or ()),
        provider_updated_at=row["provider_updated_at"],
    )
