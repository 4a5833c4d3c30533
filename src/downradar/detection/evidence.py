"""From stored probe results and provider page changes to what fusion reads, minute by minute.

Shared by the live server (reading the store) and `replay` (reading the stream): the probe tracker gets
the same results in the same order either way, and the providers' states are the latest change seen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from downradar.core.model import ProbeResult, UpstreamState
from downradar.detect import epoch_minute, minute_datetime
from downradar.detect.probe_state import ProbeRule
from downradar.probes.spec import ProbeSpec
from downradar.store.schema import probe_results, probes
from downradar.upstream.history import changes_between

UPSTREAM_LOOKBACK = timedelta(days=7)  # the provider state in force at a start is the last change before


def rule_of(service: str, spec: ProbeSpec) -> ProbeRule:
    return ProbeRule(
        service=service,
        component=spec.component,
        name=spec.name or spec.id,
        interval_seconds=spec.interval_seconds,
        fail_after=spec.fail_after,
        recover_after=spec.recover_after,
        quorum=spec.quorum,
    )


def stored_rules(conn: Connection) -> dict[str, ProbeRule]:
    """Every enabled probe's rule, by probe key."""
    query = select(probes.c.id, probes.c.service_id, probes.c.spec).where(probes.c.enabled.is_(True))
    return {
        key: rule_of(service, ProbeSpec.model_validate(spec)) for key, service, spec in conn.execute(query)
    }


def results_by_minute(conn: Connection, first: int, last: int) -> dict[int, list[ProbeResult]]:
    """Probe results that started in minutes first..last (epoch minutes), in time order."""
    query = (
        select(
            probe_results.c.probe_id,
            probe_results.c.location,
            probe_results.c.ts,
            probe_results.c.ok,
            probe_results.c.latency_ms,
            probe_results.c.status_code,
            probe_results.c.error,
        )
        .where(probe_results.c.ts >= minute_datetime(first), probe_results.c.ts < minute_datetime(last + 1))
        .order_by(probe_results.c.ts, probe_results.c.id)
    )
    out: dict[int, list[ProbeResult]] = defaultdict(list)
    for row in conn.execute(query):
        result = ProbeResult(*row)
        out[epoch_minute(result.ts)].append(result)
    return out


def upstream_by_minute(conn: Connection, first: int, last: int) -> dict[int, list[UpstreamState]]:
    """Provider page changes seen in minutes first..last, in time order."""
    out: dict[int, list[UpstreamState]] = defaultdict(list)
    for state in changes_between(conn, minute_datetime(first), minute_datetime(last + 1)):
        out[epoch_minute(state.ts)].append(state)
    return out


def upstream_before(conn: Connection, minute: int) -> dict[str, UpstreamState]:
    """Each service's provider state in force when `minute` starts."""
    start = minute_datetime(minute)
    return latest(changes_between(conn, start - UPSTREAM_LOOKBACK, start))


def latest(
    changes: Iterable[UpstreamState], into: Mapping[str, UpstreamState] | None = None
) -> dict[str, UpstreamState]:
    """The last state per service, applying `changes` (in time order) over `into`."""
    states = dict(into or {})
    for state in changes:
        states[state.service] = state
    return states


def minute_end(minute: int) -> datetime:
    return minute_datetime(minute + 1)
