"""The event stream (DESIGN.md 3.2) over HTTP: poll with the last id you saw."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from downradar.incidents.events import events_after
from downradar.web.responses import JSON
from downradar.web.runtime import runtime

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get("/events", summary="Incident events after a cursor, oldest first")
def list_events(
    request: Request, after: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=10_000)
) -> JSON:
    with runtime(request).engine.connect() as conn:
        found = events_after(conn, after, limit)
    return JSON({"events": [record for _, record in found], "next": found[-1][0] if found else after})
