"""The Statuspage-compatible API: Atlassian's endpoints, field names, enums and status descriptions.

One server per backend serves the whole module; after each test every open incident and maintenance is
closed again, so each test starts from "All Systems Operational".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from support.databases import Databases
from support.servers import ADMIN_TOKEN, LiveServer, module_server

PAGE = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT = {
    "id", "name", "status", "created_at", "updated_at", "position", "description", "showcase", "start_date",
    "group_id", "page_id", "group", "only_show_if_degraded",
}  # fmt: skip
# Downradar's own additions live under one documented "downradar" key (official status, signals).
GROUP = COMPONENT | {"components", "downradar"}
INCIDENT_BASE = {
    "id", "name", "status", "impact", "created_at", "updated_at", "monitoring_at", "resolved_at", "shortlink",
    "started_at", "page_id", "incident_updates", "components",
}  # fmt: skip
INCIDENT = INCIDENT_BASE | {"downradar"}
MAINTENANCE = INCIDENT_BASE | {"scheduled_for", "scheduled_until"}
# Atlassian's incident updates also carry deliver_notifications, custom_tweet and tweet_id.
UPDATE = {
    "id", "status", "body", "incident_id", "created_at", "updated_at", "display_at", "affected_components",
    "deliver_notifications", "custom_tweet", "tweet_id",
}  # fmt: skip
AFFECTED = {"code", "name", "old_status", "new_status"}

COMPONENT_STATUSES = {
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
}
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}
IMPACTS = {"none", "minor", "major", "critical"}
INDICATORS = {
    "All Systems Operational": "none",
    "Minor Service Outage": "minor",
    "Partial System Outage": "major",
    "Major System Outage": "critical",
    "Degraded System Service": "minor",
    "Partially Degraded Service": "minor",
    "Service Under Maintenance": "maintenance",
}

ENDPOINTS = {
    "summary.json": {"page", "components", "incidents", "scheduled_maintenances", "status"},
    "status.json": {"page", "status"},
    "components.json": {"page", "components"},
    "incidents.json": {"page", "incidents"},
    "incidents/unresolved.json": {"page", "incidents"},
    "scheduled-maintenances.json": {"page", "scheduled_maintenances"},
    "scheduled-maintenances/upcoming.json": {"page", "scheduled_maintenances"},
    "scheduled-maintenances/active.json": {"page", "scheduled_maintenances"},
}


# -- the server and the admin calls that set the scene ----------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[LiveServer]:
    yield from module_server(request, tmp_path_factory.mktemp("statuspage"), databases)


@pytest.fixture(scope="module")
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


@pytest.fixture(autouse=True)
def close_everything_afterwards(http: httpx.Client) -> Iterator[None]:
    yield
    close_everything(http)


def admin(http: httpx.Client, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    response = http.request(method, path, json=body, headers=headers, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()


def open_incident(http: httpx.Client, service: str = "chatgpt", **fields: Any) -> str:
    body = {"service": service, "name": "Elevated errors", "message": "We are investigating.", **fields}
    return admin(http, "POST", "/api/v1/incidents", body)["id"]


def schedule(http: httpx.Client, starts_in: timedelta, components: tuple[str, ...] = ("actions",)) -> str:
    start = datetime.now(UTC) + starts_in
    body = {
        "service": "github",
        "name": "Database upgrade",
        "message": "We will upgrade the primary database.",
        "scheduled_for": start.isoformat(),
        "scheduled_until": (start + timedelta(hours=2)).isoformat(),
        "components": list(components),
    }
    return admin(http, "POST", "/api/v1/maintenances", body)["id"]


def v2(http: httpx.Client, endpoint: str) -> dict[str, Any]:
    response = http.get(f"/api/v2/{endpoint}")  # public: no token
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.json()


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def catalog(http: httpx.Client) -> list[dict[str, Any]]:
    return admin(http, "GET", "/api/v1/services")["services"]


def close_everything(http: httpx.Client) -> None:
    unresolved = admin(
        http, "GET", "/api/v1/incidents", params={"kind": "any", "unresolved": True, "limit": 500}
    )
    for item in unresolved["incidents"]:
        admin(http, "POST", f"/api/v1/incidents/{item['id']}/resolve")


def set_the_scene(http: httpx.Client) -> dict[str, str]:
    """One of everything: open and resolved incidents, upcoming, active and completed maintenance."""
    scene = {
        "open": open_incident(http, impact="major", components={"login": "major_outage"}),
        "resolved": open_incident(http, service="slack", components={"calls": "partial_outage"}),
        "upcoming": schedule(http, timedelta(days=1)),
        "active": schedule(http, -timedelta(minutes=5), ("pages",)),
        "completed": schedule(http, timedelta(days=2), ("issues",)),
    }
    admin(
        http,
        "POST",
        f"/api/v1/incidents/{scene['open']}/updates",
        {"status": "identified", "message": "Found"},
    )
    admin(http, "POST", f"/api/v1/incidents/{scene['resolved']}/resolve")
    admin(http, "POST", f"/api/v1/incidents/{scene['completed']}/resolve")
    return scene


# -- shape checks -----------------------------------------------------------------------------------------


def check_time(value: str | None, time_zone: str, nullable: bool = False) -> None:
    if value is None:
        assert nullable, "a timestamp that must be set is null"
        return
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, value
    assert moment.utcoffset() == moment.astimezone(ZoneInfo(time_zone)).utcoffset(), value


def check_page(page: dict[str, Any]) -> str:
    assert set(page) == PAGE
    check_time(page["updated_at"], page["time_zone"])
    return page["time_zone"]


def check_component(component: dict[str, Any], page: dict[str, Any]) -> None:
    assert set(component) == (GROUP if component["group"] else COMPONENT), component["id"]
    assert component["status"] in COMPONENT_STATUSES
    assert component["page_id"] == page["id"]
    assert isinstance(component["position"], int) and isinstance(component["showcase"], bool)
    assert isinstance(component["only_show_if_degraded"], bool)
    assert component["description"] is None or isinstance(component["description"], str)
    for field in ("created_at", "updated_at"):
        check_time(component[field], page["time_zone"])
    if component["start_date"] is not None:
        date.fromisoformat(component["start_date"])


def check_incident(incident: dict[str, Any], page: dict[str, Any], maintenance: bool) -> None:
    assert set(incident) == (MAINTENANCE if maintenance else INCIDENT), incident["id"]
    statuses = MAINTENANCE_STATUSES if maintenance else INCIDENT_STATUSES
    assert incident["status"] in statuses
    assert incident["impact"] in (IMPACTS | {"maintenance"} if maintenance else IMPACTS)
    assert incident["page_id"] == page["id"]
    assert incident["shortlink"].startswith("http")
    optional = {"monitoring_at", "resolved_at"}
    for field in ("created_at", "updated_at", "started_at", *optional, *(MAINTENANCE - INCIDENT)):
        if field in incident:
            check_time(incident[field], page["time_zone"], nullable=field in optional)
    for component in incident["components"]:
        check_component(component, page)
    assert incident["incident_updates"], "every incident has at least its first update"
    for update in incident["incident_updates"]:
        assert set(update) == UPDATE
        assert update["status"] in statuses and update["incident_id"] == incident["id"]
        for field in ("created_at", "updated_at", "display_at"):
            check_time(update[field], page["time_zone"])
        for change in update["affected_components"]:
            assert set(change) == AFFECTED
            assert {change["old_status"], change["new_status"]} <= COMPONENT_STATUSES


def check_body(endpoint: str, body: dict[str, Any]) -> None:
    assert set(body) == ENDPOINTS[endpoint]
    check_page(body["page"])
    for component in body.get("components", []):
        check_component(component, body["page"])
    for incident in body.get("incidents", []):
        check_incident(incident, body["page"], maintenance=False)
    for maintenance in body.get("scheduled_maintenances", []):
        check_incident(maintenance, body["page"], maintenance=True)
    if "status" in body:
        assert set(body["status"]) == {"indicator", "description"}
        assert INDICATORS[body["status"]["description"]] == body["status"]["indicator"]


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_every_endpoint_has_atlassians_fields_enums_and_timestamps(http: httpx.Client, endpoint: str) -> None:
    set_the_scene(http)
    body = v2(http, endpoint)
    check_body(endpoint, body)
    assert body["page"] == {
        "id": "downradar-demo",
        "name": "Downradar demo",
        "url": "http://127.0.0.1:8000",
        "time_zone": "America/Los_Angeles",
        "updated_at": body["page"]["updated_at"],
    }


# -- what each endpoint lists -----------------------------------------------------------------------------


def test_each_service_is_a_group_whose_children_are_its_components(http: httpx.Client) -> None:
    open_incident(http, components={"login": "partial_outage", "search": "degraded_performance"})
    components = v2(http, "components.json")["components"]
    groups = [c for c in components if c["group"]]
    children = {c["id"]: c for c in components if not c["group"]}
    services = catalog(http)
    assert ids(groups) == [s["id"] for s in services]
    for group, service in zip(groups, services, strict=True):
        assert group["name"] == service["name"] and group["group_id"] is None
        assert group["components"] == [f"{service['id']}.{c['id']}" for c in service["components"]]
        assert [children[c]["name"] for c in group["components"]] == [
            c["name"] for c in service["components"]
        ]
        assert {children[c]["group_id"] for c in group["components"]} == {service["id"]}
        assert [children[c]["position"] for c in group["components"]] == list(
            range(1, len(group["components"]) + 1)
        )
    assert set(children) == {c for g in groups for c in g["components"]}
    chatgpt = groups[0]
    assert (children["chatgpt.login"]["status"], chatgpt["status"]) == ("partial_outage", "partial_outage")
    assert {g["status"] for g in groups[1:]} == {"operational"}


def test_incidents_json_lists_the_50_most_recent_incidents_newest_first(http: httpx.Client) -> None:
    created = [open_incident(http, name=f"Incident {n}", impact="none") for n in range(52)]
    schedule(http, timedelta(days=1))  # maintenance is not an incident
    listed = v2(http, "incidents.json")["incidents"]
    assert ids(listed) == created[::-1][:50]
    admin(http, "POST", f"/api/v1/incidents/{created[-1]}/resolve")
    assert ids(v2(http, "incidents.json")["incidents"])[0] == created[-1]  # resolved ones stay listed


def test_unresolved_lists_only_open_incidents(http: httpx.Client) -> None:
    scene = set_the_scene(http)
    assert ids(v2(http, "incidents/unresolved.json")["incidents"]) == [scene["open"]]
    summary = v2(http, "summary.json")
    assert ids(summary["incidents"]) == [scene["open"]]
    (incident,) = summary["incidents"]
    assert [u["status"] for u in incident["incident_updates"]] == ["identified", "investigating"]
    assert ids(incident["components"]) == ["chatgpt.login"]


def test_maintenance_lists_upcoming_active_and_all(http: httpx.Client) -> None:
    scene = set_the_scene(http)
    later = schedule(http, timedelta(days=3))
    assert ids(v2(http, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]) == [
        scene["upcoming"],
        later,
    ]  # fmt: skip  (soonest first)
    active = v2(http, "scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert ids(active) == [scene["active"]]
    assert active[0]["status"] == "in_progress" and active[0]["impact"] == "maintenance"
    everything = ids(v2(http, "scheduled-maintenances.json")["scheduled_maintenances"])
    assert everything[:4] == [later, scene["completed"], scene["active"], scene["upcoming"]]
    summary = ids(v2(http, "summary.json")["scheduled_maintenances"])
    assert set(summary) == {scene["upcoming"], scene["active"], later}


def test_summary_agrees_with_the_other_endpoints(http: httpx.Client) -> None:
    set_the_scene(http)
    summary = v2(http, "summary.json")
    assert summary["components"] == v2(http, "components.json")["components"]
    assert summary["status"] == v2(http, "status.json")["status"]
    assert summary["incidents"] == v2(http, "incidents/unresolved.json")["incidents"]


def test_page_updated_at_moves_with_the_latest_change(http: httpx.Client) -> None:
    before = datetime.fromisoformat(v2(http, "status.json")["page"]["updated_at"])
    incident_id = open_incident(http, components={"login": "degraded_performance"})
    after = datetime.fromisoformat(v2(http, "status.json")["page"]["updated_at"])
    (incident,) = [i for i in v2(http, "incidents.json")["incidents"] if i["id"] == incident_id]
    assert after > before and after == datetime.fromisoformat(incident["updated_at"])


# -- the page's status indicator --------------------------------------------------------------------------


def everything_at(http: httpx.Client, status: str) -> None:
    for service in catalog(http):
        components = {c["id"]: status for c in service["components"]}
        open_incident(http, service=service["id"], impact="none", components=components)


def stage(
    http: httpx.Client,
    incident: dict[str, Any] | None = None,
    everything: str | None = None,
    maintenance_in: timedelta | None = None,
) -> None:
    if maintenance_in is not None:
        schedule(http, maintenance_in)
    if everything is not None:
        everything_at(http, everything)
    if incident is not None:
        open_incident(http, **incident)


def login_at(status: str, impact: str = "none") -> dict[str, Any]:
    return {"incident": {"impact": impact, "components": {"login": status}}}


NOW, LATER = -timedelta(minutes=1), timedelta(hours=1)
SCENES = [
    pytest.param({}, "All Systems Operational", id="nothing"),
    pytest.param({"incident": {"impact": "none"}}, "All Systems Operational", id="impact-none"),
    pytest.param({"incident": {"impact": "minor"}}, "Minor Service Outage", id="minor-impact"),
    pytest.param({"incident": {"impact": "major"}}, "Partial System Outage", id="major-impact"),
    pytest.param({"incident": {"impact": "critical"}}, "Major System Outage", id="critical-impact"),
    pytest.param(login_at("partial_outage"), "Partial System Outage", id="one-partial-outage"),
    pytest.param(login_at("major_outage"), "Partial System Outage", id="one-major-outage"),
    pytest.param({"everything": "major_outage"}, "Major System Outage", id="all-major-outage"),
    pytest.param(login_at("degraded_performance"), "Partially Degraded Service", id="one-degraded"),
    pytest.param({"everything": "degraded_performance"}, "Degraded System Service", id="all-degraded"),
    pytest.param({"maintenance_in": NOW}, "Service Under Maintenance", id="maintenance"),
    pytest.param({"maintenance_in": LATER}, "All Systems Operational", id="maintenance-later"),
    pytest.param(
        {"maintenance_in": NOW, "incident": {"impact": "minor"}},
        "Minor Service Outage",
        id="incident-during-maintenance",
    ),
    pytest.param(
        login_at("degraded_performance", impact="major"),
        "Partial System Outage",
        id="impact-outranks-components",
    ),
]


@pytest.mark.parametrize(("scene", "description"), SCENES)
def test_status_indicator_and_description(http: httpx.Client, scene: dict, description: str) -> None:
    stage(http, **scene)
    expected = {"indicator": INDICATORS[description], "description": description}
    assert v2(http, "status.json")["status"] == expected
    assert v2(http, "summary.json")["status"] == expected


def test_resolving_everything_brings_back_all_systems_operational(http: httpx.Client) -> None:
    set_the_scene(http)
    everything_at(http, "major_outage")
    close_everything(http)
    assert v2(http, "status.json")["status"]["description"] == "All Systems Operational"
    assert {c["status"] for c in v2(http, "components.json")["components"]} == {"operational"}
