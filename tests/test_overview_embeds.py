"""The overview's sparklines and 90-day uptime bars, the history by month, badges, the widget, dark mode,
and times in the reader's language and time zone.

The uptime arithmetic is tested as the pure function it is; everything else against the app (in-process) on
SQLite and PostgreSQL, with incidents written through the lifecycle functions at chosen times.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from html import unescape
from typing import Any

import pytest

from downradar.incidents.lifecycle import open_incident, resolve_incident
from downradar.incidents.queries import ComponentView, IncidentView, UpdateView, load_services
from downradar.web.pages.uptime import NO_DATA, component_uptime, day_summary, uptime_bars
from downradar.web.render.badge import badge_svg
from downradar.web.timefmt import negotiate_language, short_time

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def text_of(page: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page)).split())


# --- pure: the uptime computation -------------------------------------------------------------------


def component(
    status: str = "operational", created_at: datetime = T0, updated_at: datetime = T0
) -> ComponentView:
    return ComponentView(
        id="c1",
        service_id="svc",
        slug="login",
        name="Login",
        description="",
        group_name=None,
        position=0,
        status=status,
        showcase=False,
        only_show_if_degraded=False,
        created_at=created_at,
        updated_at=updated_at,
    )


def incident(
    name: str,
    changes: list[tuple[datetime, str, str, str]],
    *,
    started_at: datetime | None = None,
    resolved_at: datetime | None = None,
    kind: str = "incident",
    status: str = "resolved",
    window: tuple[datetime, datetime] | None = None,
) -> IncidentView:
    """An incident whose updates are (at, update status, old, new) changes of component c1."""
    updates = [
        UpdateView(
            id=f"u{n}",
            incident_id=name,
            status=update_status,
            body="",
            created_at=at,
            updated_at=at,
            display_at=at,
            affected_components=[{"code": "c1", "name": "Login", "old_status": old, "new_status": new}],
        )
        for n, (at, update_status, old, new) in enumerate(changes)
    ]
    first = changes[0][0]
    return IncidentView(
        id=name.lower().replace(" ", "-"),
        service_id="svc",
        kind=kind,
        name=name,
        status=status,
        impact="maintenance" if kind == "maintenance" else "major",
        source="manual",
        created_at=first,
        updated_at=changes[-1][0],
        started_at=started_at or first,
        monitoring_at=None,
        resolved_at=resolved_at,
        scheduled_for=window[0] if window else None,
        scheduled_until=window[1] if window else None,
        auto_transition=False,
        managed_by="operator",
        confirmed_at=None,
        dismissed_at=None,
        signals=None,
        acknowledged_at=None,
        acknowledgement=None,
        updates=updates[::-1],  # newest first, as load_incidents gives them
        component_ids=["c1"],
    )


def bars_by_day(svg: str) -> dict[date, tuple[str, str]]:
    """Each day the bars draw, with its status class and tooltip; checks one bar is drawn per day."""
    found: dict[date, tuple[str, str]] = {}
    for status, days, shape, tip in re.findall(
        r'<path class="day st-(\w+)" data-days="([^"]+)" d="([^"]+)"><title>([^<]*)</title></path>', svg
    ):
        first, _, last = days.partition("/")
        start, end = date.fromisoformat(first), date.fromisoformat(last or first)
        assert shape.count("h3v30h-3z") == (end - start).days + 1
        while start <= end:
            found[start] = (status, unescape(tip))
            start += timedelta(days=1)
    return found


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def by_day(uptime: Any) -> dict[date, Any]:
    return {d.day: d for d in uptime.days}


def test_a_day_takes_the_worst_status_and_counts_only_outage_minutes() -> None:
    found = [
        incident(
            "Login errors",
            [
                (at(25, 10), "investigating", "operational", "major_outage"),
                (at(25, 10, 30), "monitoring", "major_outage", "degraded_performance"),
                (at(25, 11), "resolved", "degraded_performance", "operational"),
            ],
            resolved_at=at(25, 11),
        ),
        incident(
            "Slow logins",
            [
                (at(27, 9), "investigating", "operational", "degraded_performance"),
                (at(27, 9, 20), "resolved", "degraded_performance", "operational"),
            ],
            resolved_at=at(27, 9, 20),
        ),
    ]
    now = at(30, 12)
    uptime = component_uptime(component(), found, now, "Etc/UTC")
    assert len(uptime.days) == 90 and uptime.days[-1].day == date(2026, 11, 30)
    days = by_day(uptime)
    assert days[date(2026, 11, 25)].status == "major_outage"
    assert days[date(2026, 11, 25)].outage_minutes == 30  # the degraded half hour is not an outage
    assert [i.name for i in days[date(2026, 11, 25)].incidents] == ["Login errors"]
    assert days[date(2026, 11, 27)].status == "degraded_performance"
    assert days[date(2026, 11, 27)].outage_minutes == 0
    assert days[date(2026, 11, 26)].status == "operational" and not days[date(2026, 11, 26)].incidents
    # Before the component existed there is no data, and those days do not count toward the percentage.
    assert days[date(2026, 11, 19)].status == NO_DATA
    observed_minutes = (now - T0).total_seconds() / 60
    assert uptime.percent == pytest.approx(100 * (1 - 30 / observed_minutes))
    assert uptime.percent_label == "99.80 % uptime"  # 30 min of 10.5 days, rounded down


def test_days_are_cut_at_midnight_in_the_readers_zone() -> None:
    overnight = incident(
        "Overnight outage",
        [
            (at(25, 22), "investigating", "operational", "partial_outage"),
            (at(26, 1), "resolved", "partial_outage", "operational"),
        ],
        resolved_at=at(26, 1),
    )
    utc = by_day(component_uptime(component(), [overnight], at(30, 12), "Etc/UTC"))
    assert utc[date(2026, 11, 25)].outage_minutes == 120
    assert utc[date(2026, 11, 26)].outage_minutes == 60
    # 22:00–01:00 UTC is 23:00–02:00 in Berlin: one hour on the 25th, two on the 26th.
    berlin = by_day(component_uptime(component(), [overnight], at(30, 12), "Europe/Berlin"))
    assert berlin[date(2026, 11, 25)].outage_minutes == 60
    assert berlin[date(2026, 11, 26)].outage_minutes == 120
    assert berlin[date(2026, 11, 26)].status == "partial_outage"


def test_a_backdated_incident_counts_from_its_start_and_an_open_one_until_now() -> None:
    written_later = incident(
        "Written up later",
        [(at(28, 15), "investigating", "operational", "major_outage")],
        started_at=at(28, 12),
        status="investigating",
    )
    now_down = component("major_outage", updated_at=at(28, 15))
    uptime = component_uptime(now_down, [written_later], at(28, 18), "Etc/UTC")
    today = uptime.days[-1]
    assert today.status == "major_outage"
    assert today.outage_minutes == 6 * 60  # from 12:00, not from 15:00 when it was typed in, until now
    assert [i.name for i in today.incidents] == ["Written up later"]


def test_a_status_set_directly_counts_from_the_components_update() -> None:
    direct = component("partial_outage", updated_at=at(29, 23))
    days = by_day(component_uptime(direct, [], at(30, 1), "Etc/UTC"))
    assert days[date(2026, 11, 29)].outage_minutes == 60
    assert days[date(2026, 11, 30)].outage_minutes == 60
    assert days[date(2026, 11, 28)].status == "operational"


def test_maintenance_colours_the_day_but_is_not_downtime() -> None:
    window = (at(26, 2), at(26, 4))
    maintenance = incident(
        "Database upgrade",
        [
            (at(26, 2), "in_progress", "operational", "under_maintenance"),
            (at(26, 4), "completed", "under_maintenance", "operational"),
        ],
        kind="maintenance",
        status="completed",
        resolved_at=at(26, 4),
        window=window,
    )
    uptime = component_uptime(component(), [maintenance], at(30, 12), "Etc/UTC")
    day = by_day(uptime)[date(2026, 11, 26)]
    assert day.status == "under_maintenance" and day.outage_minutes == 0
    assert [i.name for i in day.incidents] == ["Database upgrade"]
    assert uptime.percent == 100
    assert day_summary(day) == "Nov 26, 2026: Maintenance. Incidents: Database upgrade"


def test_the_bars_carry_a_tooltip_per_day_and_escape_names() -> None:
    found = [
        incident(
            "<img src=x onerror=alert(1)>",
            [
                (at(25, 10), "investigating", "operational", "major_outage"),
                (at(25, 10, 45), "resolved", "major_outage", "operational"),
            ],
            resolved_at=at(25, 10, 45),
        )
    ]
    uptime = component_uptime(component(), found, at(30, 12), "Etc/UTC")
    svg = str(uptime_bars(uptime, "Login <b>", bars_id="up-c1"))
    assert "<img" not in svg and "<b>" not in svg
    assert 'aria-labelledby="up-c1-title up-c1-desc"' in svg
    days = bars_by_day(svg)
    assert len(days) == 90
    assert days[date(2026, 11, 25)] == (
        "major_outage",
        "Nov 25, 2026: Major outage, 45 min of outage. Incidents: <img src=x onerror=alert(1)>",
    )
    assert "Days with trouble: Nov 25, 2026: Major outage" in unescape(svg)
    # Quiet days in a row share one shape and one tooltip.
    assert days[date(2026, 11, 26)] == (
        "operational",
        "Nov 26, 2026 – Nov 30, 2026: No downtime, no incidents.",
    )
    assert days[date(2026, 11, 19)] == ("no_data", "Sep 2, 2026 – Nov 19, 2026: No data.")
    assert svg.count("<path ") == 4  # no data, Nov 20–24, Nov 25, Nov 26–30


# --- pure: language, badges ------------------------------------------------------------------------


def test_language_comes_from_the_query_then_accept_language_then_english() -> None:
    assert negotiate_language(None, None) == "en"
    assert negotiate_language("en-gb", "en-US") == "en-GB"
    assert negotiate_language("fr", "de, en-GB;q=0.5, en;q=0.4") == "en-GB"
    assert negotiate_language(None, "fr-CH, fr;q=0.9") == "en"
    assert negotiate_language(None, "en-AU") == "en"
    assert negotiate_language(None, "en-GB;q=0, en-US;q=0.8") == "en-US"
    moment = datetime(2026, 11, 23, 2, 3, tzinfo=UTC)
    assert short_time(moment, "Europe/London", "en-GB") == "23 Nov, 02:03 GMT"
    assert short_time(moment, "Europe/London") == "Nov 23, 02:03 GMT"


def test_badge_escapes_its_text_and_colours_by_status() -> None:
    svg = badge_svg('A<b>&"', "Major outage", "major_outage")
    assert "<b>" not in svg and "A&lt;b&gt;&amp;&#34;" in svg
    assert 'class="status"' in svg and 'fill="#b8321f"' in svg
    assert 'fill="#5f6368"' in badge_svg("x", "unknown", None)


# --- against the app (in-process) --------------------------------------------------------------------


def component_id(server: Any, service: str, slug: str) -> str:
    with server.runtime.engine.connect() as conn:
        return next(c.id for c in load_services(conn, service)[0].components if c.slug == slug)


def past_outage(server: Any, name: str, start: datetime, minutes: int, service: str = "chatgpt") -> str:
    """An incident on `service`'s login that was a major outage for `minutes` from `start`."""
    with server.runtime.engine.begin() as conn:
        incident_id = open_incident(
            conn,
            service_id=service,
            name=name,
            message="Logins fail.",
            impact="major",
            components_status={"login": "major_outage"},
            actor="test",
            now=start,
        )
        resolve_incident(conn, incident_id, actor="test", now=start + timedelta(minutes=minutes))
    return incident_id


