"""The service page as an outage tracker shows it: state in words, regions table and map, comments, the
live JSON the page's script polls, and the form without JavaScript.

Every case runs against the app (in-process) on SQLite and PostgreSQL (fixtures in conftest.py). Reporters are
told apart by their address, so each "person" here is a client bound to its own loopback address.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import TypeVar

import httpx

from downradar.detect import Expectation
from downradar.incidents.queries import ComponentView, ServiceView
from downradar.intake.comments import list_comments, set_hidden
from downradar.store.report_series import BUCKET, Bucket, ReportSummary, Share
from downradar.web.pages.service import current_state
from downradar.web.render.region_map import EMPTY, SHADES, TILES, RegionShare, region_map, shade, unmapped
from support.servers import LiveServer

T = TypeVar("T")
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def text_of(page: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page)).split())


def ok_html(response: httpx.Response, status: int = 200) -> str:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


@contextmanager
def person(server: LiveServer, n: int) -> Iterator[httpx.Client]:
    """A reporter of their own: the server counts people by address, 127.0.0.n is one more."""
    with server.client(address=f"127.0.0.{n}") as http:
        yield http


def report(server: LiveServer, n: int, service: str = "chatgpt", **fields: str) -> None:
    with person(server, n) as http:
        response = http.post(f"/services/{service}/report", data=fields, follow_redirects=False)
        assert response.status_code == 303, response.text[:500]


def live(client: httpx.Client, service: str = "chatgpt") -> dict:
    response = client.get(f"/services/{service}/live.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def once(fetch: Callable[[], T], done: Callable[[T], bool], seconds: float = 10) -> T:
    """What `fetch` returns once `done` holds (or at the deadline). The page cache
    (web/serving/page_cache.py) may serve, for about a second, a page rendered before the last reports: ask
    again rather than sleep."""
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def page_with(client: httpx.Client, path: str, marker: str) -> str:
    """The page at `path` once it shows `marker` (in its words)."""
    return once(lambda: ok_html(client.get(path)), lambda page: marker in text_of(page))


def test_state_in_words_without_and_with_an_incident(client: httpx.Client, server: LiveServer) -> None:
    words = text_of(ok_html(client.get("/services/chatgpt")))
    assert "No current problems User reports indicate no current problems at ChatGPT." in words

    incident = client.post(
        "/api/v1/incidents",
        json={
            "service": "chatgpt",
            "name": "Elevated errors",
            "status": "investigating",
            "impact": "major",
            "message": "We are investigating.",
            "components": {"login": "major_outage"},
        },
        headers=server.admin,
    )
    assert incident.status_code == 201, incident.text
    words = text_of(page_with(client, "/services/chatgpt", "Problems detected"))
    assert "Problems detected Elevated errors (investigating)." in words

    for n in (2, 3, 4):
        report(server, n, symptom="login", component="login", region="US")
    report(server, 5, symptom="error", component="conversations", region="GB")
    words = text_of(page_with(client, "/services/chatgpt", "4 reports in the last 24 hours"))
    assert (
        "Problems detected Users report problems with Login and Conversations, mostly in the United States."
        in words
    )
    assert live(client)["state"] == {
        "level": "problems",
        "headline": "Problems detected",
        "detail": "Users report problems with Login and Conversations, mostly in the United States.",
    }
    # Another service is not touched by ChatGPT's incident.
    assert "No current problems" in text_of(ok_html(client.get("/services/slack")))


def test_regions_table_and_a_shaded_map(client: httpx.Client, server: LiveServer) -> None:
    assert "No reports that name a region" in text_of(ok_html(client.get("/services/github")))
    for n in (2, 3, 4):
        report(server, n, "github", symptom="slow", region="US")
    report(server, 5, "github", symptom="slow", region="GB")
    page = page_with(client, "/services/github", "4 reports in the last 24 hours")
    table = re.search(r'<table class="region-table">.*?</table>', page, re.S)
    assert table is not None
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th><td>(\d+)%</td><td>(\d+)</td></tr>", table.group(0))
    assert rows == [("United States", "75", "3"), ("United Kingdom", "25", "1")]

    svg = re.search(r'<svg class="region-map".*?</svg>', page, re.S)
    assert svg is not None
    tiles = svg.group(0)
    assert 'role="img"' in tiles and '<title id="region-map-title">' in tiles
    assert tiles.count("<rect ") == len(TILES)
    us = re.search(r"<title>United States: 75% \(3 reports\)</title><rect [^>]*fill=\"([^\"]+)\"", tiles)
    gb = re.search(r"<title>United Kingdom: 25% \(1 report\)</title><rect [^>]*fill=\"([^\"]+)\"", tiles)
    de = re.search(r"<title>Germany: no reports</title><rect [^>]*fill=\"([^\"]+)\"", tiles)
    assert us and gb and de
    assert (us.group(1), gb.group(1), de.group(1)) == (SHADES[-1], SHADES[1], EMPTY)
    # The chart stays the page's first picture; the map comes after it.
    assert page.index('<svg class="chart"') < page.index('<svg class="region-map"')


def test_comments_are_escaped_and_hidden_ones_never_shown(client: httpx.Client, server: LiveServer) -> None:
    report(server, 2, symptom="slow", region="DE", comment=f"Broken {SCRIPT} {IMG}")
    report(server, 3, symptom="error", comment="Spam to hide")
    report(server, 4, symptom="login", comment="First words")
    report(server, 4, symptom="login", comment="Second words")  # the same person again: newest only

    with server.runtime.engine.begin() as conn:
        spam = [c for c in list_comments(conn, service_id="chatgpt") if c.text == "Spam to hide"]
        set_hidden(conn, spam[0].id, True, actor="test", now=datetime.now(UTC))

    page = once(lambda: ok_html(client.get("/services/chatgpt")), lambda page: "Spam to hide" not in page)
    comments = page.split('id="h-comments"', 1)[1].split('id="h-report"', 1)[0]
    words = text_of(comments)
    assert "One comment per person is shown" in words
    assert SCRIPT not in page and IMG not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in comments
    assert "&lt;img src=x onerror=alert(1)&gt;" in comments
    assert f"Broken {SCRIPT} {IMG}" in words
    assert "· Slow · Germany" in words
    assert "Second words" in words and "First words" not in words
    assert "Spam to hide" not in page

    payload = live(client)["html"]["live_comments"]
    assert SCRIPT not in payload and IMG not in payload and "Spam to hide" not in payload
    assert "&lt;script&gt;" in payload


def test_live_json_is_what_the_page_shows_and_counts_a_new_report(
    client: httpx.Client, server: LiveServer
) -> None:
    before = live(client)
    assert before["service"] == "chatgpt"
    assert len(before["buckets"]) == 96
    assert before["state"]["headline"] == "No current problems"
    assert set(before["html"]) == {"live_state", "live_reports", "live_regions", "live_comments"}
    page = ok_html(client.get("/services/chatgpt"))
    for name, block in before["html"].items():
        assert block in page, name  # the same template block, the same bytes
    assert 'data-live-url="/services/chatgpt/live.json"' in page

    report(server, 2, symptom="slow", region="FR")
    after = once(lambda: live(client), lambda now: now["total_reports"] > before["total_reports"])
    assert after["total_reports"] == before["total_reports"] + 1
    assert sum(b["reports"] for b in after["buckets"]) == after["total_reports"]
    assert after["regions"] == [{"code": "FR", "name": "France", "percent": 100, "reports": 1}]
    assert after["top_problems"] == [{"label": "Slow", "percent": 100, "clients": 1}]
    state_words = text_of(after["html"]["live_state"])
    assert f"{after['total_reports']} report" in state_words
    assert text_of(after["html"]["live_state"]) in text_of(
        page_with(client, "/services/chatgpt", state_words)
    )
    assert client.get("/services/nope/live.json").status_code == 404


def test_the_page_works_without_javascript(client: httpx.Client, server: LiveServer) -> None:
    page = ok_html(client.get("/services/chatgpt"))
    form = re.search(r"<form\b.*?</form>", page, re.S)
    assert form is not None and 'method="post" action="/services/chatgpt/report#report"' in form.group(0)
    assert '<div class="choices symptom-buttons">' in form.group(0)

    with person(server, 2) as http:
        sent = http.post(
            "/services/chatgpt/report", data={"symptom": "slow", "region": "JP"}, follow_redirects=True
        )
        # httpx followed the 303 as a browser does: the landing page already counts this report.
        assert sent.history and sent.history[0].status_code == 303
        landed = text_of(ok_html(sent))
    assert "Thank you: your report has been received." in landed
    assert "1 report in the last 24 hours" in landed
    assert "Japan 100% 1" in landed

    bad = ok_html(client.post("/services/chatgpt/report", data={"region": "ZZ"}), 422)
    assert "Region: not an ISO 3166-1 alpha-2 country code" in text_of(bad)

    # The script is the page's own and only improves it; the policy allows nothing else.
    response = client.get("/services/chatgpt")
    assert '<script src="/static/live.js" defer></script>' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
    for asset in ("/static/live.js", "/static/service.css"):
        assert client.get(asset).status_code == 200, asset


def test_unknown_service_is_404(client: httpx.Client) -> None:
    page = ok_html(client.get("/services/no-such-service"), 404)
    assert "<h1>Not found</h1>" in page
    assert ok_html(client.post("/services/no-such-service/report", data={"symptom": "slow"}), 404)
    assert client.get("/services/no-such-service/live.json").json() == {
        "error": "unknown service 'no-such-service'"
    }


def test_region_map_folds_subdivisions_into_countries_and_escapes() -> None:
    regions = [
        RegionShare("US-CA", "California", 0.5, 5),
        RegionShare("US", "United States", 0.25, 2),
        RegionShare("XK", "Kosovo", 0.25, 2),
    ]
    svg = str(region_map(regions, title="<b>where</b>"))
    assert "&lt;b&gt;where&lt;/b&gt;" in svg and "<b>" not in svg
    assert "<title>United States: 75% (7 reports)</title>" in svg
    assert unmapped(regions) == ["Kosovo"]
    assert shade(0, 1) == EMPTY and shade(1, 1) == SHADES[-1] and shade(0.01, 1) == SHADES[0]


def test_reports_above_the_usual_band_are_possible_problems() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    component = ComponentView(
        "c1", "svc", "login", "Login", "", None, 0, "operational", False, False, now, now
    )
    service = ServiceView("svc", "Example", "", None, 0, now, now, [component])
    buckets = [Bucket(now - (4 - n) * BUCKET, 0, clients) for n, clients in enumerate((1, 2, 1, 9))]
    band = [Expectation(expected=1.0, low=0.0, high=3.0)] * 4
    recent = ReportSummary(
        "svc", now - timedelta(hours=1), now, buckets, 13, 13, [], [Share("login", 9, 0.7)], []
    )
    state = current_state(service, [], [], recent, buckets, band)
    assert state.level == "elevated" and state.headline == "Possible problems"
    assert state.detail == (
        "Reports are above the usual level: 9 in 15 minutes, usually about 1. "
        "Users report problems with Login."
    )
    quiet = [Bucket(b.start, 0, 1) for b in buckets]
    assert current_state(service, [], [], recent, quiet, band).headline == "No current problems"
    assert current_state(service, [], [], recent, buckets, None).headline == "No current problems"


def test_the_chart_follows_the_readers_time_zone(client: httpx.Client) -> None:
    assert "PST" in client.get("/services/chatgpt").text or "PDT" in client.get("/services/chatgpt").text
    tokyo = client.get("/services/chatgpt", params={"tz": "Asia/Tokyo"}).text
    assert "JST" in tokyo
