"""The HTML status page as a reader sees it: overview, service page with chart and report form, incidents.

Every case runs against the app (in-process) on SQLite and PostgreSQL (fixtures in conftest.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import httpx
import pytest

from downradar.detect import Expectation
from downradar.store.report_series import BUCKET, Bucket
from downradar.web.pages.templating import short_time
from downradar.web.render.chart import report_chart
from support.inprocess import start_in_process
from support.servers import make_settings

DEMO_SERVICES = {"chatgpt": "ChatGPT", "claude": "Claude", "github": "GitHub", "slack": "Slack"}
XSS_BODY = "We are investigating. <img src=x onerror=alert(1)>"
XSS_COMMENT = "<script>alert(1)</script>"


def open_incident(client: httpx.Client, admin: dict[str, str], **overrides: object) -> dict:
    body = {
        "service": "chatgpt",
        "name": "Elevated errors",
        "status": "investigating",
        "impact": "major",
        "message": "We are investigating.",
        "components": {"login": "major_outage"},
        **overrides,
    }
    response = client.post("/api/v1/incidents", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


def report_count(client: httpx.Client, service: str = "chatgpt") -> int:
    response = client.get(f"/api/v1/services/{service}/reports")
    assert response.status_code == 200
    return response.json()["total_reports"]


def html(response: httpx.Response, status: int = 200) -> str:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def text_of(page: str) -> str:
    """The page's words with tags dropped and whitespace collapsed, as a reader would see them."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_overview_shows_every_service_and_an_operational_banner(client):
    page = html(client.get("/"))
    words = text_of(page)
    assert "All Systems Operational" in words
    assert 'class="banner ind-none"' in page
    for service_id, name in DEMO_SERVICES.items():
        assert f'<a href="/services/{service_id}">{name}</a>' in page
    # Components with their status in words, under the catalog's sub-headings.
    assert "Image generation Operational" in words
    assert '<h4 class="group">Platform</h4>' in page
    assert "Major outage" not in words
    # A fresh page has fourteen quiet days of history.
    assert words.count("No incidents reported.") == 14
    assert '<meta name="viewport"' in page


def test_open_incident_shows_on_overview_with_timeline_and_component_state(client, server):
    incident = open_incident(client, server.admin, message=XSS_BODY)
    page = html(client.get("/"))
    words = text_of(page)
    assert "All Systems Operational" not in words
    assert "Partial System Outage" in words
    assert f'<a href="/incidents/{incident["id"]}">Elevated errors</a>' in page
    assert "Investigating – We are investigating." in words
    assert "Login: Operational → Major outage" in words
    assert "Login Major outage" in words
    assert 'class="status st-major_outage"' in page
    # Today's history lists it; thirteen other days stay quiet.
    assert words.count("No incidents reported.") == 13
    # The update body is shown as text, never as markup.
    assert "<img src=x onerror=alert(1)>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_incident_page_shows_the_full_timeline_newest_first(client, server):
    incident = open_incident(client, server.admin, message=XSS_BODY)
    update = client.post(
        f"/api/v1/incidents/{incident['id']}/updates",
        json={
            "message": "Fix rolled out.",
            "status": "monitoring",
            "components": {"login": "degraded_performance"},
        },
        headers=server.admin,
    )
    assert update.status_code == 200, update.text
    assert client.post(f"/api/v1/incidents/{incident['id']}/resolve", headers=server.admin).status_code == 200

    page = html(client.get(f"/incidents/{incident['id']}"))
    words = text_of(page)
    assert "<h1>Elevated errors</h1>" in page
    assert '<a href="/services/chatgpt">ChatGPT</a>' in page
    assert "Impact Major" in words
    assert "Status Resolved" in words
    assert "Affected Login" in words
    resolved = words.index("Resolved – This incident has been resolved.")
    monitoring = words.index("Monitoring – Fix rolled out.")
    investigating = words.index("Investigating – We are investigating.")
    assert resolved < monitoring < investigating
    assert "Login: Major outage → Degraded performance" in words
    assert "Login: Degraded performance → Operational" in words
    assert "<img src=x onerror=alert(1)>" not in page

    overview = text_of(html(client.get("/")))
    assert "All Systems Operational" in overview
    assert "Elevated errors ChatGPT · Resolved after 0 minutes" in overview


def test_history_groups_incidents_by_the_day_they_started(client, server):
    now = datetime.now(UTC)
    open_incident(
        client, server.admin, name="Three days ago", started_at=(now - timedelta(days=3)).isoformat()
    )
    open_incident(client, server.admin, name="Long ago", started_at=(now - timedelta(days=20)).isoformat())
    page = html(client.get("/"))
    history = text_of(page.split('id="h-history"', 1)[1])
    day = (now - timedelta(days=3)).astimezone(ZoneInfo(server.runtime.catalog.page.time_zone)).date()
    heading = f"{day:%b} {day.day}, {day.year}"
    assert f"{heading} Three days ago ChatGPT · Investigating" in history
    assert "Long ago" not in history
    # Still open, so it is also among the open incidents at the top.
    assert "Long ago" in text_of(page)