def page_day(server: Any, days_ago: int) -> tuple[datetime, date]:
    """Noon in the page's time zone `days_ago` days back, and that date."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(server.runtime.catalog.page.time_zone)
    day = datetime.now(tz).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(12), tzinfo=tz).astimezone(UTC), day


def test_overview_has_a_sparkline_per_service_and_uptime_bars_per_component(client, server) -> None:
    assert client.post("/api/v1/reports", json={"service": "claude", "symptom": "slow"}).status_code == 202
    start, day = page_day(server, 3)
    past_outage(server, "Login outage", start, 45)
    page = client.get("/").text

    sparklines = re.findall(r'<svg class="sparkline".*?</svg>', page, re.S)
    assert len(sparklines) == 4
    assert all('stroke="currentColor"' in s for s in sparklines)
    assert any('aria-label="Reports about Claude: 1 report in the last 24 hours' in s for s in sparklines)
    assert any('aria-label="Reports about Slack: 0 reports in the last 24 hours"' in s for s in sparklines)

    login = component_id(server, "chatgpt", "login")
    bars = re.search(rf'<svg class="uptime-bars"[^>]*aria-labelledby="up-{login}-title.*?</svg>', page, re.S)
    assert bars is not None
    svg = bars.group(0)
    days = bars_by_day(svg)
    assert len(days) == 90
    assert days[day] == (
        "major_outage",
        f"{day:%b} {day.day}, {day.year}: Major outage, 45 min of outage. Incidents: Login outage",
    )
    assert days[day + timedelta(days=1)][0] == "operational"
    assert days[day - timedelta(days=1)][0] == "no_data"  # before anything was recorded
    words = text_of(page)
    assert re.search(r"Login Operational .*?90 days ago 9\d\.\d\d % uptime Today", words)


def test_history_lists_incidents_by_month_and_pages_to_earlier_months(client, server) -> None:
    this_month = datetime.now(UTC).replace(day=15, hour=12, minute=0, second=0, microsecond=0)

    def months_back(n: int) -> datetime:
        index = this_month.year * 12 + this_month.month - 1 - n
        return this_month.replace(year=index // 12, month=index % 12 + 1)

    past_outage(server, "Two months ago", months_back(2), 30)
    past_outage(server, "<script>alert(1)</script>", months_back(4), 90)
    response = client.get("/history")
    assert response.status_code == 200
    page = response.text
    words = text_of(page)
    headings = re.findall(r'<h2 id="h-month-(\d{4}-\d\d)">([^<]+)</h2>', page)
    assert [key for key, _ in headings] == [f"{months_back(n):%Y-%m}" for n in range(3)]
    assert headings[2][1] == f"{months_back(2):%B %Y}"
    assert "Two months ago ChatGPT · Resolved after 30 minutes" in words
    assert "alert(1)" not in words
    assert words.count("No incidents reported this month.") == 2
    earlier = re.search(r'<a rel="prev" href="/history\?month=(\d{4}-\d\d)">', page)
    assert earlier is not None and earlier.group(1) == f"{months_back(3):%Y-%m}"
    assert 'rel="next"' not in page  # nothing later than this month

    older = client.get(f"/history?month={earlier.group(1)}").text
    assert "<script>alert(1)</script>" not in older
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in older
    assert "Resolved after 1 h 30 min" in text_of(older)
    assert 'rel="prev"' not in older  # nothing before the oldest incident
    assert f'<a rel="next" href="/history?month={this_month:%Y-%m}">' in older
    # The footer's time zone chooser keeps the month the reader is looking at.
    assert f'<input type="hidden" name="month" value="{earlier.group(1)}">' in older

    bad = client.get("/history?month=2026-13", headers={"Accept": "text/html"})
    assert bad.status_code == 400
    assert "is not a month" in text_of(bad.text)
    assert '<a href="/history">' in client.get("/").text


def test_badges_say_the_status_in_words_and_colour(client, server) -> None:
    quiet = client.get("/badge/chatgpt.svg")
    assert quiet.status_code == 200
    assert quiet.headers["content-type"].startswith("image/svg+xml")
    assert re.fullmatch(r"public, max-age=\d{1,3}", quiet.headers["cache-control"])
    assert "script-src" not in quiet.headers["content-security-policy"]
    assert ">ChatGPT</text>" in quiet.text and ">Operational</text>" in quiet.text
    assert 'fill="#17803e"' in quiet.text

    incident = client.post(
        "/api/v1/incidents",
        json={
            "service": "chatgpt",
            "name": "Login down",
            "status": "investigating",
            "impact": "major",
            "message": "Investigating.",
            "components": {"login": "major_outage"},
        },
        headers=server.admin,
    )
    assert incident.status_code == 201
    down = client.get("/badge/chatgpt/login.svg")
    assert down.status_code == 200
    assert ">ChatGPT Login</text>" in down.text and ">Major outage</text>" in down.text
    assert 'fill="#b8321f"' in down.text
    assert ">Major outage</text>" in client.get("/badge/chatgpt.svg").text
    assert ">Operational</text>" in client.get("/badge/chatgpt/conversations.svg").text

    for path in ("/badge/%3Cscript%3E.svg", "/badge/chatgpt/%3Cscript%3E.svg"):
        unknown = client.get(path)
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("image/svg+xml")
        assert "<script>" not in unknown.text and "&lt;script&gt;" in unknown.text
        assert ">unknown</text>" in unknown.text


def test_widget_can_be_framed_anywhere_and_shows_the_open_incident(client, server) -> None:
    quiet = client.get("/embed/slack")
    assert quiet.status_code == 200
    assert "frame-ancestors *" in quiet.headers["content-security-policy"]
    assert "x-frame-options" not in quiet.headers
    words = text_of(quiet.text)
    assert "Slack Operational" in words and "No open incidents." in words
    assert not re.search(r"""(?:src|href)="(?:https?:)?//(?!127\.0\.0\.1)""", quiet.text)
    assert "<script" not in quiet.text

    response = client.post(
        "/api/v1/incidents",
        json={
            "service": "slack",
            "name": "Messages <img src=x onerror=alert(1)> delayed",
            "status": "investigating",
            "impact": "minor",
            "message": "Looking.",
            "components": {"messaging": "partial_outage"},
        },
        headers=server.admin,
    )
    assert response.status_code == 201, response.text
    busy = client.get("/embed/slack").text
    assert "<img src=x" not in busy
    assert "Slack Partial outage" in text_of(busy)
    assert f'/incidents/{response.json()["id"]}" target="_blank" rel="noopener noreferrer"' in busy
    assert "Messages <img src=x onerror=alert(1)> delayed" in text_of(busy)

    unknown = client.get("/embed/nope")
    assert unknown.status_code == 404 and "no service called “nope”" in text_of(unknown.text)
    # Only the widget may be framed: the ordinary pages refuse.
    assert "frame-ancestors 'none'" in client.get("/").headers["content-security-policy"]


