"""The Jinja environment every HTML page goes through (public and admin), `render`, the headers every
page carries, and the filters that turn statuses, times and slugs into words in the reader's language and
time zone."""

from __future__ import annotations

from datetime import date, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from downradar.core.model import ComponentStatus, impact_label, status_label
from downradar.incidents.queries import ComponentView
from downradar.web import timefmt
from downradar.web.runtime import runtime
from downradar.web.timefmt import iso, known_zone, month_label, negotiate_language, zone

TEMPLATES = Path(__file__).parents[1] / "templates"
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

# Only the default symptoms whose slug reads badly as words; the rest are shown as their slug in words.
SYMPTOM_LABELS = {"error": "Errors", "login": "Login problems", "upload": "Upload problems"}


def _words(slug: str) -> str:
    text = slug.replace("-", " ").replace("_", " ")
    return text[:1].upper() + text[1:]


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
        if hide_quiet and component.only_show_if_degraded and component.status == ComponentStatus.operational:
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
        "refresh_seconds": rt.areas.web.page_refresh_seconds,
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