def test_maintenance_shows_on_the_overview(client, server):
    now = datetime.now(UTC)
    upcoming = client.post(
        "/api/v1/maintenances",
        json={
            "service": "github",
            "name": "Database upgrade",
            "message": "Pull requests may be slow.",
            "scheduled_for": (now + timedelta(hours=2)).isoformat(),
            "scheduled_until": (now + timedelta(hours=4)).isoformat(),
            "components": ["pull-requests"],
        },
        headers=server.admin,
    )
    active = client.post(
        "/api/v1/maintenances",
        json={
            "service": "slack",
            "name": "Calls migration",
            "message": "Calls move to new servers.",
            "scheduled_for": (now - timedelta(hours=1)).isoformat(),
            "scheduled_until": (now + timedelta(hours=1)).isoformat(),
            "components": ["calls"],
        },
        headers=server.admin,
    )
    assert upcoming.status_code == active.status_code == 201
    page = html(client.get("/"))
    words = text_of(page)
    assert "Maintenance in progress Calls migration Slack · In progress" in words
    assert "Scheduled maintenance Database upgrade GitHub · Scheduled" in words
    assert "Pull requests may be slow." in words
    assert "Huddles and calls Under maintenance" in words
    assert "Service Under Maintenance" in words
    assert f'<a href="/incidents/{upcoming.json()["id"]}">Database upgrade</a>' in page
    window_start = short_time(now + timedelta(hours=2), server.runtime.catalog.page.time_zone)
    assert window_start in words

    detail = text_of(html(client.get(f"/incidents/{upcoming.json()['id']}")))
    assert f"Window {window_start} to" in detail
    assert "Status Scheduled" in detail


def test_service_page_has_status_chart_and_report_form(client):
    page = html(client.get("/services/chatgpt"))
    words = text_of(page)
    assert "<h1>ChatGPT</h1>" in page
    assert "Conversations Operational" in words
    svg = re.search(r"<svg\b.*?</svg>", page, re.S)
    assert svg is not None
    chart = svg.group(0)
    assert chart.count('<rect class="bar"') == 96
    assert 'role="img"' in chart and 'aria-labelledby="chart-title chart-desc"' in chart
    assert '<title id="chart-title">Reports about ChatGPT per 15 minutes, last 24 hours</title>' in chart
    assert re.search(r">\d\d:00</text>", chart)
    assert "No problem reports in the last 24 hours" in words

    form = re.search(r"<form\b.*?</form>", page, re.S).group(0)
    assert 'method="post" action="/services/chatgpt/report#report"' in form
    symptoms = re.findall(r'name="symptom" value="([^"]*)"', form)
    assert symptoms == ["error", "cannot-load", "slow", "login", "no-answer", "upload", ""]
    assert '<option value="">Prefer not to say</option>' in form
    assert '<option value="GB">United Kingdom</option>' in form
    assert '<option value="image-generation">Image generation</option>' in form
    assert 'maxlength="1000"' in form