def test_stylesheet_has_a_dark_mode_that_the_svgs_follow(client) -> None:
    css = client.get("/static/style.css").text
    dark = css.split("@media (prefers-color-scheme: dark)", 1)
    assert len(dark) == 2
    for variable in ("--ink", "--paper", "--link", "--nodata", "--major-text"):
        assert variable + ":" in dark[1]
    for status, colour in (
        ("major_outage", "--major"),
        ("partial_outage", "--partial"),
        ("operational", "--operational"),
    ):
        assert re.search(rf"\.uptime-bars \.st-{status} \{{\s*fill: var\({colour}\);", css)
    assert ".chart .axis" in dark[1]


def test_lang_follows_the_request_and_only_claims_english(client, server) -> None:
    incident_id = past_outage(server, "Earlier outage", datetime(2026, 3, 9, 20, 5, tzinfo=UTC), 10)
    plain = client.get(f"/incidents/{incident_id}")
    assert '<html lang="en">' in plain.text
    assert "Accept-Language" in plain.headers["vary"]
    assert "Mar 9, 13:05 PDT" in text_of(plain.text)
    british = client.get(f"/incidents/{incident_id}", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en-GB">' in british.text and "9 Mar, 13:05 PDT" in text_of(british.text)
    assert '<html lang="en-US">' in client.get("/?lang=en-us").text
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "de-DE, de"}).text


