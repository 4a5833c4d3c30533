"""Upstream status pages: parsing Statuspage summaries and Atom/RSS feeds, detecting which kind a page is,
fetching politely, and the poller's stored history against a fake provider whose page changes while the
test runs. No sleeping: time moves on a FakeClock and polls are `poll_once` calls."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from downradar.core.clock import FakeClock
from downradar.store import make_engine, upgrade
from downradar.store.schema import services
from downradar.upstream import history
from downradar.upstream.fetch import UpstreamDetectError, detect_kind, fetch
from downradar.upstream.parse import (
    UpstreamFormatError,
    load_json,
    parse_feed,
    parse_summary,
    state_from_json,
    state_to_json,
)
from downradar.upstream.poller import REDETECT_AFTER, UpstreamPoller
from downradar.upstream.spec import UpstreamSpec
from support.upstream_server import ATOM_PATH, SUMMARY_PATH, FakeUpstream

FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
MAPPING = {"Conversations": "chat", " voice MODE ": "chat", "Login": "login", "File uploads": "files"}
SEEN = datetime(2026, 3, 10, 14, 15, tzinfo=UTC)
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def summary(name: str, *, seen_at: datetime = SEEN, mapping: dict[str, str] = MAPPING) -> Any:
    return parse_summary(fixture_json(name), service="openai", seen_at=seen_at, mapping=mapping)


def feed(name: str, *, seen_at: datetime = SEEN, mapping: dict[str, str] = MAPPING) -> Any:
    return parse_feed(fixture_bytes(name), service="openai", seen_at=seen_at, mapping=mapping)


# --- parse_summary ----------------------------------------------------------------------------------------


def test_operational_summary_admits_nothing() -> None:
    state = summary("summary_operational.json")
    assert (state.indicator, state.description) == ("none", "All Systems Operational")
    assert state.components == {} and state.incidents == ()
    assert not state.admits_problem
    assert state.provider_updated_at == datetime(2026, 3, 10, 13, 40, 2, 118000, tzinfo=UTC)
    assert state.ts == SEEN


def test_major_outage_summary_maps_components_and_incident() -> None:
    state = summary("summary_major_outage.json")
    assert state.indicator == "major"
    # Conversations (major outage) and Voice mode (operational) both map to chat: the worst wins.
    assert state.components == {"chat": "major_outage", "login": "degraded_performance"}
    (incident,) = state.incidents
    assert incident.id == "k3d9yq2m7bth"
    assert incident.name == "Elevated errors in ChatGPT conversations"
    assert (incident.status, incident.impact) == ("identified", "major")
    assert incident.components == ("chat", "login")
    assert incident.created_at == datetime(2026, 3, 10, 14, 2, 11, 384000, tzinfo=UTC)
    assert state.admits_problem and state.admitted_at == incident.created_at


def test_summary_ignores_unmapped_components_and_closed_incidents() -> None:
    data = fixture_json("summary_major_outage.json")
    state = parse_summary(data, service="openai", seen_at=SEEN, mapping={"Sora": "video"})
    assert state.components == {}
    assert state.incidents[0].components == ()
    for status in ("resolved", "postmortem"):
        closed = copy.deepcopy(data)
        closed["incidents"][0]["status"] = status
        assert parse_summary(closed, service="openai", seen_at=SEEN, mapping=MAPPING).incidents == ()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([1, 2], "got a list"),
        ({"hello": "world"}, '"status"'),
        ({"status": "ok"}, '"status"'),
        ({"status": {"indicator": "purple"}}, "unknown status indicator 'purple'"),
        ({"status": {"indicator": "none"}, "components": {"a": 1}}, '"components" is an object'),
    ],
)
def test_not_a_summary_says_why(data: Any, says: str) -> None:
    with pytest.raises(UpstreamFormatError, match="not a Statuspage summary") as raised:
        parse_summary(data, service="openai", seen_at=SEEN, mapping={})
    assert says in str(raised.value)


def test_html_is_not_json() -> None:
    with pytest.raises(UpstreamFormatError, match=r"not JSON.*<html>"):
        load_json(b"<html><body>Bad gateway</body></html>")


# --- parse_feed -------------------------------------------------------------------------------------------


def test_atom_feed_with_an_incident_being_investigated() -> None:
    state = feed("history_investigating.atom")
    assert (state.indicator, state.description) == ("major", "Partial System Outage")
    assert state.components == {"chat": "major_outage"}
    (incident,) = state.incidents  # the maintenance is completed, the Voice mode entry is a week old
    assert incident.id == "tag:status.openai.com,2005:Incident/24411873"
    assert incident.name == "Elevated errors in ChatGPT conversations"
    assert (incident.status, incident.impact, incident.components) == ("identified", "major", ("chat",))
    assert incident.created_at == datetime(2026, 3, 10, 14, 2, 11, tzinfo=UTC)
    assert state.provider_updated_at == datetime(2026, 3, 10, 14, 9, 47, tzinfo=UTC)


def test_atom_feed_once_resolved() -> None:
    state = feed("history_resolved.atom", seen_at=SEEN + timedelta(minutes=40))
    assert (state.indicator, state.components, state.incidents) == ("none", {}, ())
    assert not state.admits_problem


def test_only_entries_of_the_last_day_can_be_open() -> None:
    # A week earlier the Voice mode entry was fresh (and minor); the later entries did not exist yet.
    state = feed("history_investigating.atom", seen_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    assert state.indicator == "minor"
    assert [i.name for i in state.incidents] == ["Increased latency for Voice mode"]
    assert state.components == {"chat": "degraded_performance"}
    later = feed("history_investigating.atom", seen_at=SEEN + timedelta(days=2))
    assert later.incidents == ()


def test_incident_io_rss_feed() -> None:
    state = feed("incidentio_feed.rss")
    assert state.indicator == "minor"
    (incident,) = state.incidents  # "Login failures" says Status: Resolved
    assert (incident.id, incident.status, incident.components) == (
        "01JP4XQ7R2M9K3V8T6B1N0C5DZ",
        "monitoring",
        ("files",),
    )
    assert incident.created_at == datetime(2026, 3, 10, 14, 12, 40, tzinfo=UTC)
    assert state.components == {"files": "degraded_performance"}


def atom(*entries: tuple[str, str, str]) -> bytes:
    """A minimal Atom feed of (title, updated, HTML content) entries."""
    body = "".join(
        f"<entry><id>urn:e{n}</id><title>{title}</title><published>{updated}</published>"
        f"<updated>{updated}</updated><content type='html'>{html}</content></entry>"
        for n, (title, updated, html) in enumerate(entries)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<id>urn:feed</id><title>Status</title><updated>2026-03-10T14:00:00Z</updated>{body}</feed>"
    ).encode()


def test_maintenance_in_progress_is_not_a_problem() -> None:
    content = atom(
        (
            "Database maintenance",
            "2026-03-10T14:00:00Z",
            "&lt;strong&gt;In progress&lt;/strong&gt; - Maintenance of Login is underway.",
        )
    )
    state = parse_feed(content, service="openai", seen_at=SEEN, mapping=MAPPING)
    assert (state.indicator, state.incidents) == ("maintenance", ())
    assert state.components == {"login": "under_maintenance"}
    assert not state.admits_problem


def test_generic_feed_without_labels_reads_the_words() -> None:
    content = atom(
        ("Login is slow", "2026-03-10T14:00:00Z", "Some users see slow logins."),
        ("File uploads outage", "2026-03-10T13:00:00Z", "Uploads fail."),
        ("Old trouble", "2026-03-10T12:00:00Z", "This has been resolved."),
    )
    state = parse_feed(content, service="openai", seen_at=SEEN, mapping=MAPPING)
    assert [(i.name, i.impact) for i in state.incidents] == [
        ("Login is slow", "minor"),
        ("File uploads outage", "major"),
    ]
    assert state.indicator == "major"
    assert state.components == {"login": "degraded_performance", "files": "major_outage"}


def test_not_a_feed() -> None:
    with pytest.raises(UpstreamFormatError, match="not an Atom or RSS feed"):
        parse_feed(b"<html><body>Status</body></html>", service="openai", seen_at=SEEN, mapping={})


def test_state_json_round_trip() -> None:
    for state in (summary("summary_major_outage.json"), feed("incidentio_feed.rss")):
        data = state_to_json(state)
        assert json.loads(json.dumps(data)) == data
        assert data["ts"] == "2026-03-10T14:15:00Z"
        assert state_from_json(data) == state


# --- fetch and detect_kind --------------------------------------------------------------------------------


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _detect(url: str) -> tuple[str, str]:
    async with httpx.AsyncClient() as client:
        return await detect_kind(client, url, timeout=5)


def test_detects_a_statuspage(upstream: FakeUpstream) -> None:
    upstream.set_summary(fixture_json("summary_operational.json"))
    upstream.set_atom(fixture_bytes("history_investigating.atom"))
    assert run(_detect(upstream.url + "/")) == ("statuspage", upstream.url + SUMMARY_PATH)


def test_detects_an_atom_feed_when_there_is_no_summary(upstream: FakeUpstream) -> None:
    upstream.set_document("/", b"<html><body>Our status</body></html>", "text/html")
    upstream.set_summary_body(b'{"status": "ok"}')  # JSON, but not a summary
    upstream.set_atom(fixture_bytes("history_investigating.atom"))
    assert run(_detect(upstream.url)) == ("feed", upstream.url + ATOM_PATH)


def test_detects_a_feed_at_the_url_itself(upstream: FakeUpstream) -> None:
    upstream.set_document("/status", fixture_bytes("incidentio_feed.rss"), "application/rss+xml")
    assert run(_detect(upstream.url + "/status")) == ("feed", upstream.url + "/status")


def test_suffixes_decide_without_asking(upstream: FakeUpstream) -> None:
    assert run(_detect(upstream.url + "/x/summary.json")) == ("statuspage", upstream.url + "/x/summary.json")
    assert run(_detect(upstream.url + "/feed.rss")) == ("feed", upstream.url + "/feed.rss")
    assert run(_detect(upstream.url + "/history.atom")) == ("feed", upstream.url + "/history.atom")
    assert sum(upstream.requests.values()) == 0


def test_detection_fails_clearly(upstream: FakeUpstream) -> None:
    upstream.set_document("/", b"<html><body>Our status</body></html>", "text/html")
    with pytest.raises(UpstreamDetectError) as raised:
        run(_detect(upstream.url))
    message = str(raised.value)
    assert f"no Statuspage summary or status feed found for {upstream.url}" in message
    assert "summary.json: HTTP 404" in message and "history.atom: HTTP 404" in message


def test_conditional_fetch(upstream: FakeUpstream) -> None:
    upstream.set_summary(fixture_json("summary_operational.json"))
    url = upstream.url + SUMMARY_PATH

    async def go() -> list[Any]:
        async with httpx.AsyncClient() as client:
            first = await fetch(client, url, timeout=5)
            by_etag = await fetch(client, url, etag=first.etag, timeout=5)
            by_date = await fetch(client, url, last_modified=first.last_modified, timeout=5)
            upstream.set_summary(fixture_json("summary_major_outage.json"))
            changed = await fetch(client, url, etag=first.etag, last_modified=first.last_modified, timeout=5)
            upstream.fail(503)
            failing = await fetch(client, url, timeout=5)
            upstream.close()
            refused = await fetch(client, url, timeout=5)
            return [first, by_etag, by_date, changed, failing, refused]

    first, by_etag, by_date, changed, failing, refused = run(go())
    assert first.status == "ok" and json.loads(first.body)["status"]["indicator"] == "none"
    assert first.etag and first.last_modified
    assert (by_etag.status, by_date.status) == ("not_modified", "not_modified")
    assert by_etag.etag == first.etag
    assert upstream.conditional_hits == 2
    assert changed.status == "ok" and changed.etag != first.etag
    assert (failing.status, failing.error) == ("error", f"HTTP 503 from {url}")
    assert refused.status == "error" and refused.error and refused.error.startswith("cannot connect")


# --- the poller and its history ---------------------------------------------------------------------------


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        for service in ("openai", "other"):
            conn.execute(
                services.insert().values(
                    id=service,
                    name=service,
                    description="",
                    url=None,
                    position=1,
                    created_at=T0,
                    updated_at=T0,
                )
            )
    yield engine
    engine.dispose()


def poll(poller: UpstreamPoller, clock: FakeClock, when: datetime, service: str = "openai") -> None:
    clock.set(when)
    run(poller.poll_once(service))


def spec_for(upstream: FakeUpstream, **overrides: Any) -> UpstreamSpec:
    values: dict[str, Any] = {"url": upstream.url, "interval_seconds": 5, "timeout_seconds": 5}
    values.update({"components": MAPPING} | overrides)
    return UpstreamSpec(**values)


def test_poller_stores_each_change_with_its_time(engine: Engine, upstream: FakeUpstream) -> None:
    clock = FakeClock(T0)
    poller = UpstreamPoller(engine, [("openai", spec_for(upstream))], clock=clock)
    operational, outage = fixture_json("summary_operational.json"), fixture_json("summary_major_outage.json")
    resolved = copy.deepcopy(operational)
    resolved["page"]["updated_at"] = "2026-03-10T14:44:00Z"

    upstream.set_summary(operational)
    poll(poller, clock, T0)
    poll(poller, clock, T0 + timedelta(seconds=5))  # same page: a 304
    upstream.set_summary(outage)
    poll(poller, clock, T0 + timedelta(seconds=10))
    poll(poller, clock, T0 + timedelta(seconds=15))
    upstream.set_summary(resolved)
    poll(poller, clock, T0 + timedelta(seconds=20))

    with engine.connect() as conn:
        changes = history.changes_for(conn, "openai", T0)
        assert [(c.ts, c.indicator) for c in changes] == [
            (T0, "none"),
            (T0 + timedelta(seconds=10), "major"),
            (T0 + timedelta(seconds=20), "none"),
        ]
        assert changes[1].components == {"chat": "major_outage", "login": "degraded_performance"}
        assert changes[1].incidents[0].created_at == datetime(2026, 3, 10, 14, 2, 11, 384000, tzinfo=UTC)
        assert changes[2].provider_updated_at == datetime(2026, 3, 10, 14, 44, tzinfo=UTC)
        window = history.changes_between(conn, T0 + timedelta(seconds=1), T0 + timedelta(seconds=20))
        assert [c.indicator for c in window] == ["major"]
        current = history.current_state(conn, "openai")
        assert (
            current is not None and current.indicator == "none" and current.ts == T0 + timedelta(seconds=20)
        )
        assert set(history.current_states(conn)) == {"openai"}
        assert history.current_state(conn, "other") is None
        status = history.feed_status(conn, "openai")
    assert status is not None
    assert status["state_since"] == T0 + timedelta(seconds=20)
    assert (status["detected_kind"], status["fetch_url"]) == ("statuspage", upstream.url + SUMMARY_PATH)
    assert status["reachable"] and status["failures"] == 0
    # Detected once: the summary was asked for at every poll, the page root never.
    assert upstream.requests[SUMMARY_PATH] == 6 and upstream.requests["/"] == 0


def test_a_304_writes_no_change(engine: Engine, upstream: FakeUpstream) -> None:
    clock = FakeClock(T0)
    poller = UpstreamPoller(engine, [("openai", spec_for(upstream, kind="statuspage"))], clock=clock)
    upstream.set_summary(fixture_json("summary_major_outage.json"))
    poll(poller, clock, T0)
    poll(poller, clock, T0 + timedelta(seconds=5))
    assert upstream.conditional_hits == 1
    with engine.connect() as conn:
        assert len(history.changes_for(conn, "openai", T0)) == 1
        status = history.feed_status(conn, "openai")
        current = history.current_state(conn, "openai")
    assert status is not None and status["last_polled_at"] == T0 + timedelta(seconds=5)
    assert status["last_ok_at"] == T0 + timedelta(seconds=5) and status["state_since"] == T0
    assert current is not None and current.ts == T0  # still the state as first seen


def test_unreachable_page_keeps_the_last_good_state(engine: Engine, upstream: FakeUpstream) -> None:
    clock = FakeClock(T0)
    poller = UpstreamPoller(engine, [("openai", spec_for(upstream))], clock=clock)
    upstream.set_summary(fixture_json("summary_major_outage.json"))
    poll(poller, clock, T0)

    def status() -> dict[str, Any]:
        with engine.connect() as conn:
            found = history.feed_status(conn, "openai")
            assert history.current_state(conn, "openai").indicator == "major"  # type: ignore[union-attr]
        assert found is not None
        return found

    upstream.fail(500)
    poll(poller, clock, T0 + timedelta(seconds=5))
    failed = status()
    assert (failed["failures"], failed["reachable"]) == (1, False)
    assert failed["last_error"] == f"HTTP 500 from {upstream.url}{SUMMARY_PATH}"
    assert failed["last_ok_at"] == T0 and failed["last_polled_at"] == T0 + timedelta(seconds=5)

    upstream.close()
    poll(poller, clock, T0 + timedelta(seconds=10))
    gone = status()
    assert gone["failures"] == 2 and gone["last_error"].startswith("cannot connect")
    assert gone["detected_kind"] == "statuspage"
    poll(poller, clock, T0 + timedelta(seconds=15))
    assert status()["failures"] == REDETECT_AFTER
    assert status()["detected_kind"] is None  # detect again: the provider may have moved

    upstream.reopen()
    upstream.recover()
    poll(poller, clock, T0 + timedelta(seconds=20))
    back = status()
    assert (back["failures"], back["reachable"], back["last_error"]) == (0, True, None)
    assert back["last_ok_at"] == T0 + timedelta(seconds=20) and back["detected_kind"] == "statuspage"
    with engine.connect() as conn:
        assert len(history.changes_for(conn, "openai", T0)) == 1  # the same outage, still


def test_bad_json_gives_a_clear_error(engine: Engine, upstream: FakeUpstream) -> None:
    clock = FakeClock(T0)
    poller = UpstreamPoller(engine, [("openai", spec_for(upstream, kind="statuspage"))], clock=clock)
    upstream.set_summary(fixture_json("summary_operational.json"))
    poll(poller, clock, T0)
    upstream.set_summary_body(b'{"page": {"id": "w7fk1n3rz0q2"}, "status": ')
    poll(poller, clock, T0 + timedelta(seconds=5))
    upstream.set_summary_body(b'{"page": {}, "components": []}')
    poll(poller, clock, T0 + timedelta(seconds=10), "openai")
    with engine.connect() as conn:
        status = history.feed_status(conn, "openai")
        current = history.current_state(conn, "openai")
    assert status is not None and status["failures"] == 2
    assert status["last_error"] == (
        'statuspage page could not be read: not a Statuspage summary: no "status": {"indicator": …} object'
    )
    assert current is not None and current.indicator == "none"


def test_bad_json_message(engine: Engine, upstream: FakeUpstream) -> None:
    clock = FakeClock(T0)
    poller = UpstreamPoller(engine, [("openai", spec_for(upstream, kind="statuspage"))], clock=clock)
    upstream.set_summary_body(b"<html>502 Bad Gateway</html>")
    poll(poller, clock, T0)
    with engine.connect() as conn:
        status = history.feed_status(conn, "openai")
    assert status is not None
    assert status["last_error"].startswith("statuspage page could not be read: not JSON")
    assert "502 Bad Gateway" in status["last_error"]


def test_poller_follows_an_atom_feed(engine: Engine, upstream: FakeUpstream) -> None:
    clock = FakeClock(SEEN)
    poller = UpstreamPoller(engine, [("openai", spec_for(upstream))], clock=clock)
    upstream.set_atom(fixture_bytes("history_investigating.atom"))
    poll(poller, clock, SEEN)
    upstream.set_atom(fixture_bytes("history_resolved.atom"))
    poll(poller, clock, SEEN + timedelta(minutes=35))
    with engine.connect() as conn:
        changes = history.changes_for(conn, "openai", SEEN)
        status = history.feed_status(conn, "openai")
    assert [(c.indicator, c.components) for c in changes] == [
        ("major", {"chat": "major_outage"}),
        ("none", {}),
    ]
    assert changes[0].admitted_at == datetime(2026, 3, 10, 14, 2, 11, tzinfo=UTC)
    assert status is not None and (status["detected_kind"], status["fetch_url"]) == (
        "feed",
        upstream.url + ATOM_PATH,
    )


def test_run_polls_every_feed_and_one_failure_stops_none(engine: Engine, upstream: FakeUpstream) -> None:
    upstream.set_summary(fixture_json("summary_major_outage.json"))
    with FakeUpstream() as dead:
        dead.close()
        feeds = [("openai", spec_for(upstream)), ("other", spec_for(dead))]

        async def go() -> None:
            poller = UpstreamPoller(engine, feeds, clock=FakeClock(T0))
            task = asyncio.create_task(poller.run())
            for _ in range(500):
                with engine.connect() as conn:
                    polled = [history.feed_status(conn, s) for s in ("openai", "other")]
                if all(p and p["last_polled_at"] for p in polled):
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        run(go())
    with engine.connect() as conn:
        assert history.current_state(conn, "openai").indicator == "major"  # type: ignore[union-attr]
        other = history.feed_status(conn, "other")
    assert other is not None and other["failures"] == 1 and "no Statuspage summary" in other["last_error"]


def test_set_services_forgets_detection_when_the_url_changes(engine: Engine, upstream: FakeUpstream) -> None:
    clock = FakeClock(T0)
    poller = UpstreamPoller(engine, [("openai", spec_for(upstream))], clock=clock)
    upstream.set_summary(fixture_json("summary_operational.json"))
    poll(poller, clock, T0)
    upstream.set_document("/feed.rss", fixture_bytes("incidentio_feed.rss"), "application/rss+xml")
    poller.set_services([("openai", spec_for(upstream, url=upstream.url + "/feed.rss"))])
    poll(poller, clock, SEEN)
    with engine.connect() as conn:
        status = history.feed_status(conn, "openai")
        current = history.current_state(conn, "openai")
    assert status is not None and (status["detected_kind"], status["url"]) == (
        "feed",
        upstream.url + "/feed.rss",
    )
    assert current is not None and current.components == {"files": "degraded_performance"}


def test_state_from_json_takes_a_datetime_or_rejects_a_bad_time() -> None:
    data = state_to_json(summary("summary_operational.json"))
    assert state_from_json({**data, "ts": SEEN}).ts == SEEN
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        state_from_json({**data, "ts": "yesterday"})
