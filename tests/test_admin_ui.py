"""The admin UI at /admin, through its forms, on SQLite and PostgreSQL: sign-in and session, CSRF,
never-cached pages, and every change (incidents, components, maintenance, subscribers, alert routes,
comments) followed by the public page and /api/v2.

One server per backend; each test signs in with its own client (its own cookie jar).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from markupsafe import escape

from downradar import incidents as lifecycle
from downradar.incidents import Evidence
from downradar.incidents.queries import load_services
from downradar.intake.comments import list_comments, recent_comments
from downradar.web.admin import session
from support.admin_forms import HTML, QUIET_ADMIN, hidden, signing_in
from support.databases import Databases
from support.inprocess import start_in_process
from support.servers import ADMIN_TOKEN, LiveServer, make_settings, module_server

ADMIN_PAGES = (
    "/admin",
    "/admin/incidents/new",
    "/admin/maintenance/new",
    "/admin/subscribers",
    "/admin/alert-routes",
    "/admin/comments",
    "/admin/services/chatgpt/components",
)
SETTINGS = QUIET_ADMIN  # the module's server: nothing in the background


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[LiveServer]:
    yield from module_server(request, tmp_path_factory.mktemp("admin"), databases, **SETTINGS)


def sign_in_status(server: LiveServer, token: str) -> int:
    with signing_in(server, token) as (_, response):
        return response.status_code


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with signing_in(server) as (http, response):
        assert response.status_code == 200 and "Dashboard" in response.text, response.text
        yield http


def cookie_client(server: LiveServer, value: str) -> httpx.Client:
    return server.client(headers=HTML, follow_redirects=True, cookies={"downradar_admin": value})


def submit(http: httpx.Client, page: str, action: str, data: dict[str, str | list[str]]) -> httpx.Response:
    """Load a page, take its CSRF token, post one of its forms."""
    token = hidden(http.get(page).text)
    return http.post(action, data={"csrf_token": token, **data})


def open_incident(http: httpx.Client, **fields: str) -> str:
    data = {
        "service": "chatgpt",
        "name": "Login failures",
        "status": "investigating",
        "impact": "major",
        "incident-components-login": "major_outage",
        "message": "We are looking into failed logins.",
        **fields,
    }
    response = submit(http, "/admin/incidents/new?service=chatgpt", "/admin/incidents", data)
    assert response.status_code == 200, response.text
    found = re.search(r"/admin/incidents/([a-z0-9]{12})", str(response.url))
    assert found, response.url
    return found.group(1)


def component_status(server: LiveServer, service: str, slug: str) -> str:
    """The status /api/v2/components.json gives a component (found by its id in the database)."""
    with server.runtime.engine.connect() as conn:
        component_id = next(c.id for c in load_services(conn, service)[0].components if c.slug == slug)
    listed = server.get("/api/v2/components.json").json()["components"]
    return next(c["status"] for c in listed if c["id"] == component_id)


def api_incident(server: LiveServer, incident_id: str) -> dict:  # type: ignore[type-arg]
    listed = server.get("/api/v2/incidents.json").json()["incidents"]
    return next(i for i in listed if i["id"] == incident_id)


def test_sign_in_wrong_then_right_and_every_page_needs_a_session(server: LiveServer) -> None:
    with server.client(headers=HTML, follow_redirects=True) as anonymous:
        for path in ("/admin", "/admin/incidents/new", "/admin/subscribers", "/admin/comments"):
            response = anonymous.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == f"/admin/login?next={path}"
    with cookie_client(server, "a.b.9999999999.bad") as forged:
        assert forged.get("/admin", follow_redirects=False).status_code == 303
    with server.client(headers=HTML, follow_redirects=True) as anonymous:
        login = anonymous.get("/admin/login")
        assert login.headers["cache-control"] == "no-store" and login.headers["vary"] == "Cookie"
        assert 'id="login-token"' in login.text and 'id="login-submit"' in login.text

    with signing_in(server, token="not-the-token") as (_, wrong):
        assert wrong.status_code == 401
        assert "That is not the admin token" in wrong.text and 'aria-invalid="true"' in wrong.text
        assert "downradar_admin=" not in wrong.headers.get("set-cookie", "")

    with signing_in(server) as (http, right):
        assert right.status_code == 200 and str(right.url).endswith("/admin")
        cookie = right.history[0].headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
        assert "Secure" not in cookie  # plain http here; https requests get Secure
        for path in ADMIN_PAGES:
            page = http.get(path)
            assert page.status_code == 200, (path, page.text)
            assert page.headers["cache-control"] == "no-store", path
            assert page.headers["vary"] == "Cookie", path


def test_sign_in_attempts_are_throttled_per_address(tmp_path: Path) -> None:
    live = start_in_process(make_settings(f"sqlite:///{tmp_path / 'throttle.db'}", **SETTINGS))
    try:
        statuses = [sign_in_status(live, f"guess-{n}") for n in range(11)]
        assert statuses == [401] * 10 + [429]
        with signing_in(live) as (_, blocked):  # even the right token waits now
            assert blocked.status_code == 429 and "Too many sign-in attempts" in blocked.text
            assert int(blocked.headers["retry-after"]) >= 1
    finally:
        live.stop()


def test_posts_without_the_right_csrf_token_are_refused(server: LiveServer, admin: httpx.Client) -> None:
    data = {"service": "chatgpt", "name": "Forged", "status": "investigating", "impact": "minor",
            "message": "from another site"}  # fmt: skip
    missing = admin.post("/admin/incidents", data=data)
    wrong = admin.post("/admin/incidents", data={**data, "csrf_token": "guessed"})
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "This form was refused" in response.text
        assert response.headers["cache-control"] == "no-store"
    assert all(i["name"] != "Forged" for i in server.get("/api/v2/incidents.json").json()["incidents"])
    with server.client(headers=HTML, follow_redirects=True) as stranger:  # the sign-in form has its own token
        refused = stranger.post("/admin/login", data={"token": ADMIN_TOKEN})
        assert refused.status_code == 403


def test_open_update_and_resolve_an_incident_through_the_forms(
    server: LiveServer, admin: httpx.Client
) -> None:
    composer = admin.get("/admin/incidents/new?service=chatgpt&template=identified")
    for control in ("incident-name", "incident-status", "incident-impact", "incident-message",
                    "incident-components-login", "incident-submit"):  # fmt: skip
        assert f'id="{control}"' in composer.text, control
    assert "We have identified the cause of the problems with ChatGPT" in composer.text  # the template

    rejected = submit(admin, "/admin/incidents/new", "/admin/incidents",
                      {"service": "chatgpt", "name": "  ", "status": "investigating", "impact": "minor",
                       "message": "text kept"})  # fmt: skip
    assert rejected.status_code == 422
    assert 'href="#incident-name"' in rejected.text and "must not be empty" in rejected.text
    assert re.search(r'id="incident-name"[^>]*aria-invalid="true"', rejected.text)
    assert "text kept" in rejected.text

    incident_id = open_incident(admin, name="Login failures <script>alert(1)</script>")
    public = server.get(f"/incidents/{incident_id}", headers=HTML).text
    assert "Login failures &lt;script&gt;" in public and "<script>alert(1)" not in public
    assert api_incident(server, incident_id)["status"] == "investigating"
    assert component_status(server, "chatgpt", "login") == "major_outage"

    page = f"/admin/incidents/{incident_id}"
    update = {
        "status": "identified",
        "update-components-login": "partial_outage",
        "message": "A bad deploy; rolling back.",
    }
    updated = submit(admin, page, f"{page}/updates", update)
    assert updated.status_code == 200 and "The update is posted." in updated.text
    assert "A bad deploy; rolling back." in server.get(f"/incidents/{incident_id}", headers=HTML).text
    body = api_incident(server, incident_id)
    assert body["status"] == "identified"
    assert body["incident_updates"][0]["body"] == "A bad deploy; rolling back."
    assert component_status(server, "chatgpt", "login") == "partial_outage"

    resolved = submit(admin, page, f"{page}/resolve", {"message": ""})
    assert resolved.status_code == 200 and "The incident is resolved." in resolved.text
    assert api_incident(server, incident_id)["status"] == "resolved"
    assert component_status(server, "chatgpt", "login") == "operational"
    again = submit(admin, "/admin", f"{page}/resolve", {"message": ""})
    assert again.status_code == 404 or "already resolved" in again.text

    audit = server.get("/api/v1/audit", params={"entity_id": incident_id}, headers=server.admin)
    entries = audit.json()["entries"]
    assert {e["actor"] for e in entries} == {"admin-ui"}
    assert [e["action"] for e in entries] == ["incident.resolved", "incident.updated", "incident.opened"]


def test_edit_component_statuses_of_a_service(server: LiveServer, admin: httpx.Client) -> None:
    components = {"incident-components-login": "", "incident-components-search": "major_outage"}
    incident_id = open_incident(admin, name="Slow search", **components)
    page = "/admin/services/chatgpt/components"
    form = admin.get(page).text
    assert f'id="components-{incident_id}-search"' in form
    saved = submit(admin, page, f"/admin/services/chatgpt/components/{incident_id}",
                   {f"components-{incident_id}-search": "degraded_performance"})  # fmt: skip
    assert saved.status_code == 200 and "Component statuses are changed." in saved.text
    assert component_status(server, "chatgpt", "search") == "degraded_performance"
    bad = submit(admin, page, f"/admin/services/chatgpt/components/{incident_id}",
                 {f"components-{incident_id}-search": "on_fire"})  # fmt: skip
    assert bad.status_code == 422 and f'href="#components-{incident_id}-components-search"' in bad.text
    submit(admin, f"/admin/incidents/{incident_id}", f"/admin/incidents/{incident_id}/resolve", {})


def test_schedule_maintenance(server: LiveServer, admin: httpx.Client) -> None:
    zone = ZoneInfo(server.runtime.catalog.page.time_zone)
    start = (datetime.now(UTC) + timedelta(days=2)).astimezone(zone).replace(second=0, microsecond=0)
    local = {
        "scheduled_for": f"{start:%Y-%m-%dT%H:%M}",
        "scheduled_until": f"{start + timedelta(hours=2):%Y-%m-%dT%H:%M}",
    }
    data = {"service": "github", "name": "Database upgrade", "message": "Expect short pauses.",
            "maintenance-components-actions": "1", "auto_transition": "1", **local}  # fmt: skip
    backwards = submit(admin, "/admin/maintenance/new", "/admin/maintenance",
                       {**data, "scheduled_until": local["scheduled_for"]})  # fmt: skip
    assert backwards.status_code == 422 and 'href="#maintenance-scheduled_until"' in backwards.text
    done = submit(admin, "/admin/maintenance/new?service=github", "/admin/maintenance", data)
    assert done.status_code == 200 and "The maintenance is scheduled." in done.text
    upcoming = server.get("/api/v2/scheduled-maintenances/upcoming.json").json()
    found = next(m for m in upcoming["scheduled_maintenances"] if m["name"] == "Database upgrade")
    assert datetime.fromisoformat(found["scheduled_for"]) == start


def test_remove_a_subscriber(server: LiveServer, admin: httpx.Client) -> None:
    hook = "http://127.0.0.1:9/carol?token=private-123"
    made = server.post("/api/v1/subscriptions", json={"webhook": hook})
    assert made.status_code in (200, 201, 202), made.text
    subscriber_id = made.json()["subscriber"]["id"] if "subscriber" in made.json() else made.json()["id"]
    listed = admin.get("/admin/subscribers").text
    assert f'id="subscriber-{subscriber_id}"' in listed
    assert (
        "http://127.0.0.1:9/carol?…" in listed and "private-123" not in listed
    )  # the query may hold a token
    removed = submit(admin, "/admin/subscribers", f"/admin/subscribers/{subscriber_id}/remove", {})
    assert removed.status_code == 200 and "The subscriber is removed." in removed.text
    assert f'id="subscriber-{subscriber_id}"' not in removed.text
    api = server.get("/api/v1/subscribers", headers=server.admin).json()
    assert all(s["id"] != subscriber_id for s in api["subscribers"])


def test_add_and_remove_an_alert_route_whose_secret_is_shown_once(
    server: LiveServer, admin: httpx.Client
) -> None:
    data = {"name": "On-call hook", "channel": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "",
            "services": ["chatgpt"], "enabled": "1"}  # fmt: skip
    short = submit(admin, "/admin/alert-routes", "/admin/alert-routes", {**data, "secret": "too-short"})
    assert short.status_code == 422 and 'href="#route-secret"' in short.text and "too-short" not in short.text
    created = submit(admin, "/admin/alert-routes", "/admin/alert-routes", data)
    assert created.status_code == 201
    secret = re.search(r'id="route-new-secret"[^>]*>([^<]+)<', created.text).group(1)  # type: ignore[union-attr]
    assert len(secret) >= 16
    listing = admin.get("/admin/alert-routes").text
    assert "On-call hook" in listing and secret not in listing
    route_id = re.search(r'id="route-([a-z0-9]{12})"', listing).group(1)  # type: ignore[union-attr]

    chosen = submit(admin, "/admin/alert-routes", "/admin/alert-routes",
                    {**data, "name": "Signed by us", "secret": "a-secret-we-chose-1234"})  # fmt: skip
    assert chosen.status_code == 201 and "a-secret-we-chose-1234" not in chosen.text
    assert 'id="route-new-secret"' not in chosen.text

    removed = submit(admin, "/admin/alert-routes", f"/admin/alert-routes/{route_id}/remove", {})
    assert removed.status_code == 200 and "The alert route is removed." in removed.text
    assert f'id="route-{route_id}"' not in removed.text
    api = server.get("/api/v1/alert-routes", headers=server.admin).json()["alert_routes"]
    assert [r["name"] for r in api if r["name"] in ("On-call hook", "Signed by us")] == ["Signed by us"]


def test_alert_route_timings_are_set_checked_and_listed(server: LiveServer, admin: httpx.Client) -> None:
    form = admin.get("/admin/alert-routes").text
    for field in ("group_wait_seconds", "group_interval_seconds", "repeat_interval_seconds"):
        assert f'id="route-{field}"' in form, field
    assert "server&#39;s default, 10 s." in form and "server&#39;s default, 60 s." in form

    data = {"name": "Paced hook", "channel": "webhook", "url": "http://127.0.0.1:9/paced", "secret": "",
            "enabled": "1", "group_wait_seconds": "5", "group_interval_seconds": "120",
            "repeat_interval_seconds": "0"}  # fmt: skip
    words = submit(admin, "/admin/alert-routes", "/admin/alert-routes",
                   {**data, "group_wait_seconds": "soon"})  # fmt: skip
    assert words.status_code == 422 and 'href="#route-group_wait_seconds"' in words.text
    assert "give a number of seconds" in words.text
    assert re.search(r'id="route-group_wait_seconds" name="group_wait_seconds" value="soon"', words.text)
    assert 'value="120"' in words.text  # the other fields are kept
    too_long = submit(admin, "/admin/alert-routes", "/admin/alert-routes",
                      {**data, "group_interval_seconds": "999999999"})  # fmt: skip
    assert too_long.status_code == 422 and 'href="#route-group_interval_seconds"' in too_long.text
    assert "must be between 0 and 604800 seconds" in too_long.text
    assert re.search(r'id="route-group_interval_seconds"[^>]*aria-invalid="true"', too_long.text)
    negative = submit(admin, "/admin/alert-routes", "/admin/alert-routes",
                      {**data, "repeat_interval_seconds": "-1"})  # fmt: skip
    assert negative.status_code == 422 and 'href="#route-repeat_interval_seconds"' in negative.text

    created = submit(admin, "/admin/alert-routes", "/admin/alert-routes", data)
    assert created.status_code == 201, created.text
    plain = submit(admin, "/admin/alert-routes", "/admin/alert-routes",
                   {**data, "name": "Default-paced hook", "group_wait_seconds": "",
                    "group_interval_seconds": "", "repeat_interval_seconds": ""})  # fmt: skip
    assert plain.status_code == 201, plain.text
    api = server.get("/api/v1/alert-routes", headers=server.admin).json()["alert_routes"]
    by_name = {r["name"]: r for r in api}
    paced, default = by_name["Paced hook"], by_name["Default-paced hook"]
    timings = ("group_wait_seconds", "group_interval_seconds", "repeat_interval_seconds")
    assert [paced[field] for field in timings] == [5.0, 120.0, 0.0]
    assert default["group_wait_seconds"] is None and default["repeat_interval_seconds"] is None

    listing = admin.get("/admin/alert-routes").text
    row = listing.split(f'id="route-{paced["id"]}"')[1].split("</tr>")[0]
    assert '<td class="route-group-wait">5 s</td>' in row
    assert '<td class="route-group-interval">120 s</td>' in row
    assert '<td class="route-repeat-interval">never</td>' in row
    row = listing.split(f'id="route-{default["id"]}"')[1].split("</tr>")[0]
    assert '<td class="route-group-wait">10 s (default)</td>' in row
    assert '<td class="route-group-interval">60 s (default)</td>' in row
    assert '<td class="route-repeat-interval">never (default)</td>' in row
    for route in (paced, default):
        submit(admin, "/admin/alert-routes", f"/admin/alert-routes/{route['id']}/remove", {})


HOOK_FORM = {"name": "Hook", "url": "http://127.0.0.1:9/hook", "secret": "", "enabled": "1"}
# A form and its JSON API endpoint validate the same model: a bad value (as the form would send it), the
# form's page and path, the form's control prefix, the API path and the rest of a valid API body.
SAME_REFUSALS = {
    "maintenance-time": (
        ("scheduled_for", "next tuesday"),
        ("/admin/maintenance/new", "/admin/maintenance", "maintenance"),
        {"service": "github", "name": "Upgrade", "message": "Short pauses.", "auto_transition": "1",
         "scheduled_until": "2030-01-01T12:00"},
        ("/api/v1/maintenances", {"service": "github", "name": "Upgrade", "message": "Short pauses.",
                                  "scheduled_until": "2030-01-01T12:00:00Z"}),
    ),
    "route-timing": (
        ("group_wait_seconds", "soon"),
        ("/admin/alert-routes", "/admin/alert-routes", "route"),
        {**HOOK_FORM, "channel": "webhook"},
        ("/api/v1/alert-routes", {"name": "Hook", "url": "http://127.0.0.1:9/hook"}),
    ),
    "route-channel": (
        ("channel", "carrier-pigeon"),
        ("/admin/alert-routes", "/admin/alert-routes", "route"),
        HOOK_FORM,
        ("/api/v1/alert-routes", {"name": "Hook", "url": "http://127.0.0.1:9/hook"}),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", SAME_REFUSALS.values(), ids=SAME_REFUSALS.keys())
def test_a_form_and_the_api_refuse_the_same_value_naming_the_same_field(
    server: LiveServer, admin: httpx.Client, case: tuple[Any, ...]
) -> None:
    (field, value), (page, action, prefix), form, (api_path, api_body) = case
    answer = server.post(api_path, json={**api_body, field: value}, headers=server.admin)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == field
    shown = submit(admin, page, action, {**form, field: value})
    assert shown.status_code == 422
    assert f'href="#{prefix}-{field}"' in shown.text
    assert str(escape(error["message"])) in shown.text


def test_hide_a_comment(server: LiveServer, admin: httpx.Client) -> None:
    text = f"<img src=x onerror=alert(1)> broken {time.monotonic_ns()}"
    report = {"service": "chatgpt", "symptom": "error", "comment": text, "client": "reporter-1"}
    sent = server.post("/api/v1/reports", json=report)
    assert sent.status_code in (200, 201, 202), sent.text
    engine = server.runtime.engine
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            found = [c for c in list_comments(conn, service_id="chatgpt") if c.text == text]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found, "the report was not written"
    comment_id = found[0].id
    public_url = "/services/chatgpt"
    assert "onerror=alert(1)&gt; broken" in server.get(public_url, headers=HTML).text  # now in the page cache
    listing = admin.get("/admin/comments?service=chatgpt").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in listing and "<img src=x" not in listing
    hidden_now = submit(admin, "/admin/comments", f"/admin/comments/{comment_id}/hide",
                        {"back": "/admin/comments?service=chatgpt"})  # fmt: skip
    assert hidden_now.status_code == 200 and "The comment is hidden" in hidden_now.text
    with engine.connect() as conn:
        assert all(c.id != comment_id for c in recent_comments(conn, "chatgpt", server.runtime.clock.now()))
    assert "onerror=alert(1)&gt; broken" not in server.get(public_url, headers=HTML).text
    shown = submit(admin, "/admin/comments", f"/admin/comments/{comment_id}/show", {})
    assert shown.status_code == 200 and "shown on the public page again" in shown.text


def test_sign_out_ends_the_session(server: LiveServer) -> None:
    with signing_in(server) as (http, _):
        cookie = http.cookies["downradar_admin"]
        out = submit(http, "/admin", "/admin/logout", {})
        assert out.status_code == 200 and str(out.url).endswith("/admin/login")
        assert "downradar_admin" not in http.cookies
    with cookie_client(server, cookie) as replay:  # the old cookie no longer signs anyone in
        assert replay.get("/admin", follow_redirects=False).status_code == 303


def open_detected(server: LiveServer, name: str) -> str:
    """An incident as the detector opens one, with its evidence."""
    evidence = Evidence(
        reports_per_min=12.5, baseline_per_min=1.0, score=9.2, regions=("US",), signals=("reports",)
    )
    with server.runtime.engine.begin() as conn:
        return lifecycle.open_incident(
            conn,
            service_id="github",
            name=name,
            message="Users report problems with GitHub: 12.5 reports a minute, usually 1.",
            source="detector",
            actor="detector",
            evidence=evidence,
            now=server.runtime.clock.now(),
        )


def test_confirm_or_dismiss_what_the_detector_opened(server: LiveServer, admin: httpx.Client) -> None:
    real = open_detected(server, "Problems at GitHub")
    dashboard = admin.get("/admin").text
    assert f'href="/admin/incidents/{real}"' in dashboard.split('id="awaiting"')[1].split("</ul>")[0]
    composer = admin.get("/admin/incidents/new?service=github").text
    assert "12.5 reports a minute" in composer and f'href="/admin/incidents/{real}"' in composer

    page = f"/admin/incidents/{real}"
    shown = admin.get(page).text
    assert 'id="detector-suggestion"' in shown and "Reports per min" in shown and "9.2" in shown
    confirmed = submit(admin, page, f"{page}/confirm", {})
    assert confirmed.status_code == 200 and "operators manage it now" in confirmed.text
    assert 'id="confirm-submit"' not in confirmed.text
    body = server.get(f"/api/v1/incidents/{real}", headers=server.admin).json()
    assert body["confirmed_at"] and body["managed_by"] == "operator"
    submit(admin, page, f"{page}/resolve", {"message": "Fixed upstream."})

    false_alarm = open_detected(server, "Not really")
    page = f"/admin/incidents/{false_alarm}"
    empty = submit(admin, page, f"{page}/dismiss", {"reason": " "})
    assert empty.status_code == 422 and 'href="#dismiss-reason"' in empty.text
    dismissed = submit(admin, page, f"{page}/dismiss", {"reason": "A bot flood"})
    assert dismissed.status_code == 200 and "dismissed" in dismissed.text
    assert api_incident(server, false_alarm)["status"] == "resolved"
    actions = [e["action"] for e in server.get("/api/v1/audit", headers=server.admin,
               params={"entity_id": false_alarm}).json()["entries"]]  # fmt: skip
    assert actions == ["incident.dismissed", "incident.opened"]


def test_edit_the_title_and_impact_of_an_open_incident(server: LiveServer, admin: httpx.Client) -> None:
    incident_id = open_incident(admin, name="Login trouble", impact="minor")
    page = f"/admin/incidents/{incident_id}"
    shown = admin.get(page).text
    for control in ("edit-form", "edit-name", "edit-impact", "edit-submit"):
        assert f'id="{control}"' in shown, control
    assert 'id="incident-managed-by"' not in shown and 'id="edit-hands-over"' not in shown  # opened by hand

    edit = f"{page}/edit"
    empty = submit(admin, page, edit, {"name": "  ", "impact": "major"})
    assert empty.status_code == 422 and 'href="#edit-name"' in empty.text
    assert "must not be empty" in empty.text
    assert re.search(r'id="edit-name"[^>]*aria-invalid="true"', empty.text)
    unknown = submit(admin, page, edit, {"name": "Login trouble", "impact": "apocalyptic"})
    assert unknown.status_code == 422 and 'href="#edit-impact"' in unknown.text
    assert re.search(r'id="edit-impact"[^>]*aria-invalid="true"', unknown.text)
    same = submit(admin, page, edit, {"name": " Login trouble ", "impact": "minor"})
    assert same.status_code == 422 and "nothing to change" in same.text and 'href="#edit-name"' in same.text
    forged = admin.post(edit, data={"csrf_token": "forged", "name": "Forged", "impact": "none"})
    assert forged.status_code == 403

    edited = submit(admin, page, edit, {"name": "Login failures for everyone", "impact": "critical"})
    assert edited.status_code == 200 and "The title and impact are saved." in edited.text
    assert str(edited.url).endswith(f"{page}?done=incident-edited")
    assert '<h1 id="incident-title">Login failures for everyone</h1>' in edited.text
    assert re.search(r'id="edit-impact".*?<option value="critical" selected>', edited.text, re.S)
    body = api_incident(server, incident_id)
    assert body["name"] == "Login failures for everyone" and body["impact"] == "critical"
    assert body["status"] == "investigating" and len(body["incident_updates"]) == 1  # no timeline entry
    public = server.get(f"/incidents/{incident_id}", headers=HTML).text
    assert "Login failures for everyone" in public
    entries = server.get("/api/v1/audit", params={"entity_id": incident_id},
                        headers=server.admin).json()["entries"]  # fmt: skip
    assert entries[0]["action"] == "incident.updated" and entries[0]["actor"] == "admin-ui"
    assert entries[0]["detail"]["name"] == "Login failures for everyone"
    assert entries[0]["detail"]["impact"] == "critical"

    submit(admin, page, f"{page}/resolve", {"message": ""})
    assert 'id="edit-form"' not in admin.get(page).text  # a closed incident is not edited here
    closed = submit(admin, "/admin", edit, {"name": "Too late", "impact": "none"})
    assert closed.status_code == 422 and "is resolved; it is not edited" in closed.text
    assert api_incident(server, incident_id)["name"] == "Login failures for everyone"


def test_editing_a_detected_incident_hands_it_to_the_operators(
    server: LiveServer, admin: httpx.Client
) -> None:
    detected = open_detected(server, "Problems at GitHub (detected)")
    page = f"/admin/incidents/{detected}"
    shown = admin.get(page).text
    assert "the detector, which updates and resolves it by itself" in shown
    assert 'id="edit-hands-over"' in shown

    edited = submit(admin, page, f"{page}/edit", {"name": "GitHub pushes fail", "impact": "major"})
    assert edited.status_code == 200 and "operators manage this incident now" in edited.text
    assert "operators; the detector no longer changes it" in edited.text
    assert 'id="edit-hands-over"' not in edited.text
    assert 'id="confirm-submit"' in edited.text  # still the operators' call whether it is real
    body = server.get(f"/api/v1/incidents/{detected}", headers=server.admin).json()
    assert body["managed_by"] == "operator" and body["name"] == "GitHub pushes fail"
    assert body["impact"] == "major"
    submit(admin, page, f"{page}/resolve", {"message": "Fixed."})


def test_unknown_admin_addresses_are_uncached_404_pages(admin: httpx.Client) -> None:
    for path in ("/admin/no-such-page", "/admin/comments/not-a-number/hide", "/admin/incidents/nope"):
        response = admin.get(path) if "hide" not in path else submit(admin, "/admin", path, {})
        assert response.status_code == 404, path
        assert response.headers["cache-control"] == "no-store", path
        assert "script-src 'self'" in response.headers["content-security-policy"]


def test_templates_prefill_without_script_and_offer_their_text_to_it(admin: httpx.Client) -> None:
    page = admin.get("/admin/incidents/new?service=github&template=monitoring").text
    assert re.search(r'<option value="monitoring" selected>', page.replace("\n", "")) or (
        'value="monitoring" data-status="monitoring"' in page
    )
    message = re.search(r'<textarea id="incident-message"[^>]*>([^<]*)</textarea>', page)
    assert message and message.group(1) == "A fix for GitHub is in place and we are monitoring the results."
    assert 'data-message="We are investigating reports of problems with GitHub.' in page
    assert '<script src="/static/admin.js" defer></script>' in page


def test_sessions_expire_and_https_cookies_are_secure(server: LiveServer) -> None:
    expired = session.encode(server.runtime, session.AdminSession("sid", "csrf", int(time.time()) - 1))
    with cookie_client(server, expired) as http:
        assert http.get("/admin", follow_redirects=False).status_code == 303
    with server.client(headers={**HTML, "X-Forwarded-Proto": "https"}) as http:  # as behind a TLS proxy
        form = http.get("/admin/login")
        assert "Secure" in form.headers["set-cookie"]
        token = hidden(form.text)  # its cookie is Secure: httpx keeps it off plain http, so it goes by hand
        cookie = {"Cookie": f"downradar_admin_login={token}"}
        signed = http.post("/admin/login", data={"csrf_token": token, "token": ADMIN_TOKEN}, headers=cookie)
        assert signed.status_code == 303 and "Secure" in signed.headers["set-cookie"]
