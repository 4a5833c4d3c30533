"""Report intake (single, public; bulk NDJSON, token) and the per-service report summary."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from downradar.intake.clients import client_key
from downradar.intake.validation import ReportError, normalise, parse_report
from downradar.store.report_series import ReportSummary, Share, report_summary
from downradar.web.api.auth import require_ingest
from downradar.web.api.body import read_limited
from downradar.web.errors import error_body, error_response
from downradar.web.responses import JSON
from downradar.web.runtime import Runtime, runtime
from downradar.web.timefmt import iso

router = APIRouter(prefix="/api/v1", tags=["reports"])
SINGLE_LIMIT = 1 << 20
BULK_LIMIT = 16 << 20
MAX_LINE_ERRORS = 1000


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def accept_report(rt: Runtime, raw: bytes | dict[str, Any], address: str) -> dict[str, Any]:
    """Validate, rate-limit, store durably; shared by the JSON API and the HTML form."""
    try:
        report = parse_report(raw, allow_ts=False)
    except ReportError:
        rt.metrics.reports.labels("rejected").inc()
        raise
    slugs = rt.component_slugs.get(report.service)
    if slugs is None:
        rt.metrics.reports.labels("rejected").inc()
        return {"status": 404, "error": f"unknown service {report.service!r}", "field": "service"}
    address_key = client_key(rt.secret, address)
    wait = rt.limiter.retry_after(address_key)
    if wait is not None:
        rt.metrics.reports.labels("rejected").inc()
        return {
            "status": 429,
            "error": f"too many reports from this address; retry in {wait} s",
            "retry_after": wait,
        }
    row = normalise(
        report,
        known_components=slugs,
        client=report.client or address_key,
        received_at=rt.clock.now(),
        source="live",
    )
    (report_id,) = await rt.writer.submit([row], want_ids=True)
    rt.metrics.count_reports([row])
    return {"status": 202, "id": report_id, "duplicate": row["duplicate"]}


async def single_report(rt: Runtime, body: bytes, address: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The answer to one public report: status, JSON body, extra headers.

    Shared by the route below and the plain-ASGI fast path in front of FastAPI
    (web/serving/report_fast_path.py).
    """
    try:
        outcome = await accept_report(rt, body, address)
    except ReportError as exc:
        return 422, error_body(str(exc), exc.errors), {}
    status = outcome.pop("status")
    if status == 404:
        return 404, error_body(outcome["error"], [{"field": "service", "message": outcome["error"]}]), {}
    if status == 429:
        return 429, error_body(outcome["error"]), {"Retry-After": str(outcome["retry_after"])}
    return 202, outcome, {}


async def _read_reports(rt: Runtime, request: Request, limit: int) -> bytes:
    """The body, with an oversized one counted as a rejected report before the 413 goes out."""
    try:
        return await read_limited(request, limit)
    except HTTPException:
        rt.metrics.reports.labels("rejected").inc()
        raise


@router.post("/reports", status_code=202, summary="Report a problem with a service (public)")
async def post_report(request: Request) -> JSON:
    # A running DownradarApp answers this path in web/serving/report_fast_path.py with the same single_report;
    # the route stays for the OpenAPI schema and for requests that arrive before the fast path is set.
    rt = runtime(request)
    body = await _read_reports(rt, request, SINGLE_LIMIT)
    status, content, headers = await single_report(rt, body, client_address(request))
    return JSON(content, status_code=status, headers=headers)


@router.post(
    "/reports/bulk", status_code=202, summary="NDJSON reports with their own `ts` (admin or ingest token)"
)
async def post_bulk(request: Request, _actor: str = Depends(require_ingest)) -> JSON:
    rt = runtime(request)
    body = await _read_reports(rt, request, BULK_LIMIT)
    received_at = rt.clock.now()
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    rejected = 0
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            report = parse_report(line, allow_ts=True, require_ts=True)
            slugs = rt.component_slugs.get(report.service)
            if slugs is None:
                raise ReportError([{"field": "service", "message": f"unknown service {report.service!r}"}])
        except ReportError as exc:
            rejected += 1
            if len(errors) < MAX_LINE_ERRORS:
                errors.append({"line": number, "errors": exc.errors})
            continue
        rows.append(
            normalise(
                report,
                known_components=slugs,
                # A trusted bulk source without client ids: each line is its own reporter.
                client=report.client or f"anon:{uuid.uuid4().hex}",
                received_at=received_at,
                source="bulk",
            )
        )
    if rows:
        await rt.writer.submit(rows)
        rt.metrics.count_reports(rows)
    if errors:
        rt.metrics.reports.labels("rejected").inc(rejected)
    duplicates = sum(1 for r in rows if r["duplicate"])
    return JSON(
        {
            "accepted": len(rows),
            "counted": len(rows) - duplicates,
            "duplicates": duplicates,
            "rejected": rejected,
            "errors": errors,
            "errors_truncated": rejected > len(errors),
        },
        status_code=202,
    )


def summary_json(summary: ReportSummary, time_zone: str) -> dict[str, Any]:
    def shares(items: Sequence[Share]) -> list[dict[str, Any]]:
        return [
            {"key": s.key, "clients": s.clients, "share": round(s.share, 4), "label": s.label} for s in items
        ]

    return {
        "service": summary.service_id,
        "start": iso(summary.start, time_zone),
        "end": iso(summary.end, time_zone),
        "bucket_minutes": 15,
        "total_reports": summary.total_reports,
        "total_clients": summary.total_clients,
        "buckets": [
            {"start": iso(b.start, time_zone), "reports": b.reports, "clients": b.clients}
            for b in summary.buckets
        ],
        "top_problems": shares(summary.top_problems),
        "top_components": shares(summary.top_components),
        "top_regions": shares(summary.top_regions),
    }


@router.get("/services/{service_id}/reports", summary="Reports per 15 minutes and the top problems")
def service_reports(request: Request, service_id: str, hours: int = Query(24, ge=1, le=24 * 14)) -> JSON:
    rt = runtime(request)
    if service_id not in rt.component_slugs:
        return error_response(404, f"unknown service {service_id!r}")
    with rt.engine.connect() as conn:
        summary = report_summary(conn, service_id, rt.clock.now(), hours)
    body = summary_json(summary, rt.catalog.page.time_zone)
    band = rt.detection.bands(service_id, [b.start for b in summary.buckets], 15) if rt.detection else None
    for bucket, expectation in zip(body["buckets"], band or [], strict=False):
        bucket["expected"] = round(expectation.expected, 3)
        bucket["band"] = [round(expectation.low, 3), round(expectation.high, 3)]
    body["score"] = round(rt.detection.score(service_id), 3) if rt.detection else 0.0
    return JSON(body)


@router.get("/services", summary="The catalog: services, components, symptoms, regions")
def list_services(request: Request) -> JSON:
    rt = runtime(request)
    return JSON(
        {
            "services": [
                {
                    "id": s.id,
                    "name": s.name,
                    "description": s.description,
                    "symptoms": s.symptoms,
                    "components": [{"id": c.id, "name": c.name, "group": c.group} for c in s.components],
                }
                for s in rt.catalog.services
            ],
            "regions": rt.catalog.regions,
        }
    )
