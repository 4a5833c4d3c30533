"""A component's status set by hand, without an incident, on SQLite and PostgreSQL: the lifecycle rule
(the manual status is one more claim, the worst claim wins), the admin API's PATCH, the admin page's form,
and the public pages and /api/v2 following.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, func, select

from downradar.core.catalog import Catalog, Component, Page, Service
from downradar.incidents import IncidentError, NotFound
from downradar.incidents.audit import entries
from downradar.incidents.claims import component_claims, manual_changes
from downradar.incidents.lifecycle import (
    open_incident,
    resolve_incident,
    schedule_maintenance,
    set_component_status,
)
from downradar.incidents.queries import load_services
from downradar.store.schema import components, events
from downradar.web.pages.uptime import component_uptime, status_changes
from support.admin_forms import HTML, hidden, signing_in
from support.admin_forms import QUIET_ADMIN as SETTINGS
from support.databases import Databases, catalog_engine
from support.servers import LiveServer, module_server

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CATALOG = Catalog(
    page=Page(name="Test"),
    services=[
        Service(
            id="web",
            name="Web",
            components=[Component(id="api", name="API"), Component(id="login", name="Login")],
        )
    ],
)


# -- the lifecycle ---------------------------------------------------------------------------------------


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    yield from catalog_engine(db_url, CATALOG, NOW - timedelta(days=10))


def status_of(engine: Engine, component_id: str) -> tuple[str, str | None]:
    """(status, manual_status) as stored."""
    with engine.connect() as conn:
        row = conn.execute(
            select(components.c.status, components.c.manual_status).where(components.c.id == component_id)
        ).one()
    return row.status, row.manual_status


def test_the_manual_status_is_one_more_claim_and_the_worst_claim_wins(engine: Engine) -> None:
    with engine.begin() as conn:
        done = set_component_status(conn, ("web", "api"), "degraded_performance", actor="ops", now=NOW)
    assert (done.component_id, done.manual_status, done.status, done.changed) == (
        "web.api", "degraded_performance", "degraded_performance", True,
    )  # fmt: skip
    assert status_of(engine, "web.api") == ("degraded_performance", "degraded_performance")
    assert status_of(engine, "web.login") == ("operational", None)

    with engine.begin() as conn:  # an incident claims worse: it wins
        incident_id = open_incident(
            conn, service_id="web", name="Errors", message="Looking.",
            components_status={"api": "major_outage"}, actor="ops", now=NOW + timedelta(minutes=1),
        )  # fmt: skip
    assert status_of(engine, "web.api") == ("major_outage", "degraded_performance")
    with engine.begin() as conn:  # a worse manual claim than before, still below the incident's
        set_component_status(conn, "web.api", "partial_outage", actor="ops", now=NOW + timedelta(minutes=2))
        claims = component_claims(conn, ["web.api"])["web.api"]
    assert [(c.source, c.status) for c in claims] == [
        ("manual", "partial_outage"),
        ("incident", "major_outage"),
    ]
    assert claims[0].actor == "ops" and claims[0].at == NOW + timedelta(minutes=2)
    assert claims[1].incident_id == incident_id and claims[1].name == "Errors"
    assert status_of(engine, "web.api") == ("major_outage", "partial_outage")

    with engine.begin() as conn:  # the incident goes, the manual status stays
        resolve_incident(conn, incident_id, actor="ops", now=NOW + timedelta(minutes=3))
    assert status_of(engine, "web.api") == ("partial_outage", "partial_outage")

    with engine.begin() as conn:  # "operational" removes the manual claim
        cleared = set_component_status(
            conn, ("web", "api"), "operational", actor="ops", now=NOW + timedelta(minutes=4)
        )
    assert (cleared.manual_status, cleared.status, cleared.changed) == (None, "operational", True)
    assert status_of(engine, "web.api") == ("operational", None)

    with engine.connect() as conn:
        audited = entries(conn, entity="component", entity_id="web.api")
        incident_events = conn.scalar(select(func.count()).select_from(events))
    assert [e["action"] for e in audited] == [
        "component.status_cleared",
        "component.status_set",
        "component.status_set",
    ]
    assert {e["actor"] for e in audited} == {"ops"}
    assert audited[0]["detail"] == {
        "service": "web", "component": "api", "manual_status": None, "old_manual_status": "partial_outage",
        "status": "operational", "old_status": "partial_outage",
    }  # fmt: skip
    assert incident_events == 2  # the incident's opened and resolved; the event stream has no component type


def test_clearing_with_none_and_asking_again_for_the_same_status(engine: Engine) -> None:
    with engine.begin() as conn:
        set_component_status(conn, ("web", "login"), "major_outage", actor="ops", now=NOW)
        again = set_component_status(conn, ("web", "login"), "major_outage", actor="ops", now=NOW)
    assert again.changed is False and again.status == "major_outage"
    with engine.begin() as conn:
        cleared = set_component_status(conn, ("web", "login"), None, actor="ops", now=NOW)
        nothing = set_component_status(conn, ("web", "login"), "operational", actor="ops", now=NOW)
    assert cleared.changed and cleared.status == "operational"
    assert nothing.changed is False
    with engine.connect() as conn:
        actions = [e["action"] for e in entries(conn, entity="component", entity_id="web.login")]
    assert actions == ["component.status_cleared", "component.status_set"]


def test_maintenance_and_a_manual_status_together(engine: Engine) -> None:
    with engine.begin() as conn:
        set_component_status(conn, ("web", "api"), "degraded_performance", actor="ops", now=NOW)
        maintenance_id = schedule_maintenance(
            conn, service_id="web", name="Upgrade", message="Upgrading.",
            scheduled_for=NOW - timedelta(minutes=5), scheduled_until=NOW + timedelta(hours=1),
            component_slugs=["api"], actor="ops", now=NOW,
        )  # fmt: skip
        claims = component_claims(conn, ["web.api"])["web.api"]
    assert [(c.source, c.status, c.incident_id) for c in claims] == [
        ("manual", "degraded_performance", None),
        ("maintenance", "under_maintenance", maintenance_id),
    ]
    with engine.begin() as conn:
        set_component_status(conn, ("web", "api"), "operational", actor="ops", now=NOW)
    assert status_of(engine, "web.api") == ("under_maintenance", None)


def test_bad_status_and_unknown_components_are_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(IncidentError) as bad:
            set_component_status(conn, ("web", "api"), "on_fire", actor="ops", now=NOW)
        with pytest.raises(IncidentError):
            set_component_status(conn, ("web", "api"), "", actor="ops", now=NOW)
        with pytest.raises(NotFound, match="unknown service 'nope'"):
            set_component_status(conn, ("nope", "api"), "major_outage", actor="ops", now=NOW)
        with pytest.raises(NotFound, match="unknown component 'nope' of service 'web'"):
            set_component_status(conn, ("web", "nope"), "major_outage", actor="ops", now=NOW)
        with pytest.raises(NotFound, match=r"unknown component 'web\.nope'"):
            set_component_status(conn, "web.nope", "major_outage", actor="ops", now=NOW)
    assert bad.value.field == "status" and "'on_fire' is not one of operational|" in bad.value.message
    assert status_of(engine, "web.api") == ("operational", None)


# -- the app in-process: the admin API, the admin page, the public pages -----------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[LiveServer]:
    yield from module_server(request, tmp_path_factory.mktemp("manual"), databases, **SETTINGS)


def patch(server: LiveServer, service: str, slug: str, body: object, **kwargs: object) -> httpx.Response:
    headers = kwargs.pop("headers", server.admin)
    return server.request(
        "PATCH", f"/api/v1/services/{service}/components/{slug}", json=body, headers=headers
    )


def public_status(server: LiveServer, component_id: str) -> tuple[str, str]:
    """The component's status in /api/v2/components.json and in summary.json."""
    listed = server.get("/api/v2/components.json").json()["components"]
    summary = server.get("/api/v2/summary.json").json()["components"]
    return (
        next(c["status"] for c in listed if c["id"] == component_id),
        next(c["status"] for c in summary if c["id"] == component_id),
    )


