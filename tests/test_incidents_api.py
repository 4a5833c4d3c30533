"""The admin API for incidents and maintenance: lifecycle, component statuses, timestamps and the audit log.

The tests share one server per backend and close whatever they opened. Rejections (bad enums, unknown
components, unknown incidents, tokens) are in test_bad_input.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from downradar.core.clock import FakeClock
from support.databases import Databases
from support.inprocess import start_in_process
from support.servers import LiveServer, make_settings, module_server

EXAMPLE = {
    "service": "chatgpt",
    "name": "Elevated errors",
    "status": "investigating",
    "impact": "major",
    "message": "We are investigating.",
    "components": {"login": "major_outage"},
}
T0 = datetime(2026, 2, 4, 10, 0, tzinfo=UTC)


class Admin:
    """The admin API, one call per verb; each asserts its success status and returns the JSON."""

    def __init__(self, http: httpx.Client, headers: dict[str, str]) -> None:
        self.http = http
        self.headers = headers

    def _call(self, method: str, path: str, expect: int, body: Any = None, **params: Any) -> Any:
        response = self.http.request(method, path, json=body, params=params, headers=self.headers)
        assert response.status_code == expect, response.text
        return response.json()

    def open(self, **changes: Any) -> dict[str, Any]:
        return self._call("POST", "/api/v1/incidents", 201, {**EXAMPLE, **changes})

    def get(self, incident_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/incidents/{incident_id}", 200)

    def change(self, incident_id: str, **fields: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/api/v1/incidents/{incident_id}", 200, fields)

    def post_update(self, incident_id: str, **fields: Any) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/incidents/{incident_id}/updates", 200, fields)

    def resolve(self, incident_id: str, **fields: Any) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/incidents/{incident_id}/resolve", 200, fields or None)

    def schedule(self, start: datetime, end: datetime, **fields: Any) -> dict[str, Any]:
        body = {
            "service": "github",
            "name": "Database upgrade",
            "message": "We will upgrade the primary database.",
            "scheduled_for": start.isoformat(),
            "scheduled_until": end.isoformat(),
            "components": ["actions"],
            **fields,
        }
        return self._call("POST", "/api/v1/maintenances", 201, body)

    def list(self, **params: Any) -> list[dict[str, Any]]:
        return self._call("GET", "/api/v1/incidents", 200, **params)["incidents"]

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        return self._call("GET", "/api/v1/audit", 200, **params)["entries"]

    def component_statuses(self) -> dict[str, str]:
        body = self._call("GET", "/api/v2/components.json", 200)
        return {c["id"]: c["status"] for c in body["components"] if not c["group"]}

    def maintenance_ids(self, which: str) -> list[str]:
        body = self._call("GET", f"/api/v2/scheduled-maintenances/{which}.json", 200)
        return [m["id"] for m in body["scheduled_maintenances"]]

    def close_everything(self) -> None:
        for item in self.list(kind="any", unresolved=True, limit=500):
            self.resolve(item["id"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[LiveServer]:
    yield from module_server(request, tmp_path_factory.mktemp("incidents"), databases)


@pytest.fixture(scope="module")
def shared_admin(live: LiveServer) -> Iterator[Admin]:
    with live.client() as http:
        yield Admin(http, live.admin)


@pytest.fixture
def admin(shared_admin: Admin) -> Iterator[Admin]:
    """The admin API of a server shared by the module; each test leaves every incident closed."""
    yield shared_admin
    shared_admin.close_everything()


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def statuses_of(admin: Admin, *component_ids: str) -> list[str]:
    current = admin.component_statuses()
    return [current[c] for c in component_ids]


# -- the incident lifecycle -------------------------------------------------------------------------------


def test_incident_lifecycle_open_update_monitor_resolve(admin: Admin) -> None:
    opened = admin.open()
    incident_id = opened["id"]
    assert (opened["name"], opened["status"], opened["impact"]) == (
        "Elevated errors",
        "investigating",
        "major",
    )
    assert (opened["service"], opened["kind"], opened["source"]) == ("chatgpt", "incident", "manual")
    assert [c["id"] for c in opened["components"]] == ["chatgpt.login"]
    assert opened["monitoring_at"] is None and opened["resolved_at"] is None
    (first,) = opened["incident_updates"]
    assert (first["status"], first["body"], first["incident_id"]) == (
        "investigating",
        "We are investigating.",
        incident_id,
    )
    assert first["affected_components"] == [
        {"code": "chatgpt.login", "name": "Login", "old_status": "operational", "new_status": "major_outage"}
    ]
    assert statuses_of(admin, "chatgpt.login", "chatgpt.conversations") == ["major_outage", "operational"]

    identified = admin.change(incident_id, status="identified", message="A bad deploy.", impact="critical")
    assert (identified["status"], identified["impact"]) == ("identified", "critical")
    assert identified["incident_updates"][0]["body"] == "A bad deploy."

    monitoring = admin.post_update(incident_id, status="monitoring", message="Rolled back; watching.")
    assert monitoring["status"] == "monitoring"
    assert moment(monitoring["monitoring_at"]) == moment(monitoring["updated_at"])

    note = admin.post_update(incident_id, message="Error rates are back to normal.")
    assert note["status"] == "monitoring" and note["monitoring_at"] == monitoring["monitoring_at"]

    resolved = admin.resolve(incident_id, message="All good.")
    assert resolved["status"] == "resolved"
    assert moment(resolved["resolved_at"]) == moment(resolved["updated_at"]) > moment(resolved["created_at"])
    assert resolved["monitoring_at"] == monitoring["monitoring_at"]
    assert [u["status"] for u in resolved["incident_updates"]] == [
        "resolved", "monitoring", "monitoring", "identified", "investigating"
    ]  # fmt: skip
    assert resolved["incident_updates"][0]["affected_components"] == [
        {"code": "chatgpt.login", "name": "Login", "old_status": "major_outage", "new_status": "operational"}
    ]
    assert statuses_of(admin, "chatgpt.login") == ["operational"]
    assert admin.get(incident_id) == resolved


def test_every_change_is_in_the_audit_log(admin: Admin) -> None:
    incident_id = admin.open()["id"]
    admin.change(incident_id, status="identified")
    admin.post_update(incident_id, message="Still on it.")
    admin.change(incident_id, components={"login": "partial_outage", "search": "degraded_performance"})
    admin.resolve(incident_id)
    entries = admin.audit(entity_id=incident_id)
    assert [e["action"] for e in entries] == [
        "incident.resolved", "incident.updated", "incident.updated", "incident.updated", "incident.opened"
    ]  # fmt: skip
    assert {(e["actor"], e["entity"], e["entity_id"]) for e in entries} == {
        ("admin", "incident", incident_id)
    }
    resolved, components, note, identified, opened = (e["detail"] for e in entries)
    assert opened == {
        "service": "chatgpt", "name": "Elevated errors", "status": "investigating", "impact": "major",
        "source": "manual", "components": {"chatgpt.login": "major_outage"},
    }  # fmt: skip
    assert identified["status"] == "identified"
    assert note["message"] == "Still on it."
    assert components["components"] == {
        "chatgpt.login": "partial_outage", "chatgpt.search": "degraded_performance"
    }  # fmt: skip
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    times = [datetime.fromisoformat(e["at"]) for e in entries]
    assert times == sorted(times, reverse=True) and all(t.tzinfo is not None for t in times)


def test_component_takes_the_worst_status_of_the_open_incidents(admin: Admin) -> None:
    login, conversations = "chatgpt.login", "chatgpt.conversations"
    outage = admin.open()["id"]
    slowness = admin.open(
        name="Slow responses", impact="minor",
        components={"login": "degraded_performance", "conversations": "partial_outage"},
    )["id"]  # fmt: skip
    assert statuses_of(admin, login, conversations) == ["major_outage", "partial_outage"]

    admin.resolve(outage)  # the other incident still holds login
    assert statuses_of(admin, login, conversations) == ["degraded_performance", "partial_outage"]

    admin.change(slowness, components={"conversations": "degraded_performance"})  # login released
    assert statuses_of(admin, login, conversations) == ["operational", "degraded_performance"]

    admin.change(outage, status="investigating", message="It is back.")  # reopened: claims login again
    reopened = admin.get(outage)
    assert reopened["resolved_at"] is None
    assert statuses_of(admin, login, conversations) == ["major_outage", "degraded_performance"]

    admin.resolve(outage)
    admin.resolve(slowness)
    assert set(admin.component_statuses().values()) == {"operational"}


def test_incident_opened_as_monitoring_or_resolved_stamps_its_times(admin: Admin) -> None:
    started = datetime(2026, 2, 4, 9, 20, tzinfo=UTC)
    monitoring = admin.open(status="monitoring", started_at=started.isoformat())
    assert moment(monitoring["monitoring_at"]) == moment(monitoring["created_at"])
    assert moment(monitoring["started_at"]) == started
    resolved = admin.open(status="resolved")  # recorded after the fact: holds no component
    assert moment(resolved["resolved_at"]) == moment(resolved["created_at"])
    assert statuses_of(admin, "chatgpt.login") == ["major_outage"]


def test_listing_filters_by_service_state_and_kind(admin: Admin) -> None:
    now = datetime.now(UTC)
    chatgpt = admin.open()["id"]
    slack = admin.open(service="slack", components={"messaging": "partial_outage"})["id"]
    admin.resolve(slack)
    maintenance = admin.schedule(now + timedelta(hours=1), now + timedelta(hours=2))["id"]
    mine = {chatgpt, slack, maintenance}

    def ids(**params: Any) -> list[str]:
        return [i["id"] for i in admin.list(**params) if i["id"] in mine]

    assert ids() == [slack, chatgpt]  # newest first; maintenance is not an incident
    assert ids(unresolved=True) == [chatgpt]
    assert ids(service="slack") == [slack]
    assert ids(kind="maintenance") == [maintenance]
    assert ids(kind="any") == [maintenance, slack, chatgpt]
    assert ids(limit=1) == [slack]


# -- maintenance ------------------------------------------------------------------------------------------


def test_future_maintenance_is_upcoming_and_leaves_components_alone(admin: Admin) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    created = admin.schedule(now + timedelta(hours=1), now + timedelta(hours=3))
    assert (created["status"], created["impact"], created["kind"]) == (
        "scheduled",
        "maintenance",
        "maintenance",
    )
    assert moment(created["scheduled_for"]) == now + timedelta(hours=1)
    assert moment(created["scheduled_until"]) == now + timedelta(hours=3)
    assert [c["id"] for c in created["components"]] == ["github.actions"]
    assert admin.maintenance_ids("upcoming") == [created["id"]]
    assert admin.maintenance_ids("active") == []
    assert statuses_of(admin, "github.actions") == ["operational"]


def test_maintenance_whose_window_has_begun_is_active_at_once(admin: Admin) -> None:
    now = datetime.now(UTC)
    created = admin.schedule(now - timedelta(minutes=10), now + timedelta(hours=1))
    assert created["status"] == "in_progress"
    assert [u["status"] for u in created["incident_updates"]] == ["in_progress", "scheduled"]
    assert admin.maintenance_ids("active") == [created["id"]]
    assert admin.maintenance_ids("upcoming") == []
    assert statuses_of(admin, "github.actions", "github.issues") == ["under_maintenance", "operational"]
    actions = [(e["action"], e["actor"]) for e in admin.audit(entity_id=created["id"])]
    assert actions == [("maintenance.updated", "scheduler"), ("maintenance.scheduled", "admin")]

    verifying = admin.change(created["id"], status="verifying", message="Checking replicas.")
    assert verifying["status"] == "verifying" and admin.maintenance_ids("active") == [created["id"]]
    completed = admin.resolve(created["id"])
    assert completed["status"] == "completed" and completed["resolved_at"] is not None
    assert admin.maintenance_ids("active") == []
    assert statuses_of(admin, "github.actions") == ["operational"]


def test_maintenance_without_auto_transition_waits_for_a_human(admin: Admin) -> None:
    now = datetime.now(UTC)
    created = admin.schedule(now - timedelta(minutes=10), now + timedelta(hours=1), auto_transition=False)
    assert created["status"] == "scheduled"
    assert statuses_of(admin, "github.actions") == ["operational"]
    admin.change(created["id"], status="in_progress")
    assert statuses_of(admin, "github.actions") == ["under_maintenance"]


def test_an_outage_during_maintenance_shows_the_outage(admin: Admin) -> None:
    now = datetime.now(UTC)
    maintenance = admin.schedule(now - timedelta(minutes=1), now + timedelta(hours=1))["id"]
    outage = admin.open(service="github", components={"actions": "major_outage"})["id"]
    assert statuses_of(admin, "github.actions") == ["major_outage"]
    admin.resolve(outage)
    assert statuses_of(admin, "github.actions") == ["under_maintenance"]
    admin.resolve(maintenance)
    assert statuses_of(admin, "github.actions") == ["operational"]


# -- maintenance on the clock -----------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def ticking(db_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Admin]:
    """A server on a clock the test moves, checking maintenance windows every 20 ms instead of 20 s."""
    monkeypatch.setattr("downradar.web.app.MAINTENANCE_TICK_SECONDS", 0.02)
    live = start_in_process(make_settings(db_url), clock=clock)
    try:
        with live.client() as http:
            yield Admin(http, live.admin)
    finally:
        live.stop()


def eventually(check: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_maintenance_starts_and_completes_with_its_window(ticking: Admin, clock: FakeClock) -> None:
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    maintenance_id = ticking.schedule(start, end)["id"]
    assert ticking.get(maintenance_id)["status"] == "scheduled"

    clock.set(start)
    assert eventually(lambda: ticking.maintenance_ids("active") == [maintenance_id])
    assert statuses_of(ticking, "github.actions") == ["under_maintenance"]

    clock.set(end)
    assert eventually(lambda: ticking.get(maintenance_id)["status"] == "completed")
    done = ticking.get(maintenance_id)
    assert moment(done["resolved_at"]) == end
    assert [u["status"] for u in done["incident_updates"]] == ["completed", "in_progress", "scheduled"]
    assert [moment(u["created_at"]) for u in done["incident_updates"]] == [end, start, T0]
    assert ticking.maintenance_ids("active") == ticking.maintenance_ids("upcoming") == []
    assert statuses_of(ticking, "github.actions") == ["operational"]
