"""A service's official status page as we have read it: the polling state, the history of what it
admitted, and how late it acknowledged the outages we detected (public, like the status page)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Request

from downradar.incidents import NotFound
from downradar.incidents.honesty import GRADE_WINDOW, honesty_by_service
from downradar.upstream.history import changes_for, feed_status
from downradar.upstream.parse import state_to_json
from downradar.web.responses import JSON
from downradar.web.runtime import runtime
from downradar.web.timefmt import iso

router = APIRouter(prefix="/api/v1", tags=["official status"])


@router.get(
    "/services/{service_id}/official", summary="The provider's page: state, changes, acknowledgements"
)
def official(request: Request, service_id: str, days: int = Query(7, ge=1, le=90)) -> JSON:
    rt = runtime(request)
    if rt.catalog.service(service_id) is None:
        raise NotFound(f"unknown service {service_id!r}")
    now = rt.clock.now()
    with rt.engine.connect() as conn:
        status = feed_status(conn, service_id)
        changes = changes_for(conn, service_id, now - timedelta(days=days)) if status else []
        honesty = honesty_by_service(conn, now).get(service_id)
    tz = rt.catalog.page.time_zone
    grade = honesty.grade if honesty else None
    body: dict[str, Any] = {
        "service": service_id,
        "watched": status is not None,
        "feed": None
        if status is None
        else {
            "url": status["url"],
            "kind": status["detected_kind"] or status["kind"],
            "last_polled_at": iso(status["last_polled_at"], tz),
            "last_ok_at": iso(status["last_ok_at"], tz),
            "reachable": status["reachable"] and status["last_ok_at"] is not None,
            "failures": status["failures"],
            "last_error": status["last_error"],
        },
        "current": state_to_json(honesty.official) if honesty and honesty.official else None,
        "honesty_gap": bool(honesty and honesty.gap),
        "state": honesty.state if honesty else None,
        "changes": [state_to_json(change) for change in changes],
        "acknowledgement": {
            "window_days": GRADE_WINDOW.days,
            "grade": grade.letter if grade else None,
            "average_delay_minutes": round(grade.average_minutes, 1) if grade else None,
            "incidents": [
                {
                    "incident_id": ack.incident_id,
                    "detected_at": iso(ack.detected_at, tz),
                    "acknowledged_at": iso(ack.acknowledged_at, tz),
                    "delay_minutes": None if ack.delay_minutes is None else round(ack.delay_minutes, 1),
                }
                for ack in (honesty.acknowledgements if honesty else ())
            ],
        },
    }
    return JSON(body)