def test_the_admin_api_sets_and_clears_a_status_and_the_public_pages_follow(server: LiveServer) -> None:
    with server.runtime.engine.connect() as conn:
        service = load_services(conn, "chatgpt")[0]
    component = next(c for c in service.components if c.slug == "conversations")
    before_page = server.get("/services/chatgpt", headers=HTML).text
    assert "st-major_outage" not in before_page

    response = patch(server, "chatgpt", "conversations", {"status": "major_outage"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == component.id and body["service"] == "chatgpt" and body["slug"] == "conversations"
    assert body["status"] == "major_outage" and body["manual_status"] == "major_outage"
    assert body["manual_status_by"] == "admin" and body["manual_status_at"] is not None
    assert body["claims"] == [
        {"source": "manual", "status": "major_outage", "incident_id": None, "name": None}
    ]
    assert public_status(server, component.id) == ("major_outage", "major_outage")
    overview = server.get("/api/v2/status.json").json()["status"]
    assert overview["indicator"] != "none"
    assert "st-major_outage" in server.get("/services/chatgpt", headers=HTML).text
    badge = server.get("/badge/chatgpt/conversations.svg").text
    assert "Major outage" in badge or "major outage" in badge.lower()

    cleared = patch(server, "chatgpt", "conversations", {"status": "operational"})
    assert cleared.status_code == 200 and cleared.json()["manual_status"] is None
    assert cleared.json()["status"] == "operational" and cleared.json()["claims"] == []
    assert public_status(server, component.id) == ("operational", "operational")
    assert "st-major_outage" not in server.get("/services/chatgpt", headers=HTML).text

    audit = server.get("/api/v1/audit", params={"entity_id": component.id}, headers=server.admin).json()[
        "entries"
    ]
    assert [e["action"] for e in audit] == ["component.status_cleared", "component.status_set"]


def test_the_admin_api_refuses_bad_input_unknown_components_and_strangers(server: LiveServer) -> None:
    bad = patch(server, "chatgpt", "login", {"status": "on_fire"})
    assert bad.status_code == 422
    assert (
        bad.json()["errors"] == [{"field": "status", "message": bad.json()["errors"][0]["message"]}]
        and "'on_fire' is not one of" in bad.json()["errors"][0]["message"]
    )
    missing = patch(server, "chatgpt", "login", {})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "status"
    extra = patch(server, "chatgpt", "login", {"status": "major_outage", "colour": "red"})
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "colour"

    no_service = patch(server, "nope", "login", {"status": "major_outage"})
    assert no_service.status_code == 404 and "unknown service 'nope'" in no_service.json()["error"]
    no_component = patch(server, "chatgpt", "nope", {"status": "major_outage"})
    assert no_component.status_code == 404 and "unknown component 'nope'" in no_component.json()["error"]

    assert patch(server, "chatgpt", "login", {"status": "major_outage"}, headers={}).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert patch(server, "chatgpt", "login", {"status": "major_outage"}, headers=wrong).status_code == 403
    login_id = "chatgpt.login"
    assert public_status(server, login_id) == ("operational", "operational")


def test_the_admin_page_sets_statuses_by_hand_and_shows_where_they_come_from(server: LiveServer) -> None:
    page = "/admin/services/chatgpt/components"
    with signing_in(server) as (admin, signed):
        assert signed.status_code == 200
        opened = server.post(
            "/api/v1/incidents",
            headers=server.admin,
            json={"service": "chatgpt", "name": "Slow search", "message": "Looking.",
                  "components": {"search": "degraded_performance"}},
        )  # fmt: skip
        assert opened.status_code == 201, opened.text
        incident_id = opened.json()["id"]
        try:
            form = admin.get(page).text
            assert 'id="manual-form"' in form and 'id="manual-status-search"' in form
            assert f'id="components-form-{incident_id}"' in form  # the per-incident form stays
            claims = re.search(r'id="component-claims-search">(.*?)</td>', form, re.S)
            assert claims and f'href="/admin/incidents/{incident_id}">Slow search</a>' in claims.group(1)

            token = hidden(form)
            saved = admin.post(
                page, data={"csrf_token": token, "manual-status-search": "major_outage",
                            "manual-status-login": "operational"},
            )  # fmt: skip
            assert saved.status_code == 200 and "Component statuses are changed." in saved.text
            assert public_status(server, "chatgpt.search") == ("major_outage", "major_outage")
            assert public_status(server, "chatgpt.login") == ("operational", "operational")
            claims = re.search(r'id="component-claims-search">(.*?)</td>', saved.text, re.S)
            assert (
                claims and "set by hand by admin-ui" in claims.group(1) and "Slow search" in claims.group(1)
            )
            assert re.search(r'<option value="major_outage" selected>', saved.text)

            bad = admin.post(page, data={"csrf_token": token, "manual-status-search": "on_fire"})
            assert bad.status_code == 422 and 'href="#manual-status-search"' in bad.text
            assert re.search(r'id="manual-status-search"[^>]*aria-invalid="true"', bad.text)
            assert public_status(server, "chatgpt.search") == ("major_outage", "major_outage")

            forged = admin.post(page, data={"manual-status-search": "operational"})
            assert forged.status_code == 403
            assert public_status(server, "chatgpt.search") == ("major_outage", "major_outage")

            nowhere = admin.post("/admin/services/nope/components", data={"csrf_token": token})
            assert nowhere.status_code == 404

            cleared = admin.post(page, data={"csrf_token": token, "manual-status-search": "operational"})
            assert cleared.status_code == 200
            assert public_status(server, "chatgpt.search") == ("degraded_performance", "degraded_performance")
        finally:
            server.post(f"/api/v1/incidents/{incident_id}/resolve", headers=server.admin)
    assert public_status(server, "chatgpt.search") == ("operational", "operational")
    audit = server.get("/api/v1/audit", params={"entity_id": "chatgpt.search"}, headers=server.admin).json()[
        "entries"
    ]
    assert [(e["action"], e["actor"]) for e in audit] == [
        ("component.status_cleared", "admin-ui"),
        ("component.status_set", "admin-ui"),
    ]


def test_the_admin_page_needs_a_session(server: LiveServer) -> None:
    with server.client(headers=HTML) as anonymous:
        response = anonymous.post(
            "/admin/services/chatgpt/components", data={"manual-status-login": "major_outage"}
        )
        assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")
    assert public_status(server, "chatgpt.login") == ("operational", "operational")


def test_a_status_set_and_cleared_by_hand_stays_in_the_uptime_history(engine: Engine) -> None:
    down_at = NOW - timedelta(days=2)
    with engine.begin() as conn:
        set_component_status(conn, "web.api", "major_outage", actor="ops", now=down_at)
        set_component_status(
            conn, "web.api", "degraded_performance", actor="ops", now=down_at + timedelta(minutes=45)
        )
        set_component_status(conn, "web.api", None, actor="ops", now=down_at + timedelta(hours=2))
        set_component_status(conn, "web.login", "partial_outage", actor="ops", now=NOW - timedelta(hours=1))
    with engine.connect() as conn:
        manual = manual_changes(conn, NOW - timedelta(days=91))
        (service,) = load_services(conn, "web")
    assert [(c.component_id, c.old_status, c.new_status) for c in manual] == [
        ("web.api", "operational", "major_outage"),
        ("web.api", "major_outage", "degraded_performance"),
        ("web.api", "degraded_performance", "operational"),
        ("web.login", "operational", "partial_outage"),
    ]
    changes = status_changes([], manual)
    api, login = service.components
    days = {d.day: d for d in component_uptime(api, [], NOW, "Etc/UTC", changes=changes).days}
    that_day = days[down_at.date()]
    assert (that_day.status, that_day.outage_minutes) == ("major_outage", 45)
    assert days[NOW.date()].status == "operational"
    today = component_uptime(login, [], NOW, "Etc/UTC", changes=changes).days[-1]
    assert (today.status, today.outage_minutes) == ("partial_outage", 60)
