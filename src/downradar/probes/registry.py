"""Probe definitions in the database: the catalog's (rewritten at every start) and the admin API's.

A probe's id is "<service>.<slug>", the key its results are stored under. Every change is audited; the
audit detail names a probe's headers but never their values, since those may carry credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, RowMapping, delete, select, update

from downradar.core.catalog import Catalog
from downradar.incidents import audit
from downradar.probes.spec import ProbeSpec
from downradar.store.schema import components, probe_results, probes, services

log = logging.getLogger("downradar.probes")

Source = Literal["catalog", "api"]


class ProbeError(ValueError):
    """Bad input for a probe change; `field` names what was wrong. `status` is the HTTP status it maps to
    (422 for a bad value, 409 for an id already taken)."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


class ProbeNotFound(LookupError):
    """No probe has that id; the message names it."""


@dataclass(frozen=True)
class StoredProbe:
    id: str
    service_id: str
    slug: str
    component: str | None
    spec: ProbeSpec
    source: Source
    enabled: bool
    created_at: datetime
    updated_at: datetime


def probe_key(service_id: str, slug: str) -> str:
    return f"{service_id}.{slug}"


def spec_json(spec: ProbeSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json")


def _audit_detail(spec: ProbeSpec) -> dict[str, Any]:
    detail = spec_json(spec)
    detail["headers"] = sorted(spec.headers)  # names only: values may be credentials
    detail["body"] = None if spec.body is None else f"<{len(spec.body)} characters>"
    return detail


def _audit(
    conn: Connection, now: datetime, actor: str, action: str, probe_id: str, detail: dict[str, Any]
) -> None:
    audit.record(conn, at=now, actor=actor, action=action, entity="probe", entity_id=probe_id, detail=detail)


def _stored(row: RowMapping) -> StoredProbe:
    return StoredProbe(
        id=row["id"],
        service_id=row["service_id"],
        slug=row["slug"],
        component=row["component"],
        spec=ProbeSpec.model_validate(row["spec"]),
        source=row["source"],
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# -- the catalog's probes ------------------------------------------------------------------------------


def sync_catalog_probes(conn: Connection, catalog: Catalog, now: datetime, *, actor: str = "catalog") -> None:
    """Write the catalog's probes; catalog probes gone from the file go from the table. API probes stay as
    they are, and a catalog probe whose id an API probe already holds is skipped with a warning. Whether a
    catalog probe is enabled is the operators' choice and survives restarts."""
    existing = {row["id"]: row for row in conn.execute(select(probes)).mappings()}
    wanted: set[str] = set()
    for service in catalog.services:
        for spec in service.probes:
            probe_id = probe_key(service.id, spec.id)
            wanted.add(probe_id)
            row = existing.get(probe_id)
            values = {"component": spec.component, "spec": spec_json(spec)}
            if row is None:
                conn.execute(
                    probes.insert().values(
                        id=probe_id,
                        service_id=service.id,
                        slug=spec.id,
                        source="catalog",
                        enabled=True,
                        created_at=now,
                        updated_at=now,
                        **values,
                    )
                )
                _audit(conn, now, actor, "probe.created", probe_id, _audit_detail(spec))
            elif row["source"] != "catalog":
                log.warning("catalog probe %s skipped: a probe made through the API has that id", probe_id)
            elif row["spec"] != values["spec"] or row["component"] != spec.component:
                conn.execute(update(probes).where(probes.c.id == probe_id).values(updated_at=now, **values))
                _audit(conn, now, actor, "probe.updated", probe_id, _audit_detail(spec))
    stale = [i for i, row in existing.items() if row["source"] == "catalog" and i not in wanted]
    for probe_id in stale:
        conn.execute(delete(probes).where(probes.c.id == probe_id))
        _audit(conn, now, actor, "probe.deleted", probe_id, {"reason": "no longer in the catalog"})


# -- reading -------------------------------------------------------------------------------------------


def list_probes(
    conn: Connection, *, service: str | None = None, enabled_only: bool = False
) -> list[StoredProbe]:
    query = select(probes).order_by(probes.c.id)
    if service is not None:
        query = query.where(probes.c.service_id == service)
    if enabled_only:
        query = query.where(probes.c.enabled.is_(True))
    return [_stored(row) for row in conn.execute(query).mappings()]


def get_probe(conn: Connection, probe_id: str) -> StoredProbe:
    row = conn.execute(select(probes).where(probes.c.id == probe_id)).mappings().first()
    if row is None:
        raise ProbeNotFound(f"unknown probe {probe_id!r}")
    return _stored(row)


def enabled_specs(conn: Connection, location: str | None = None) -> dict[str, ProbeSpec]:
    """What a scheduler runs, by probe id; with a location, only the probes meant for it."""
    return {
        probe.id: probe.spec
        for probe in list_probes(conn, enabled_only=True)
        if location is None or not probe.spec.locations or location in probe.spec.locations
    }


# -- changing ------------------------------------------------------------------------------------------


def _check_target(conn: Connection, service_id: str, spec: ProbeSpec) -> None:
    if conn.execute(select(services.c.id).where(services.c.id == service_id)).first() is None:
        raise ProbeError("service", f"unknown service {service_id!r}")
    if spec.component is not None:
        found = conn.execute(
            select(components.c.id).where(
                components.c.service_id == service_id, components.c.slug == spec.component
            )
        ).first()
        if found is None:
            raise ProbeError("component", f"service {service_id!r} has no component {spec.component!r}")


def create_probe(
    conn: Connection, service_id: str, spec: ProbeSpec, now: datetime, *, actor: str = "admin"
) -> StoredProbe:
    _check_target(conn, service_id, spec)
    probe_id = probe_key(service_id, spec.id)
    if conn.execute(select(probes.c.id).where(probes.c.id == probe_id)).first() is not None:
        raise ProbeError("id", f"probe {probe_id!r} already exists", status=409)
    conn.execute(
        probes.insert().values(
            id=probe_id,
            service_id=service_id,
            slug=spec.id,
            component=spec.component,
            spec=spec_json(spec),
            source="api",
            enabled=True,
            created_at=now,
            updated_at=now,
        )
    )
    _audit(conn, now, actor, "probe.created", probe_id, _audit_detail(spec))
    return get_probe(conn, probe_id)


def update_probe(
    conn: Connection, probe_id: str, changes: Mapping[str, Any], now: datetime, *, actor: str = "admin"
) -> StoredProbe:
    """Change any ProbeSpec fields but `id` (the key results are stored under). Raises pydantic's
    ValidationError when the changed spec is not valid, ProbeError for the rest."""
    probe = get_probe(conn, probe_id)
    if not changes:
        return probe
    if probe.source == "catalog":
        raise ProbeError(
            next(iter(changes)),
            "a catalog probe is defined in the catalog file: change it there (here it can only be "
            "enabled or disabled)",
        )
    if "id" in changes and changes["id"] != probe.slug:
        raise ProbeError("id", "a probe's id cannot change: create a new probe and delete this one")
    spec = ProbeSpec.model_validate({**spec_json(probe.spec), **changes})
    _check_target(conn, probe.service_id, spec)
    conn.execute(
        update(probes)
        .where(probes.c.id == probe_id)
        .values(component=spec.component, spec=spec_json(spec), updated_at=now)
    )
    detail = _audit_detail(spec)
    _audit(conn, now, actor, "probe.updated", probe_id, {k: detail[k] for k in changes if k in detail})
    return get_probe(conn, probe_id)


def set_enabled(
    conn: Connection, probe_id: str, enabled: bool, now: datetime, *, actor: str = "admin"
) -> StoredProbe:
    probe = get_probe(conn, probe_id)
    if probe.enabled != enabled:
        conn.execute(update(probes).where(probes.c.id == probe_id).values(enabled=enabled, updated_at=now))
        _audit(conn, now, actor, "probe.enabled" if enabled else "probe.disabled", probe_id, {})
    return get_probe(conn, probe_id)


def delete_probe(conn: Connection, probe_id: str, now: datetime, *, actor: str = "admin") -> None:
    """Delete an API probe with its results (a new probe of the same id starts afresh)."""
    probe = get_probe(conn, probe_id)
    if probe.source == "catalog":
        raise ProbeError(
            "id",
            f"probe {probe_id!r} comes from the catalog and cannot be deleted here: disable it, or remove "
            "it from the catalog file",
        )
    conn.execute(delete(probe_results).where(probe_results.c.probe_id == probe_id))
    conn.execute(delete(probes).where(probes.c.id == probe_id))
    _audit(conn, now, actor, "probe.deleted", probe_id, {})
