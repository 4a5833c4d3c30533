"""The service page: what an outage tracker shows about one service, and its "Report a problem" form.

Current state in words, the 24-hour report chart with the usual band, top problems, regions (a table and a
tile map), recent comments and the form. `GET /services/{id}/live.json` serves the page's live blocks
(rendered by the same template blocks the page uses, so the two never disagree) and their figures;
static/live.js swaps them in every 15 seconds. Without JavaScript the page is plain HTML and the form a
plain POST (post-redirect-get), whose landing page already counts the visitor's report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from downradar.core.catalog import region_name
from downradar.core.model import FINE_STATUSES, status_label
from downradar.detect import Expectation
from downradar.incidents.queries import IncidentView, ServiceView, load_incidents, load_services
from downradar.intake.comments import Comment, recent_comments
from downradar.intake.validation import MAX_COMMENT, ReportError
from downradar.store.report_series import Bucket, ReportSummary, Share, report_summary
from downradar.web.api.reports import accept_report, client_address
from downradar.web.pages.signals_view import honesty_for, probe_views
from downradar.web.pages.status import split_maintenance
from downradar.web.pages.templating import (
    PAGE_HEADERS,
    display_zone,
    not_found,
    render,
    symptom_label,
    templates,
)
from downradar.web.render.chart import report_chart
from downradar.web.render.region_map import RegionShare, region_map, unmapped
from downradar.web.runtime import Runtime, runtime
from downradar.web.timefmt import iso

router = APIRouter(include_in_schema=False)
TEMPLATE = "service.html"
CHART_HOURS = 24
FORM_FIELDS = ("symptom", "component", "region", "comment")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
FIELD_LABELS = {
    "symptom": "Problem",
    "component": "Component",
    "region": "Region",
    "comment": "Comment",
    "service": "Service",
    "body": "Form",
}
# The blocks of service.html that live.json sends again and live.js swaps in.
LIVE_BLOCKS = ("live_state", "live_reports", "live_regions", "live_comments")
LIVE_SECONDS = 15
TOP_SHOWN = 5
REGIONS_SHOWN = 30
COMMENTS_SHOWN = 10
NOW_HOURS = 1  # "now", for the state in words: reports of the last hour
MOSTLY = 0.4  # a region with this share of the recent reports is where they "mostly" come from
ELEVATED_MIN = 3  # fewer people than this are never "above the usual level", whatever the band says

# The page's own script and its JSON endpoint, and nothing else: same-origin only, no inline script.
SERVICE_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"]
    + "; script-src 'self'; connect-src 'self'",
}


@dataclass(frozen=True)
class ServiceState:
    """The service's state as one line a visitor reads first, and a sentence that explains it."""

    level: str  # "ok", "maintenance", "elevated" (reports above usual, no incident) or "problems"
    headline: str
    detail: str


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# Countries whose name reads with "the" in a sentence ("mostly in the United States").
WITH_THE = frozenset({"US", "GB", "NL", "PH", "AE", "DO", "CF", "BS", "GM"})


def _place(code: str) -> str:
    name = region_name(code) or code
    return f"the {name}" if code in WITH_THE else name


def _where(regions: list[Share]) -> str:
    """', mostly in Canada' / ', in several regions' / '' from the recent reports' regions."""
    if not regions:
        return ""
    top = regions[0]
    if top.share >= MOSTLY:
        return f", mostly in {_place(top.key)}"
    return ", in several regions" if len(regions) > 1 else ""


def _what(recent: ReportSummary, component_names: dict[str, str]) -> str:
    """What people say is failing, from the recent reports: components first, else symptoms."""
    components = [component_names.get(s.key, s.key) for s in recent.top_components if s.key != "other"]
    if components:
        return f"Users report problems with {_join(components)}{_where(recent.top_regions)}."
    symptoms = [symptom_label(s.key).lower() for s in recent.top_problems]
    if symptoms:
        return f"Users mostly report {_join(symptoms)}{_where(recent.top_regions)}."
    return ""


def current_state(
    service: ServiceView,
    open_incidents: list[IncidentView],
    active_maintenance: list[IncidentView],
    recent: ReportSummary,
    buckets: list[Bucket],
    band: list[Expectation] | None,
) -> ServiceState:
    """Problems when an incident is open or a component is down; reports above the detector's band are
    "possible problems"; otherwise no current problems. Words only say what the data shows."""
    names = {c.slug: c.name for c in service.components}
    what = _what(recent, names)
    if open_incidents or service.status not in FINE_STATUSES:
        if not what:
            affected = [c.name for c in service.components if c.status not in FINE_STATUSES]
            if open_incidents:
                first = open_incidents[0]
                what = f"{first.name} ({status_label(first.status).lower()})."
            elif affected:
                what = f"{_join(affected)}: {status_label(service.status).lower()}."
        return ServiceState("problems", "Problems detected", what)
    if active_maintenance:
        return ServiceState("maintenance", "Under maintenance", f"{active_maintenance[0].name}.")
    if band and len(band) == len(buckets):
        # The current quarter hour is still filling: compare it and the last complete one with the band.
        for bucket, usual in list(zip(buckets, band, strict=True))[-2:][::-1]:
            if bucket.clients >= ELEVATED_MIN and bucket.clients > usual.high:
                detail = (
                    f"Reports are above the usual level: {bucket.clients} in 15 minutes, "
                    f"usually about {usual.expected:.0f}. {what}"
                )
                return ServiceState("elevated", "Possible problems", detail.strip())
    return ServiceState(
        "ok", "No current problems", f"User reports indicate no current problems at {service.name}."
    )


