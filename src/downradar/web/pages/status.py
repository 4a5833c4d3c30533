"""HTML pages (server-rendered, no JavaScript needed): the overview, one page per incident or maintenance,
and the history by month; the Jinja environment and `render` every page goes through. The service page
and its report form live in service.py.

Every page is in the reader's language and time zone where they asked for one (`?lang=`, Accept-Language,
`?tz=`), else in the page's own; `<time datetime>` always keeps the ISO instant.

Reads go through the same queries as the Statuspage API (load_services, load_incidents, page_status), so
the page and the JSON never disagree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection, func, select

from downradar.incidents.claims import ManualChange, manual_changes
from downradar.incidents.honesty import honesty_by_service
from downradar.incidents.lifecycle import ACTIVE_MAINTENANCE
from downradar.incidents.queries import (
    ComponentView,
    IncidentView,
    ServiceView,
    load_incidents,
    load_services,
    page_status,
)
from downradar.store.report_series import report_summary
from downradar.store.schema import incidents as incidents_table
from downradar.web import timefmt
from downradar.web.pages.uptime import DAYS as UPTIME_DAYS
from downradar.web.pages.uptime import component_uptime, status_changes, uptime_bars
from downradar.web.render.sparkline import sparkline
from downradar.web.runtime import runtime
from downradar.web.timefmt import iso, known_zone, month_label, negotiate_language, zone

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parents[1] / "templates"
HISTORY_DAYS = 14
HISTORY_MONTHS = 3  # per page of /history, as Statuspage pages its history
SPARKLINE_HOURS = 24
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# The pages load nothing from elsewhere and run no script; the policy makes that a promise to the browser.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

STATUS_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
}
IMPACT_LABELS = {
    "none": "No impact",
    "minor": "Minor",
    "major": "Major",
    "critical": "Critical",
    "maintenance": "Maintenance",
}
# Only the default symptoms whose slug reads badly as words; the rest are shown as their slug in words.
SYMPTOM_LABELS = {"error": "Errors", "login": "Login problems", "upload": "Upload problems"}


def _words(slug: str) -> str:
    text = slug.replace("-", " ").replace("_", " ")
    return text[:1].upper() + text[1:]


def status_label(value: str) -> str:
    return STATUS_LABELS.get(value, _words(value))


def impact_label(value: str) -> str:
    return IMPACT_LABELS.get(value, _words(value))


def symptom_label(value: str) -> str:
    return SYMPTOM_LABELS.get(value, _words(value))


def short_time(moment: datetime | None, time_zone: str, lang: str = timefmt.DEFAULT_LANGUAGE) -> str:
    """'Nov 22, 18:03 PST': what a reader of a status page needs, in the page's own zone."""
    return timefmt.short_time(moment, time_zone, lang)


def day_label(day: date, lang: str = timefmt.DEFAULT_LANGUAGE) -> str:
    return timefmt.day_label(day, lang)


def duration_label(start: datetime, end: datetime) -> str:
    minutes = max(0, round((end - start).total_seconds() / 60))
    if minutes < 60:
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} days {hours % 24} h"


def component_groups(
    components: list[ComponentView], hide_quiet: bool = True
) -> list[tuple[str | None, list[ComponentView]]]:
    """Components under their optional sub-heading, in catalog order; with hide_quiet, those the catalog
    shows only when degraded are left out while they are operational (the report form lists them all)."""
    groups: dict[str | None, list[ComponentView]] = {}
    for component in components:
        if hide_quiet and component.only_show_if_degraded and component.status == "operational":
            continue
        groups.setdefault(component.group_name, []).append(component)
    return list(groups.items())


@jinja2.pass_context
def _when(context: jinja2.runtime.Context, moment: datetime | None) -> str:
    return short_time(moment, context["time_zone"], context.get("lang", timefmt.DEFAULT_LANGUAGE))


@jinja2.pass_context
def _day_label(context: jinja2.runtime.Context, day: date) -> str:
    return day_label(day, context.get("lang", timefmt.DEFAULT_LANGUAGE))


@jinja2.pass_context
def _iso(context: jinja2.runtime.Context, moment: datetime | None) -> str:
    return iso(moment, context["time_zone"]) or ""


def _environment() -> jinja2.Environment:
    # Autoescape everything, whatever the file name: user text (comments, incident bodies) lands here.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when,
        iso=_iso,
        status_label=status_label,
        impact_label=impact_label,
        symptom_label=symptom_label,
        day_label=_day_label,
        month_label=month_label,
    )
    env.globals.update(component_groups=component_groups, duration_label=duration_label)
    return env


