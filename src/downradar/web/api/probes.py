"""The probes API: admins define probes and locations; agents fetch their probes and post results; anyone
may read a probe's per-minute availability and latency.

Three kinds of caller, three sub-routers: the admin token, a location's own token (the location a result
counts for is always the token's, never something the body says), and the public. Public output never
carries a probe's URL, headers or body: they may hold credentials.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, case, func, select

from downradar.core.model import ProbeResult
from downradar.incidents import NotFound
from downradar.probes import locations, registry
from downradar.probes.registry import ProbeError, ProbeNotFound, StoredProbe
from downradar.probes.results import latest_results, probe_series, store_results
from downradar.probes.spec import ProbeSpec
from downradar.store.schema import probe_results
from downradar.web.api.auth import bearer_token, require_admin
from downradar.web.responses import JSON
from downradar.web.runtime import Runtime, runtime
from downradar.web.timefmt import iso

MAX_RESULTS_PER_POST = 5_000
MAX_FUTURE = timedelta(minutes=10)  # agents' clocks may run a little ahead, not more
AVAILABILITY_WINDOW = timedelta(hours=24)
SPEC_FIELDS = tuple(ProbeSpec.model_fields)

admin = APIRouter(prefix="/api/v1", tags=["probes"], dependencies=[Depends(require_admin)])
agent = APIRouter(prefix="/api/v1/agent", tags=["probe agents"])
public = APIRouter(prefix="/api/v1", tags=["probes"])


# -- errors --------------------------------------------------------------------------------------------


def _field_of(message: str) -> str:
    """The ProbeSpec field a model-wide check's message is about: the one it names first."""
    found = [(m.start(), name) for name in SPEC_FIELDS if (m := re.search(rf"\b{name}\b", message))]
    return min(found)[1] if found else "body"


def _spec_errors(exc: ValidationError, prefix: Sequence[str | int] = ()) -> list[dict[str, Any]]:
    """pydantic's errors, each placed on a field (checks across fields have no place of their own)."""
    errors = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = tuple(error["loc"]) or (_field_of(str(error["msg"])),)
        errors.append({**error, "loc": ("body", *prefix, *loc)})
    return errors


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", *field.split(".")), "msg": message, "type": "value_error"}]
    )


@contextmanager
def _translated() -> Iterator[None]:
    """Probe errors as the app's error handlers answer them: 422 naming the field, 409, 404."""
    try:
        yield
    except ValidationError as exc:
        raise RequestValidationError(_spec_errors(exc)) from None
    except ProbeError as exc:
        if exc.status == 422:
            raise _invalid(exc.field, exc.message) from None
        raise HTTPException(exc.status, str(exc)) from None
    except ProbeNotFound as exc:
        raise NotFound(str(exc)) from None


# -- JSON ----------------------------------------------------------------------------------------------


def result_json(result: ProbeResult) -> dict[str, Any]:
    return {
        "ts": iso(result.ts),
        "ok": result.ok,
        "latency_ms": result.latency_ms,
        "status_code": result.status_code,
        "error": result.error,
    }


def probe_json(probe: StoredProbe) -> dict[str, Any]:
    """For admins: everything, the spec whole."""
    return {
        "id": probe.id,
        "service": probe.service_id,
        "slug": probe.slug,
        "component": probe.component,
        "source": probe.source,
        "enabled": probe.enabled,
        "target": probe.spec.target(),
        "spec": registry.spec_json(probe.spec),
        "created_at": iso(probe.created_at),
        "updated_at": iso(probe.updated_at),
    }


def public_probe_json(probe: StoredProbe) -> dict[str, Any]:
    """For anyone: what is probed in words, never where or with what."""
    spec = probe.spec
    return {
        "id": probe.id,
        "service": probe.service_id,
        "component": probe.component,
        "name": spec.name or spec.id,
        "kind": spec.kind,
        "interval_seconds": spec.interval_seconds,
        "enabled": probe.enabled,
    }


def _by_location(latest: Mapping[tuple[str, str], ProbeResult], probe_id: str) -> dict[str, dict[str, Any]]:
    return {loc: result_json(r) for (pid, loc), r in sorted(latest.items()) if pid == probe_id}