@dataclass(frozen=True)
class CommentView:
    text: str
    ts: datetime
    region: str
    symptom: str
    component: str


def _comment_view(comment: Comment, component_names: dict[str, str]) -> CommentView:
    return CommentView(
        text=comment.text,
        ts=comment.ts,
        region=(region_name(comment.region) or comment.region) if comment.region else "",
        symptom=symptom_label(comment.symptom) if comment.symptom else "",
        component=component_names.get(comment.component, "") if comment.component else "",
    )


def _share_rows(shares: list[Share], label: Callable[[str], str]) -> list[dict[str, Any]]:
    return [{"label": label(s.key), "percent": round(s.share * 100), "clients": s.clients} for s in shares]


def usual_band(rt: Runtime, service_id: str, buckets: list[Bucket]) -> list[Expectation] | None:
    """The detector's usual level per 15-minute bucket, once it has learned the service."""
    if rt.detection is None:
        return None
    return rt.detection.bands(service_id, [b.start for b in buckets], 15)


def _region_rows(summary: ReportSummary) -> list[RegionShare]:
    return [RegionShare(s.key, region_name(s.key) or s.key, s.share, s.clients) for s in summary.top_regions]


def service_context(rt: Runtime, service_id: str, time_zone: str | None = None) -> dict[str, Any] | None:
    """Everything the service page shows, or None when there is no such service. `time_zone` is the
    reader's (?tz=), else the page's."""
    now = rt.clock.now()
    with rt.engine.connect() as conn:
        found = load_services(conn, service_id)
        if not found:
            return None
        service: ServiceView = found[0]
        open_incidents = load_incidents(conn, unresolved=True, service_id=service_id)
        maintenance = load_incidents(conn, kind="maintenance", unresolved=True, service_id=service_id)
        summary = report_summary(conn, service_id, now, CHART_HOURS, top=REGIONS_SHOWN)
        recent = report_summary(conn, service_id, now, NOW_HOURS)
        probes = probe_views(rt, conn, service_id, now)
        honesty = honesty_for(conn, service_id, now)
        comments = recent_comments(conn, service_id, now, limit=COMMENTS_SHOWN)
    entry = rt.catalog.service(service_id)
    names = {c.slug: c.name for c in service.components}
    names["other"] = "Other"
    active, upcoming = split_maintenance(maintenance)
    band = usual_band(rt, service_id, summary.buckets)
    regions = _region_rows(summary)
    return {
        "service": service,
        "website": service.url if service.url and service.url.startswith(("https://", "http://")) else None,
        "state": current_state(service, open_incidents, active, recent, summary.buckets, band),
        "open_incidents": open_incidents,
        "active_maintenance": active,
        "upcoming_maintenance": upcoming,
        "probes": probes,
        "honesty": honesty,
        "buckets": summary.buckets,
        "chart": report_chart(
            summary.buckets,
            time_zone or rt.catalog.page.time_zone,
            title=f"Reports about {service.name} per 15 minutes, last {CHART_HOURS} hours",
            band=band,
        ),
        "total_reports": summary.total_clients,
        "peak": max((b.clients for b in summary.buckets), default=0),
        "top_problems": _share_rows(summary.top_problems[:TOP_SHOWN], symptom_label),
        "top_components": _share_rows(summary.top_components[:TOP_SHOWN], lambda key: names.get(key, key)),
        "region_rows": regions,
        "region_map": region_map(
            regions, title=f"Where reports about {service.name} come from, last 24 hours"
        ),
        "unmapped_regions": unmapped(regions),
        "comments": [_comment_view(c, names) for c in comments],
        "live_url": f"/services/{service.id}/live.json",
        "live_seconds": LIVE_SECONDS,
        # The form only for services the catalog still lists: intake accepts no others.
        "accepts_reports": entry is not None,
        "symptoms": entry.symptoms if entry else [],
        "regions": [(code, region_name(code) or code) for code in rt.catalog.regions],
        "max_comment": MAX_COMMENT,
        "form": dict.fromkeys(FORM_FIELDS, ""),
        "form_errors": [],
        "field_errors": {},
        "reported": False,
    }


