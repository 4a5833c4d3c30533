"""Operations endpoints: /healthz for load balancers, /metrics for Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from downradar.web.responses import JSON
from downradar.web.runtime import runtime

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and database reachability")
def healthz(request: Request) -> JSON:
    rt = runtime(request)
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # report, don't raise: this endpoint exists to say what is wrong
        return JSON({"status": "error", "database": str(exc).splitlines()[0]}, status_code=503)
    return JSON({"status": "ok", "database": rt.engine.dialect.name})


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(runtime(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
