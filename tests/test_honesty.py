"""The honesty gap and the acknowledgement grade, on SQLite and PostgreSQL, and their place in the
Statuspage v2 JSON (the documented `downradar` extension key) served by the app (in-process).

Provider states are stored the way the poller stores them (record_poll), incidents through the same
lifecycle code the detector uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Connection, Engine, update

from downradar.core.catalog import Catalog, Component, Page, Service
from downradar.core.model import UpstreamIncident, UpstreamState
from downradar.incidents.honesty import Honesty, grade_letter, honesty_by_service
from downradar.incidents.lifecycle import DETECTOR, dismiss_incident, open_incident, resolve_incident
from downradar.store.schema import incidents
from downradar.upstream.history import PollOutcome, record_poll
from downradar.upstream.spec import UpstreamSpec
from support.databases import catalog_engine
from support.inprocess import start_in_process
from support.servers import make_settings

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SPEC = UpstreamSpec(url="https://status.example.com")
CATALOG = Catalog(
    page=Page(name="Test"),
    services=[
        Service(id="chatgpt", name="ChatGPT", components=[Component(id="api", name="API")], upstream=SPEC),
        Service(id="claude", name="Claude"),
    ],
)
OPERATIONAL = "Users report problems; official status: operational"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    yield from catalog_engine(db_url, CATALOG, NOW - timedelta(days=200))


def provider_says(conn: Connection, indicator: str, at: datetime, service: str = "chatgpt") -> None:
    """Store one good poll of the provider's page: operational for "none", else an open incident."""
    admitted = indicator != "none"
    state = UpstreamState(
        service=service,
        ts=at,
        indicator=indicator,
        description="Partial System Outage" if admitted else "All Systems Operational",
        incidents=(UpstreamIncident("p1", "Elevated errors", "investigating", indicator, at),)
        if admitted
        else (),
    )
    record_poll(conn, service, SPEC, PollOutcome.ok(state), at)


def detected(
    conn: Connection,
    at: datetime,
    *,
    signals: list[str] | None = None,
    acknowledged_after: timedelta | None = None,
    service: str = "chatgpt",
    resolve_after: timedelta | None = None,
) -> str:
    """An incident the detector opened at `at`, acknowledged by the provider `acknowledged_after` later."""
    incident_id = open_incident(
        conn,
        service_id=service,
        name=f"Users report problems with {service}",
        message="Users report problems.",
        impact="minor",
        actor=DETECTOR,
        now=at,
        source=DETECTOR,
    )
    values: dict[str, object] = {"signals": signals or ["reports"]}
    if acknowledged_after is not None:
        values.update(acknowledged_at=at + acknowledged_after, acknowledgement="Partial System Outage")
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))
    if resolve_after is not None:
        resolve_incident(conn, incident_id, actor=DETECTOR, now=at + resolve_after)
    return incident_id


def honesty(engine: Engine, now: datetime = NOW, service: str = "chatgpt") -> Honesty:
    with engine.connect() as conn:
        return honesty_by_service(conn, now)[service]


# -- the gap ----------------------------------------------------------------------------------------------


def test_the_gap_is_on_while_our_incident_is_open_and_the_provider_says_operational(engine: Engine) -> None:
    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(hours=1))
    quiet = honesty(engine)
    assert quiet.watched and quiet.reachable
    assert (quiet.gap, quiet.state, quiet.grade) == (False, None, None)
    assert quiet.official_words == "operational"

    with engine.begin() as conn:
        incident_id = detected(conn, NOW - timedelta(minutes=10))
    gap = honesty(engine)
    assert gap.gap
    assert gap.state == OPERATIONAL

    with engine.begin() as conn:
        provider_says(conn, "major", NOW - timedelta(minutes=5))
    admitted = honesty(engine)
    assert (admitted.gap, admitted.state) == (False, None)
    assert admitted.official_words == "partial system outage"

    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(minutes=2))
    assert honesty(engine).gap  # the provider cleared its page; our incident is still open

    with engine.begin() as conn:
        resolve_incident(conn, incident_id, actor=DETECTOR, now=NOW - timedelta(minutes=1))
    resolved = honesty(engine)
    assert (resolved.gap, resolved.state) == (False, None)


def test_a_probes_only_incident_says_our_probes_fail(engine: Engine) -> None:
    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(hours=1))
        detected(conn, NOW - timedelta(minutes=10), signals=["probes"])
    assert honesty(engine).state == "Our probes fail; official status: operational"