templates = Jinja2Templates(env=_environment())


def display_zone(request: Request) -> tuple[str, str | None]:
    """(time zone, notice): the reader's `?tz=` when it is an IANA name, else the page's own zone and, for
    a name we do not know, a notice saying so (the page still shows, in the page's zone)."""
    page_zone = runtime(request).catalog.page.time_zone
    asked = request.query_params.get("tz", "").strip()
    if not asked:
        return page_zone, None
    if known_zone(asked):
        return asked, None
    return page_zone, f"“{asked[:64]}” is not a time zone we know; times are shown in {page_zone}."


def display_language(request: Request) -> str:
    return negotiate_language(request.query_params.get("lang"), request.headers.get("accept-language"))


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    rt = runtime(request)
    page = rt.catalog.page
    now = rt.clock.now()
    time_zone, zone_notice = display_zone(request)
    base = {
        "page": page,
        "time_zone": time_zone,
        "zone_notice": zone_notice,
        "zone_name": now.astimezone(zone(time_zone)).tzname(),
        "lang": display_language(request),
        "now": now,
        "refresh_seconds": rt.settings.page_refresh_seconds,
    }
    return templates.TemplateResponse(
        request,
        name,
        {**base, **context},
        status_code=status_code,
        # The language can come from Accept-Language: a shared cache must keep one copy per language.
        headers={**PAGE_HEADERS, "Vary": "Accept-Language", **(headers or {})},
    )


def not_found(request: Request, message: str) -> HTMLResponse:
    return render(request, "not_found.html", {"message": message}, status_code=404)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """An HTTP error as a page, for browsers that land on a wrong address or send a bad request."""
    title = HTTPStatus(status_code).phrase if status_code in HTTPStatus._value2member_map_ else "Error"
    return render(request, "not_found.html", {"title": title, "message": message}, status_code=status_code)


def _split_maintenance(found: list[IncidentView]) -> tuple[list[IncidentView], list[IncidentView]]:
    """(active, upcoming), each in window order."""
    ordered = sorted(found, key=lambda m: (m.scheduled_for or m.started_at, m.id))
    active = [m for m in ordered if m.status in ACTIVE_MAINTENANCE]
    upcoming = [m for m in ordered if m.status == "scheduled"]
    return active, upcoming


def _history(found: list[IncidentView], today: date, time_zone: str) -> list[tuple[date, list[IncidentView]]]:
    """The last HISTORY_DAYS days, newest first, each with the incidents that started on it."""
    tz = zone(time_zone)
    by_day: dict[date, list[IncidentView]] = {}
    for incident in found:
        by_day.setdefault(incident.started_at.astimezone(tz).date(), []).append(incident)
    days = [today - timedelta(days=n) for n in range(HISTORY_DAYS)]
    return [(day, sorted(by_day.get(day, []), key=lambda i: i.started_at, reverse=True)) for day in days]


def uptime_incidents(conn: Connection, now: datetime) -> list[IncidentView]:
    """Incidents and maintenance that can colour a day of the last UPTIME_DAYS: recent ones, and any still
    open however old (a long incident started before the window colours its first days)."""
    # A month of margin: created_at is what load_incidents filters on, and maintenance is created early.
    since = now - timedelta(days=UPTIME_DAYS + 31)
    found = {i.id: i for i in load_incidents(conn, kind="any", since=since)}
    found.update((i.id, i) for i in load_incidents(conn, kind="any", unresolved=True))
    return list(found.values())