def test_report_form_post_redirect_get(client):
    before = report_count(client)
    response = client.post(
        "/services/chatgpt/report",
        data={"symptom": "login", "component": "login", "region": "GB", "comment": "Cannot sign in"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/services/chatgpt?reported=1#report"
    assert report_count(client) == before + 1

    page = html(client.get(response.headers["location"]))
    words = text_of(page)
    assert "Thank you: your report has been received." in words
    assert "1 report in the last 24 hours" in words
    assert "Login problems 100%" in words
    assert "Login 100%" in words
    assert "United Kingdom 100%" in words
    assert "Thank you" not in text_of(html(client.get("/services/chatgpt")))


def test_report_form_with_nothing_chosen_still_counts(client):
    before = report_count(client, "slack")
    response = client.post(
        "/services/slack/report",
        data={"symptom": "", "component": "", "region": "", "comment": "  "},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert report_count(client, "slack") == before + 1


def test_bad_report_form_is_shown_again_with_the_message(client):
    before = report_count(client)
    response = client.post(
        "/services/chatgpt/report",
        data={"symptom": "slow", "region": "ZZ", "comment": XSS_COMMENT},
        follow_redirects=False,
    )
    page = html(response, 422)
    words = text_of(page)
    assert "Your report was not sent." in words
    assert "Region: not an ISO 3166-1 alpha-2 country code" in words
    assert '<span class="field-error" id="err-region">' in page
    # The reader's choices are kept, and their text is shown as text.
    assert '<input type="radio" name="symptom" value="slow" checked>' in page
    assert '<option value="ZZ" selected>ZZ</option>' in page
    assert XSS_COMMENT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</textarea>" in page
    assert report_count(client) == before

    unknown = html(client.post("/services/chatgpt/report", data={"colour": "red"}), 422)
    assert "colour: unknown field" in text_of(unknown)

    not_a_form = html(client.post("/services/chatgpt/report", json={"symptom": "slow"}), 415)
    assert "send the report as a web form" in text_of(not_a_form)
    assert report_count(client) == before


def test_report_form_says_when_the_rate_limit_is_reached(db_url):
    live = start_in_process(make_settings(db_url, report_rate_limit="1/minute"))
    try:
        with live.client() as client:
            first = client.post("/services/claude/report", data={"symptom": "slow"}, follow_redirects=False)
            assert first.status_code == 303
            second = client.post(
                "/services/claude/report", data={"symptom": "error", "region": "CA"}, follow_redirects=False
            )
            page = html(second, 429)
            assert int(second.headers["retry-after"]) >= 1
            assert "too many reports from this address" in text_of(page)
            assert '<option value="CA" selected>Canada</option>' in page
    finally:
        live.stop()


def test_unknown_pages_are_404_html(client):
    for response in (
        client.get("/services/no-such-service"),
        client.post("/services/no-such-service/report", data={"symptom": "slow"}),
        client.get("/incidents/nosuchincident"),
    ):
        page = html(response, 404)
        assert "<h1>Not found</h1>" in page
        assert '<a href="/">' in page


def test_pages_load_nothing_from_elsewhere(client, server):
    incident = open_incident(client, server.admin)
    asset = re.compile(r"<(?:link|script|img|iframe|source|object|embed)\b[^>]*>", re.I)
    for path in ("/", "/services/chatgpt", f"/incidents/{incident['id']}", "/services/nope"):
        response = client.get(path)
        page = response.text
        # Only the page's own scripts from /static (the service page's live.js); never inline script.
        for script in re.findall(r"<script\b[^>]*>", page, re.I):
            assert re.fullmatch(r'<script src="/static/[\w.-]+\.js" defer>', script), (path, script)
        assert not re.search(r"<script\b[^>]*>(?!</script>)", page, re.I), path
        for tag in asset.findall(page):
            assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", tag), (path, tag)
        assert "default-src 'none'" in response.headers["content-security-policy"]
    css = client.get("/static/style.css")
    assert css.status_code == 200
    assert "@import" not in css.text
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", css.text)


def test_short_time_is_in_the_page_time_zone():
    moment = datetime(2026, 11, 23, 2, 3, tzinfo=UTC)
    assert short_time(moment, "America/Los_Angeles") == "Nov 22, 18:03 PST"
    assert short_time(datetime(2026, 7, 4, 9, 30, tzinfo=UTC), "America/Los_Angeles") == "Jul 4, 02:30 PDT"
    assert short_time(moment, "Etc/UTC") == "Nov 23, 02:03 UTC"


def test_chart_scales_bars_to_the_peak_and_escapes_its_title():
    start = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    buckets = [Bucket(start + n * BUCKET, reports=n % 5, clients=n % 4) for n in range(96)]
    svg = str(report_chart(buckets, "America/Los_Angeles", title="<b>Reports</b>"))
    heights = [float(h) for h in re.findall(r'<rect class="bar" [^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 96
    assert max(heights) == pytest.approx(158) and min(heights) == 0
    assert heights[3] == pytest.approx(158) and heights[1] == pytest.approx(158 / 3, abs=0.01)
    assert "<b>" not in svg and "&lt;b&gt;Reports&lt;/b&gt;" in svg
    # 02:00 UTC is 18:00 PST: the hour labels every six hours are local.
    assert re.findall(r">(\d\d:00)</text>", svg) == ["18:00", "00:00", "06:00", "12:00"]
    assert "Sat 18:45–19:00 PST: 3 reports" in svg
    assert ">3</text>" in svg  # the peak on the value axis
    empty = str(report_chart([Bucket(start, 0, 0)], "Etc/UTC", title="quiet"))
    assert "No reports in this period." in empty


def test_chart_with_a_band_above_every_bar_names_the_busiest_quarter_hour():
    start = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    buckets = [Bucket(start + n * BUCKET, reports=n % 3, clients=n % 3) for n in range(8)]
    band = [Expectation(expected=6.0, low=2.0, high=11.0)] * 8  # a quiet day: fewer reports than usual
    svg = str(report_chart(buckets, "Etc/UTC", title="quiet day", band=band))
    assert "the most, 2, in the 15 minutes from 02:30 UTC" in svg
    assert ">12</text>" in svg  # the scale reaches over the band (high 11)


def test_a_browser_on_a_wrong_address_gets_a_page_and_an_api_client_json(client: httpx.Client) -> None:
    page = client.get("/no-such-page", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "See the status of every service" in page.text
    api = client.get("/api/v2/no-such.json", headers={"Accept": "text/html"})
    assert api.status_code == 404
    assert api.json() == {"error": "Not Found"}