def test_reports_and_probes_together_name_the_users(engine: Engine) -> None:
    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(hours=1))
        detected(conn, NOW - timedelta(minutes=10), signals=["reports", "probes"])
    assert honesty(engine).state == OPERATIONAL


def test_an_unreachable_page_keeps_its_last_good_state(engine: Engine) -> None:
    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(hours=1))
        record_poll(conn, "chatgpt", SPEC, PollOutcome.failed("timed out"), NOW - timedelta(minutes=3))
        detected(conn, NOW - timedelta(minutes=10))
    found = honesty(engine)
    assert not found.reachable
    assert found.last_ok_at == NOW - timedelta(hours=1)
    assert found.official is not None and found.official.indicator == "none"
    assert found.gap


def test_no_gap_without_a_provider_page_or_for_incidents_opened_by_hand(engine: Engine) -> None:
    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(hours=1))
        open_incident(
            conn,
            service_id="chatgpt",
            name="Slow answers",
            message="We are looking into it.",
            actor="admin",
            now=NOW - timedelta(minutes=10),
        )
        detected(conn, NOW - timedelta(hours=6), service="claude")
    assert not honesty(engine).gap
    claude = honesty(engine, service="claude")
    assert not claude.watched
    assert (claude.official, claude.gap, claude.state, claude.grade) == (None, False, None, None)
    assert claude.official_words == "unknown"


def test_an_incident_only_the_provider_admitted_makes_no_gap(engine: Engine) -> None:
    with engine.begin() as conn:
        provider_says(conn, "major", NOW - timedelta(minutes=20))
        detected(conn, NOW - timedelta(minutes=19), signals=["official"], acknowledged_after=timedelta(0))
        provider_says(conn, "none", NOW - timedelta(minutes=2))  # our incident is monitoring, still open
    found = honesty(engine)
    assert (found.gap, found.state) == (False, None)


# -- the grade --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "letter"),
    [
        (0, "A"),
        (14.9, "A"),
        (15, "B"),
        (29.9, "B"),
        (30, "C"),
        (119.9, "C"),
        (120, "D"),
        (239.9, "D"),
        (240, "F"),
    ],
)
def test_grade_bounds(minutes: float, letter: str) -> None:
    assert grade_letter(minutes, acknowledged=1) == letter


def test_no_acknowledgement_at_all_is_an_f() -> None:
    assert grade_letter(0, acknowledged=0) == "F"


@pytest.mark.parametrize(
    ("delays", "letter", "average"),
    [
        ([5, 10], "A", 7.5),
        ([20], "B", 20),
        ([45], "C", 45),
        ([180], "D", 180),
        ([-30, 10], "A", 5),  # acknowledged before we detected it: 0
    ],
)
def test_the_grade_is_that_of_the_mean_acknowledgement_delay(
    engine: Engine, delays: list[float], letter: str, average: float
) -> None:
    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(days=30))
        for day, delay in enumerate(delays, start=1):
            detected(
                conn,
                NOW - timedelta(days=day),
                acknowledged_after=timedelta(minutes=delay),
                resolve_after=timedelta(hours=1),
            )
    found = honesty(engine)
    assert found.grade is not None
    assert found.grade.letter == letter
    assert found.grade.average_minutes == pytest.approx(average)
    assert (found.grade.incidents, found.grade.acknowledged) == (len(delays), len(delays))
    assert sorted(a.delay_minutes or 0 for a in found.acknowledgements) == sorted(max(0, d) for d in delays)


def test_never_acknowledged_and_older_than_four_hours_is_an_f(engine: Engine) -> None:
    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(days=30))
        detected(conn, NOW - timedelta(hours=5), resolve_after=timedelta(hours=1))
    found = honesty(engine)
    assert found.grade is not None
    assert found.grade.letter == "F"
    assert found.grade.average_minutes == 240
    assert (found.grade.incidents, found.grade.acknowledged) == (1, 0)
    assert found.acknowledgements[0].acknowledged_at is None
    assert found.acknowledgements[0].delay_minutes is None


def test_never_acknowledged_but_younger_than_four_hours_is_not_counted_yet(engine: Engine) -> None:
    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(days=30))
        detected(conn, NOW - timedelta(hours=3, minutes=59))
    assert honesty(engine).grade is None
    with engine.begin() as conn:
        detected(
            conn,
            NOW - timedelta(days=2),
            acknowledged_after=timedelta(minutes=5),
            resolve_after=timedelta(days=1),
        )
    grade = honesty(engine).grade
    assert grade is not None
    assert (grade.letter, grade.incidents, grade.acknowledged) == ("A", 1, 1)
    later = honesty(engine, NOW + timedelta(minutes=2)).grade  # the first one is 4 hours old now
    assert later is not None
    assert (later.letter, later.incidents, later.average_minutes) == ("D", 2, pytest.approx(122.5))