def uptime_views(
    services: list[ServiceView],
    found: list[IncidentView],
    manual: list[ManualChange],
    now: datetime,
    time_zone: str,
    lang: str,
) -> dict[str, dict[str, Any]]:
    """Per component id: its 90 day bars (markup) and uptime label."""
    changes = status_changes(found, manual)
    views: dict[str, dict[str, Any]] = {}
    for service in services:
        mine = [i for i in found if i.service_id == service.id]
        for component in service.components:
            uptime = component_uptime(component, mine, now, time_zone, changes=changes)
            views[component.id] = {
                "bars": uptime_bars(uptime, component.name, bars_id=f"up-{component.id}", lang=lang),
                "label": uptime.percent_label,
                "uptime": uptime,
            }
    return views


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    rt = runtime(request)
    time_zone, _ = display_zone(request)
    now = rt.clock.now()
    today = now.astimezone(zone(time_zone)).date()
    first_day = today - timedelta(days=HISTORY_DAYS - 1)
    since = datetime.combine(first_day, time(), tzinfo=zone(time_zone)).astimezone(UTC)
    with rt.engine.connect() as conn:
        services = load_services(conn)
        open_incidents = load_incidents(conn, unresolved=True)
        maintenance = load_incidents(conn, kind="maintenance", unresolved=True)
        # `since` filters on created_at, never before started_at unless a start was set in the future.
        recent = [i for i in load_incidents(conn, since=since) if i.started_at >= since]
        honesty = honesty_by_service(conn, now)
        lines = {
            s.id: sparkline(
                report_summary(conn, s.id, now, SPARKLINE_HOURS).buckets, label=f"Reports about {s.name}"
            )
            for s in services
        }
        for_uptime = uptime_incidents(conn, now)
        manual = manual_changes(conn, now - timedelta(days=UPTIME_DAYS + 1))
    indicator, description = page_status(services, open_incidents)
    active, upcoming = _split_maintenance(maintenance)
    return render(
        request,
        "overview.html",
        {
            "indicator": indicator,
            "description": description,
            "services": services,
            "service_names": {s.id: s.name for s in services},
            "open_incidents": open_incidents,
            "active_maintenance": active,
            "upcoming_maintenance": upcoming,
            "history": _history(recent, today, time_zone),
            "honesty": honesty,
            "sparklines": lines,
            "uptime": uptime_views(services, for_uptime, manual, now, time_zone, display_language(request)),
            "uptime_days": UPTIME_DAYS,
        },
    )


def _month_start(day: date, back: int = 0) -> date:
    """The first day of the month `back` months before the one `day` is in."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _parse_month(value: str) -> date | None:
    try:
        found = datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        return None
    return found if 1970 <= found.year <= 9999 else None


@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request) -> HTMLResponse:
    """Incidents and maintenance by the month they started, HISTORY_MONTHS to a page, newest first; `?month=`
    names the newest month shown, and the page links to the months before it."""
    rt = runtime(request)
    time_zone, _ = display_zone(request)
    tz = zone(time_zone)
    current = _month_start(rt.clock.now().astimezone(tz).date())
    asked = request.query_params.get("month", "").strip()
    newest = _parse_month(asked) if asked else current
    if newest is None:
        return error_page(request, 400, f"“{asked[:20]}” is not a month: write it as YYYY-MM, like 2026-02.")
    newest = min(newest, current)
    months = [_month_start(newest, n) for n in range(HISTORY_MONTHS)]
    start = datetime.combine(months[-1], time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(_month_start(newest, -1), time(), tzinfo=tz).astimezone(UTC)
    with rt.engine.connect() as conn:
        services = load_services(conn)
        # Maintenance is created before its window: look back further than the months shown.
        found = load_incidents(conn, kind="any", since=start - timedelta(days=UPTIME_DAYS + 31))
        oldest = conn.scalar(select(func.min(incidents_table.c.started_at)))
    by_month: dict[date, list[IncidentView]] = {m: [] for m in months}
    for incident in found:
        began = _began(incident)
        if start <= began < end and incident.status != "scheduled":
            by_month[_month_start(began.astimezone(tz).date())].append(incident)
    earlier = _month_start(newest, HISTORY_MONTHS)
    has_earlier = oldest is not None and _aware(oldest) < start
    later = _month_start(newest, -HISTORY_MONTHS)
    return render(
        request,
        "history.html",
        {
            "months": [(m, sorted(by_month[m], key=_began, reverse=True)) for m in months],
            "service_names": {s.id: s.name for s in services},
            "earlier": f"{earlier:%Y-%m}" if has_earlier else None,
            "earlier_label": month_label(earlier),
            "later": f"{min(later, current):%Y-%m}" if newest < current else None,
            "later_label": month_label(min(later, current)),
        },
    )


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for a bare aggregate; they are stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _began(incident: IncidentView) -> datetime:
    if incident.kind == "maintenance" and incident.scheduled_for is not None:
        return incident.scheduled_for
    return incident.started_at


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: str) -> HTMLResponse:
    rt = runtime(request)
    with rt.engine.connect() as conn:
        found = load_incidents(conn, kind="any", ids=[incident_id])
        services = load_services(conn, found[0].service_id) if found else []
    if not found:
        return not_found(request, f"There is no incident or maintenance with the id “{incident_id}”.")
    incident = found[0]
    names = {c.id: c.name for s in services for c in s.components}
    return render(
        request,
        "incident.html",
        {
            "incident": incident,
            "service": services[0] if services else None,
            "affected": [names.get(cid, cid) for cid in incident.component_ids],
        },
    )