def _availability(conn: Connection, since: datetime) -> dict[str, float]:
    """Share of checks since `since` that passed, by probe (all locations together)."""
    passed = func.sum(case((probe_results.c.ok, 1), else_=0))
    rows = conn.execute(
        select(probe_results.c.probe_id, func.count(), passed)
        .where(probe_results.c.ts >= since)
        .group_by(probe_results.c.probe_id)
    )
    return {probe_id: float(ok or 0) / total for probe_id, total, ok in rows if total}


# -- admin: probes -------------------------------------------------------------------------------------


@admin.get("/probes", summary="Every probe with its last result per location and 24-hour availability")
def list_probes(request: Request, service: str | None = None) -> JSON:
    rt = runtime(request)
    with rt.engine.connect() as conn:
        found = registry.list_probes(conn, service=service)
        latest = latest_results(conn, [p.id for p in found])
        availability = _availability(conn, rt.clock.now() - AVAILABILITY_WINDOW)
    return JSON(
        {
            "probes": [
                {
                    **probe_json(p),
                    "latest": _by_location(latest, p.id),
                    "availability_24h": availability.get(p.id),
                }
                for p in found
            ]
        }
    )


def _service_and_spec(body: dict[str, Any]) -> tuple[str, ProbeSpec]:
    fields = dict(body)
    service = fields.pop("service", None)
    if not isinstance(service, str) or not service:
        raise _invalid("service", "the id of the service the probe belongs to is required")
    return service, ProbeSpec.model_validate(fields)


@admin.post("/probes", status_code=201, summary="Add a probe: {'service': id, …ProbeSpec fields}")
def create_probe(request: Request, body: dict[str, Any] = Body(...)) -> JSON:
    rt = runtime(request)
    with _translated():
        service, spec = _service_and_spec(body)
        with rt.engine.begin() as conn:
            probe = registry.create_probe(conn, service, spec, rt.clock.now())
    return JSON(probe_json(probe), status_code=201)


@admin.get("/probes/{probe_id}", summary="One probe, its spec whole")
def get_probe(request: Request, probe_id: str) -> JSON:
    rt = runtime(request)
    with _translated(), rt.engine.connect() as conn:
        probe = registry.get_probe(conn, probe_id)
        latest = latest_results(conn, [probe_id])
    return JSON({**probe_json(probe), "latest": _by_location(latest, probe_id)})


@admin.patch("/probes/{probe_id}", summary="Change any ProbeSpec field, or 'enabled'")
def patch_probe(request: Request, probe_id: str, body: dict[str, Any] = Body(...)) -> JSON:
    rt = runtime(request)
    changes = dict(body)
    enabled = changes.pop("enabled", None)
    if enabled is not None and not isinstance(enabled, bool):
        raise _invalid("enabled", "must be true or false")
    with _translated(), rt.engine.begin() as conn:
        probe = registry.update_probe(conn, probe_id, changes, rt.clock.now())
        if enabled is not None:
            probe = registry.set_enabled(conn, probe_id, enabled, rt.clock.now())
    return JSON(probe_json(probe))


@admin.delete("/probes/{probe_id}", status_code=204, summary="Delete a probe made through the API")
def delete_probe(request: Request, probe_id: str) -> Response:
    rt = runtime(request)
    with _translated(), rt.engine.begin() as conn:
        registry.delete_probe(conn, probe_id, rt.clock.now())
    return Response(status_code=204)


# -- admin: locations ----------------------------------------------------------------------------------


class LocationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="a slug [a-z0-9-], not the server's own location")


def location_json(location: locations.Location) -> dict[str, Any]:
    return {
        "name": location.name,
        "created_at": iso(location.created_at),
        "last_seen_at": iso(location.last_seen_at),
    }


@admin.get("/probe-locations", summary="Probe locations (agents), never their tokens")
def list_locations(request: Request) -> JSON:
    rt = runtime(request)
    with rt.engine.connect() as conn:
        found = locations.list_locations(conn)
    return JSON({"server_location": rt.areas.probes.location, "locations": [location_json(x) for x in found]})


@admin.post("/probe-locations", status_code=201, summary="Add a location; its token is shown this once")
def create_location(request: Request, body: LocationCreate) -> JSON:
    rt = runtime(request)
    with _translated(), rt.engine.begin() as conn:
        token = locations.create_location(
            conn, body.name, rt.clock.now(), server_location=rt.areas.probes.location
        )
    return JSON({"name": body.name, "token": token}, status_code=201)