def test_dismissed_incidents_do_not_count(engine: Engine) -> None:
    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(days=30))
        false_alarm = detected(conn, NOW - timedelta(hours=6))
        dismiss_incident(
            conn, false_alarm, actor="admin", now=NOW - timedelta(hours=5), reason="a test campaign"
        )
    assert honesty(engine).grade is None
    with engine.begin() as conn:
        detected(
            conn,
            NOW - timedelta(days=1),
            acknowledged_after=timedelta(minutes=5),
            resolve_after=timedelta(days=1),
        )
    grade = honesty(engine).grade
    assert grade is not None
    assert (grade.letter, grade.incidents) == ("A", 1)


def test_incidents_older_than_ninety_days_do_not_count(engine: Engine) -> None:
    with engine.begin() as conn:
        provider_says(conn, "none", NOW - timedelta(days=120))
        detected(conn, NOW - timedelta(days=91), resolve_after=timedelta(hours=1))  # never acknowledged
        detected(
            conn,
            NOW - timedelta(days=89),
            acknowledged_after=timedelta(minutes=20),
            resolve_after=timedelta(days=1),
        )
    found = honesty(engine)
    assert found.grade is not None
    assert (found.grade.letter, found.grade.incidents, found.grade.average_minutes) == ("B", 1, 20)
    assert len(found.acknowledgements) == 1


# -- the Statuspage v2 extension, from the app --------------------------------------------------------------


def test_summary_and_incidents_json_carry_the_honesty_extension(db_url: str) -> None:
    server = start_in_process(make_settings(db_url, detect=False, probes=False, upstream=False))
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        with server.runtime.engine.begin() as conn:
            provider_says(conn, "none", now - timedelta(hours=1))
            open_id = detected(conn, now - timedelta(minutes=20), signals=["probes"])
            past_id = detected(
                conn,
                now - timedelta(days=2),
                signals=["reports", "official"],
                acknowledged_after=timedelta(minutes=25),
                resolve_after=timedelta(hours=2),
            )
        with server.client() as http:
            summary = _get(http, "/api/v2/summary.json")
            listed = _get(http, "/api/v2/incidents.json")
    finally:
        server.stop()

    groups = {c["id"]: c for c in summary["components"] if c["group"]}
    chatgpt = groups["chatgpt"]["downradar"]
    official = chatgpt["official_status"]
    assert official["indicator"] == "none"
    assert official["description"] == "All Systems Operational"
    assert official["admits_problem"] is False
    assert official["reachable"] is True
    assert datetime.fromisoformat(official["seen_at"]) == now - timedelta(hours=1)
    assert datetime.fromisoformat(official["last_ok_at"]) == now - timedelta(hours=1)
    assert chatgpt["honesty_gap"] is True
    assert chatgpt["state"] == "Our probes fail; official status: operational"
    assert chatgpt["acknowledgement"] == {
        "grade": "B",
        "average_delay_minutes": 25.0,
        "incidents": 1,  # the open one is younger than 4 hours and not acknowledged: not counted yet
        "acknowledged": 1,
        "window_days": 90,
    }
    claude = groups["claude"]["downradar"]
    assert claude == {"official_status": None, "honesty_gap": False, "state": None, "acknowledgement": None}

    unresolved = {i["id"]: i for i in summary["incidents"]}
    assert set(unresolved) == {open_id}
    assert unresolved[open_id]["downradar"] == {
        "signals": ["probes"],
        "acknowledged_at": None,
        "acknowledgement": None,
        "acknowledgement_delay_minutes": None,
    }
    by_id = {i["id"]: i for i in listed["incidents"]}
    past = by_id[past_id]["downradar"]
    assert past["signals"] == ["reports", "official"]
    assert datetime.fromisoformat(past["acknowledged_at"]) == now - timedelta(days=2) + timedelta(minutes=25)
    assert past["acknowledgement"] == "Partial System Outage"
    assert past["acknowledgement_delay_minutes"] == 25.0
    assert by_id[open_id]["downradar"]["signals"] == ["probes"]


def _get(http: httpx.Client, path: str) -> dict:
    response = http.get(path)
    assert response.status_code == 200, response.text
    return response.json()