def _page(
    request: Request, context: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> HTMLResponse:
    return render(
        request, TEMPLATE, context, status_code=status, headers={**SERVICE_HEADERS, **(headers or {})}
    )


@router.get("/services/{service_id}", response_class=HTMLResponse)
def service_page(request: Request, service_id: str) -> HTMLResponse:
    context = service_context(runtime(request), service_id, display_zone(request)[0])
    if context is None:
        return not_found(request, f"There is no service called “{service_id}” on this page.")
    context["reported"] = request.query_params.get("reported") == "1"
    return _page(request, context)


def live_blocks(page: HTMLResponse) -> dict[str, str]:
    """The live blocks of a rendered page, as HTML: the template's own blocks, with the page's context
    (its language, time zone and figures), so what live.js swaps in is what the page would show."""
    variables = dict(page.context)  # type: ignore[attr-defined]  # a TemplateResponse keeps its context
    env = templates.env
    template = env.get_template(TEMPLATE)
    # A block rendered alone does not run the template's top-level import: hand it the macros.
    variables["ui"] = env.get_template("macros.html").make_module(variables)
    block_context = template.new_context(variables)
    return {name: "".join(template.blocks[name](block_context)).strip() for name in LIVE_BLOCKS}


def live_payload(rt: Runtime, context: dict[str, Any], page: HTMLResponse) -> dict[str, Any]:
    time_zone = page.context["time_zone"]  # type: ignore[attr-defined]  # as in live_blocks
    service: ServiceView = context["service"]
    return {
        "service": service.id,
        "generated_at": iso(rt.clock.now(), time_zone),
        "status": service.status,
        "state": asdict(context["state"]),
        "total_reports": context["total_reports"],
        "peak": context["peak"],
        "buckets": [{"start": iso(b.start, time_zone), "reports": b.clients} for b in context["buckets"]],
        "top_problems": context["top_problems"],
        "regions": [
            {"code": r.code, "name": r.name, "percent": round(r.share * 100), "reports": r.reports}
            for r in context["region_rows"]
        ],
        "refresh_seconds": LIVE_SECONDS,
        "html": live_blocks(page),
    }


@router.get("/services/{service_id}/live.json")
def service_live(request: Request, service_id: str) -> JSONResponse:
    rt = runtime(request)
    context = service_context(rt, service_id, display_zone(request)[0])
    if context is None:
        return JSONResponse({"error": f"unknown service {service_id!r}"}, status_code=404)
    page = _page(request, context)
    return JSONResponse(
        live_payload(rt, context, page),
        headers={"Cache-Control": "no-cache", "Vary": "Accept-Language", "X-Content-Type-Options": "nosniff"},
    )


class FormRejected(Exception):
    """A post that is not a usable web form at all (wrong type, too big, a file): its status and errors."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.errors = [{"field": "body", "message": message}]


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields, trimmed; empty ones left out, because an empty choice means 'not given'."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in FORM_TYPES:
        raise FormRejected(415, "send the report as a web form (application/x-www-form-urlencoded)")
    try:
        form = await request.form(max_files=0, max_fields=len(FORM_FIELDS) + 10, max_part_size=16 * 1024)
    except StarletteHTTPException as exc:
        raise FormRejected(exc.status_code, str(exc.detail)) from None
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise FormRejected(400, f"{key}: must be text, not a file")
        # Browsers send a textarea's line breaks as CRLF but count each as one character for maxlength.
        value = value.replace("\r\n", "\n").strip()
        if value:
            values[key] = value
        else:
            values.pop(key, None)
    return values


@router.post("/services/{service_id}/report", response_class=HTMLResponse)
async def submit_report(request: Request, service_id: str) -> Response:
    """Post-redirect-get: a 303 back to the service page on success, the form again with its errors if not."""
    rt = runtime(request)
    if service_id not in rt.component_slugs:
        return not_found(request, f"There is no service called “{service_id}” to report.")
    values: dict[str, str] = {}
    try:
        values = await read_form(request)
        values.pop("service", None)  # the address names the service
        outcome = await accept_report(rt, {"service": service_id, **values}, client_address(request))
    except FormRejected as exc:
        return await form_again(request, service_id, values, exc.errors, exc.status)
    except ReportError as exc:
        return await form_again(request, service_id, values, exc.errors, 422)
    if outcome["status"] == 429:
        errors = [{"field": "", "message": outcome["error"]}]
        return await form_again(
            request, service_id, values, errors, 429, {"Retry-After": str(outcome["retry_after"])}
        )
    if outcome["status"] != 202:
        return not_found(request, outcome["error"])
    # accept_report returns once the report is committed, so the page this lands on counts it.
    return RedirectResponse(f"/services/{service_id}?reported=1#report", status_code=303)


async def form_again(
    request: Request,
    service_id: str,
    values: dict[str, str],
    errors: list[dict[str, str]],
    status: int,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The service page with the reader's choices kept and each problem said next to the form."""
    context = await run_in_threadpool(service_context, runtime(request), service_id, display_zone(request)[0])
    if context is None:
        return not_found(request, f"There is no service called “{service_id}” to report.")
    context["form"] = {field: values.get(field, "") for field in FORM_FIELDS}
    context["form_errors"] = [{**e, "label": FIELD_LABELS.get(e["field"], e["field"])} for e in errors]
    context["field_errors"] = {e["field"]: e["message"] for e in errors if e["field"] in FORM_FIELDS}
    return _page(request, context, status, headers)