@admin.delete(
    "/probe-locations/{name}", status_code=204, summary="Remove a location; its token stops working"
)
def delete_location(request: Request, name: str) -> Response:
    rt = runtime(request)
    with _translated(), rt.engine.begin() as conn:
        locations.delete_location(conn, name, rt.clock.now())
    return Response(status_code=204)


# -- agents --------------------------------------------------------------------------------------------


def require_location(request: Request) -> str:
    """Dependency: the request carries a location's token. Returns the location's name."""
    token = bearer_token(request, needs="location token")
    with runtime(request).engine.connect() as conn:
        name = locations.location_for_token(conn, token)
    if name is None:
        raise HTTPException(401, "unknown location token", headers={"WWW-Authenticate": "Bearer"})
    return name


class AgentResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe: str = Field(max_length=140, description="the probe id, '<service>.<slug>'")
    ts: AwareDatetime = Field(description="when the check started (RFC 3339)")
    ok: bool
    latency_ms: float | None = Field(default=None, ge=0)
    status_code: int | None = Field(default=None, ge=0, le=999)
    error: str | None = Field(default=None, max_length=2_000)


class AgentResults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    results: list[AgentResult] = Field(max_length=MAX_RESULTS_PER_POST)


@agent.get("/probes", summary="The probes this location runs")
def agent_probes(request: Request, location: str = Depends(require_location)) -> JSON:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        specs = registry.enabled_specs(conn, location)
        locations.touch(conn, location, rt.clock.now())
    return JSON({"location": location, "probes": {key: registry.spec_json(s) for key, s in specs.items()}})


def _check_results(rt: Runtime, conn: Connection, body: AgentResults) -> None:
    known = {p.id for p in registry.list_probes(conn)}
    latest_allowed = rt.clock.now() + MAX_FUTURE
    errors = []
    for index, result in enumerate(body.results):
        if result.probe not in known:
            errors.append(
                {"loc": ("body", "results", index, "probe"), "msg": f"unknown probe {result.probe!r}"}
            )
        if result.ts > latest_allowed:
            errors.append(
                {"loc": ("body", "results", index, "ts"), "msg": "more than 10 minutes in the future"}
            )
    if errors:
        raise RequestValidationError([{**e, "type": "value_error"} for e in errors])


@agent.post("/results", status_code=202, summary="Post this location's check results (≤ 5,000)")
def agent_results(request: Request, body: AgentResults, location: str = Depends(require_location)) -> JSON:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        _check_results(rt, conn, body)
        results = [
            ProbeResult(
                probe=r.probe,
                location=location,
                ts=r.ts,
                ok=r.ok,
                latency_ms=r.latency_ms,
                status_code=r.status_code,
                error=r.error,
            )
            for r in body.results
        ]
        now = rt.clock.now()
        store_results(conn, results, now)
        locations.touch(conn, location, now)
    return JSON({"accepted": len(results)}, status_code=202)


# -- public --------------------------------------------------------------------------------------------


@public.get("/probes/{probe_id}/series", summary="A probe's availability and latency, minute by minute")
def probe_series_json(
    request: Request,
    probe_id: str,
    minutes: int = Query(60, ge=1, le=10_080),
    location: str | None = Query(None, max_length=64),
) -> JSON:
    rt = runtime(request)
    now = rt.clock.now()
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    with _translated(), rt.engine.connect() as conn:
        probe = registry.get_probe(conn, probe_id)
        points = probe_series(conn, probe_id, start, minutes, location=location)
        latest = latest_results(conn, [probe_id])
    return JSON(
        {
            "probe": public_probe_json(probe),
            "location": location,
            "minutes": minutes,
            "series": [
                {
                    "minute": iso(p.minute),
                    "checks": p.checks,
                    "failures": p.failures,
                    "availability": p.availability,
                    "latency_ms_avg": p.latency_ms_avg,
                    "latency_ms_max": p.latency_ms_max,
                }
                for p in points
            ],
            "latest": _by_location(latest, probe_id),
        }
    )


router = APIRouter()
router.include_router(admin)
router.include_router(agent)
router.include_router(public)
