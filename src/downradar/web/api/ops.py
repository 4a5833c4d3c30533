"""Operations endpoints: /healthz for load balancers, /metrics for Prometheus.

/healthz answers 503 only when the database cannot be reached: then nothing works. A failing background
loop (probes, delivery, the detector...) answers 200 with `"status": "degraded"` and names the loop: the
process still serves pages and takes reports, so a load balancer should keep routing to it (pulling every
replica out over a probe loop's bug would turn a degraded service into an outage), while a monitor that
reads the body, or alerts on `downradar_loop_up == 0` in /metrics, sees what is wrong.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from downradar.web.responses import JSON
from downradar.web.runtime import runtime

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness, database reachability and the background loops' states")
def healthz(request: Request) -> JSON:
    rt = runtime(request)
    loops = {
        state.name: {
            "state": state.state,
            "up": state.up,
            "restarts": state.restarts,
            "error": state.last_error,
        }
        for state in rt.supervisor.states()
    }
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # report, don't raise: this endpoint exists to say what is wrong
        body = {"status": "error", "database": str(exc).splitlines()[0], "loops": loops}
        return JSON(body, status_code=503)
    degraded = rt.supervisor.degraded
    return JSON(
        {
            "status": "degraded" if degraded else "ok",
            "database": rt.engine.dialect.name,
            "degraded": degraded,
            "loops": loops,
        }
    )


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(runtime(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
