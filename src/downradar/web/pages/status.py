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
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, func, select

from downradar.core.model import ACTIVE_MAINTENANCE, MaintenanceStatus
from downradar.incidents.claims import ManualChange, manual_changes
from downradar.incidents.honesty import honesty_by_service
from downradar.incidents.queries import (
    IncidentView,
    ServiceView,
    load_incidents,
    load_services,
    page_status,
)
from downradar.store.report_series import report_summary
from downradar.store.schema import incidents as incidents_table
from downradar.web.pages.templating import display_language, display_zone, error_page, not_found, render
from downradar.web.pages.uptime import DAYS as UPTIME_DAYS
from downradar.web.pages.uptime import component_uptime, status_changes, uptime_bars
from downradar.web.render.sparkline import sparkline
from downradar.web.runtime import runtime
from downradar.web.timefmt import month_label, zone

router = APIRouter(include_in_schema=False)
HISTORY_DAYS = 14
HISTORY_MONTHS = 3  # per page of /history, as Statuspage pages its history
SPARKLINE_HOURS = 24


def split_maintenance(found: list[IncidentView]) -> tuple[list[IncidentView], list[IncidentView]]:
    """(active, upcoming), each in window order."""
    ordered = sorted(found, key=lambda m: (m.scheduled_for or m.started_at, m.id))
    active = [m for m in ordered if m.status in ACTIVE_MAINTENANCE]
    upcoming = [m for m in ordered if m.status == MaintenanceStatus.scheduled]
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
    active, upcoming = split_maintenance(maintenance)
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
        if start <= began < end and incident.status != MaintenanceStatus.scheduled:
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
