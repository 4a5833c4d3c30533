"""Detection in the live server: reports in through the API, the detector on each complete minute, an
incident out on the page and the API; operators confirm or dismiss; maintenance keeps it quiet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from downradar.core.clock import FakeClock
from downradar.detection.scenario import Episode, Mix, Scenario, ServiceSpec, report_stream
from support.inprocess import start_in_process
from support.servers import ADMIN_TOKEN, LiveServer, make_settings

START = datetime(2026, 2, 1, tzinfo=UTC)
HISTORY_DAYS = 3
ONSET = START + timedelta(days=HISTORY_DAYS, hours=17)  # a weekday afternoon in the Americas
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NORMAL = Mix({"conversations": 0.6, "login": 0.2, "search": 0.2}, {"US": 0.6, "GB": 0.2, "DE": 0.2},
             {"error": 0.5, "slow": 0.5})  # fmt: skip
OUTAGE = Mix({"login": 0.8, "conversations": 0.2}, {"US": 0.9, "CA": 0.1}, {"login": 0.7, "error": 0.3})


def minute(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def traffic(until: datetime, outage: bool) -> Scenario:
    episodes = ()
    if outage:
        knots = ((minute(ONSET) - 1, 0.0), (minute(ONSET) + 3, 40.0), (minute(ONSET) + 120, 40.0))
        episodes = (Episode("chatgpt", knots, OUTAGE, onset=minute(ONSET)),)
    spec = ServiceSpec("chatgpt", per_min=1.2, mix=NORMAL)
    return Scenario(minute(START), minute(until) - minute(START), (spec,), episodes, seed=7)


def post_reports(http: httpx.Client, scenario: Scenario, since: datetime | None = None) -> None:
    lines = [
        orjson.dumps(r) for r in report_stream(scenario) if since is None or r["ts"] >= since.isoformat()[:19]
    ]
    for start in range(0, len(lines), 5000):
        response = http.post(
            "/api/v1/reports/bulk", content=b"\n".join(lines[start : start + 5000]), headers=ADMIN
        )
        assert response.status_code == 202 and response.json()["rejected"] == 0, response.text


@pytest.fixture
def live(db_url: str) -> Iterator[tuple[LiveServer, FakeClock, httpx.Client]]:
    clock = FakeClock(ONSET - timedelta(hours=1))
    server = start_in_process(make_settings(db_url), clock=clock)
    try:
        with server.client() as http:
            yield server, clock, http
    finally:
        server.stop()


def advance_to(server: LiveServer, clock: FakeClock, moment: datetime) -> None:
    clock.set(moment)
    assert server.runtime.detection is not None
    server.runtime.detection.catch_up()


def unresolved(http: httpx.Client) -> list[dict]:
    return http.get("/api/v2/incidents/unresolved.json").json()["incidents"]


def test_an_outage_opens_a_localised_incident_within_two_minutes(live) -> None:
    server, clock, http = live
    post_reports(http, traffic(ONSET + timedelta(minutes=10), outage=True))
    advance_to(server, clock, ONSET - timedelta(minutes=1))
    assert unresolved(http) == []  # three quiet days: nothing

    advance_to(server, clock, ONSET + timedelta(minutes=3, seconds=5))
    [incident] = unresolved(http)
    opened = datetime.fromisoformat(incident["created_at"])
    assert opened - ONSET <= timedelta(minutes=2)
    assert incident["name"] == "Users report problems with ChatGPT"
    first = incident["incident_updates"][-1]["body"]
    assert first.startswith("Users report problems with ChatGPT — login ")
    assert "US " in first and "reports in 15 min (usual:" in first
    assert {c["id"]: c["status"] for c in incident["components"]}["chatgpt.login"] in (
        "partial_outage",
        "major_outage",
    )
    events = http.get("/api/v1/events").json()["events"]
    assert events[0]["type"] == "incident.opened" and events[0]["regions"][0] == "US"

    report_api = http.get("/api/v1/services/chatgpt/reports?hours=24").json()
    assert report_api["score"] > 5
    assert all("expected" in b and len(b["band"]) == 2 for b in report_api["buckets"])
    page = http.get("/services/chatgpt").text
    assert 'class="usual"' in page and "Users report problems with ChatGPT" in page


def test_a_dismissed_incident_stays_closed_and_the_dismissal_is_audited(live) -> None:
    server, clock, http = live
    post_reports(http, traffic(ONSET + timedelta(minutes=20), outage=True))
    advance_to(server, clock, ONSET + timedelta(minutes=4))
    [incident] = unresolved(http)
    response = http.post(
        f"/api/v1/incidents/{incident['id']}/dismiss", json={"reason": "a test"}, headers=ADMIN
    )
    assert response.status_code == 200 and response.json()["status"] == "resolved"
    assert response.json()["dismissed_at"] is not None

    advance_to(server, clock, ONSET + timedelta(minutes=15))  # the reports keep coming
    assert unresolved(http) == []
    audit = http.get("/api/v1/audit", params={"entity_id": incident["id"]}, headers=ADMIN).json()["entries"]
    assert "incident.dismissed" in [entry["action"] for entry in audit]
    again = http.post(f"/api/v1/incidents/{incident['id']}/dismiss", json={"reason": "twice"}, headers=ADMIN)
    assert again.status_code == 422


def test_a_confirmed_incident_is_left_to_the_operators(live) -> None:
    server, clock, http = live
    post_reports(http, traffic(ONSET + timedelta(minutes=20), outage=True))
    advance_to(server, clock, ONSET + timedelta(minutes=4))
    [incident] = unresolved(http)
    confirmed = http.post(f"/api/v1/incidents/{incident['id']}/confirm", headers=ADMIN).json()
    assert confirmed["managed_by"] == "operator" and confirmed["confirmed_at"] is not None
    updates_before = len(confirmed["incident_updates"])
    advance_to(server, clock, ONSET + timedelta(minutes=19))
    [still] = unresolved(http)
    assert len(still["incident_updates"]) == updates_before  # the detector no longer writes to it


def test_maintenance_suppresses_opening(live) -> None:
    server, clock, http = live
    window = {"scheduled_for": (ONSET - timedelta(minutes=30)).isoformat(),
              "scheduled_until": (ONSET + timedelta(hours=1)).isoformat()}  # fmt: skip
    body = {"service": "chatgpt", "name": "Login upgrade", "message": "Expect errors.", **window}
    assert http.post("/api/v1/maintenances", json=body, headers=ADMIN).status_code == 201
    post_reports(http, traffic(ONSET + timedelta(minutes=10), outage=True))
    advance_to(server, clock, ONSET + timedelta(minutes=8))
    assert unresolved(http) == []
    audit = http.get("/api/v1/audit", params={"entity": "service"}, headers=ADMIN).json()["entries"]
    assert [entry["action"] for entry in audit] == ["detection.suppressed"]