def test_tz_shifts_the_times_and_a_bad_one_falls_back_with_a_notice(client, server) -> None:
    start = datetime(2026, 11, 23, 2, 3, tzinfo=UTC)
    incident_id = past_outage(server, "Night outage", start, 20)
    berlin = client.get(f"/incidents/{incident_id}?tz=Europe/Berlin")
    assert berlin.status_code == 200
    words = text_of(berlin.text)
    assert "Started Nov 23, 03:03 CET" in words
    assert '<time datetime="2026-11-23T03:03:00.000+01:00">' in berlin.text
    assert "Times are shown in Europe/Berlin (CET)." in words

    page_zone = server.runtime.catalog.page.time_zone
    for bad in ("Mars/Olympus", "../../etc/passwd", "x" * 300):
        response = client.get(f"/incidents/{incident_id}", params={"tz": bad})
        assert response.status_code == 200
        page = response.text
        assert '<p class="notice warn" role="status">' in page
        assert f"is not a time zone we know; times are shown in {page_zone}." in text_of(page)
        assert "Started Nov 22, 18:03 PST" in text_of(page)
    # History days and month headings follow the zone too: 02:03 UTC on the 23rd is the 22nd in the page's.
    assert "Night outage" in client.get("/history?month=2026-11&tz=Europe/Berlin").text
