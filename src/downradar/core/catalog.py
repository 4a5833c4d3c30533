"""The catalog: the page, its services, their components and the regions reporters pick from (TOML)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from downradar.probes.spec import ProbeSpec
from downradar.upstream.spec import UpstreamSpec

SLUG = r"^[a-z0-9-]{1,64}$"
SLUG_RE = re.compile(SLUG)
DEFAULT_SYMPTOMS = ["error", "cannot-load", "slow", "login", "upload"]


class CatalogError(ValueError):
    """A catalog file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Page(_Strict):
    id: str = Field(default="downradar", pattern=SLUG)
    name: str = "Downradar"
    url: str = "http://127.0.0.1:8000"
    time_zone: str = "Etc/UTC"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Component(_Strict):
    id: str = Field(pattern=SLUG)
    name: str
    description: str = ""
    group: str | None = None
    showcase: bool = False
    only_show_if_degraded: bool = False


class Service(_Strict):
    id: str = Field(pattern=SLUG)
    name: str
    description: str = ""
    url: str | None = None
    symptoms: list[str] = Field(default_factory=lambda: list(DEFAULT_SYMPTOMS))
    components: list[Component] = Field(default_factory=list)
    probes: list[ProbeSpec] = Field(default_factory=list)
    upstream: UpstreamSpec | None = None

    @field_validator("symptoms")
    @classmethod
    def _slug_symptoms(cls, values: list[str]) -> list[str]:
        for value in values:
            if not SLUG_RE.match(value):
                raise ValueError(f"symptom {value!r} is not a slug [a-z0-9-]")
        return values

    @model_validator(mode="after")
    def _unique_components(self) -> Service:
        seen: set[str] = set()
        for component in self.components:
            if component.id in seen:
                raise ValueError(f"component {component.id!r} appears twice")
            if component.id == "other":
                raise ValueError("component id 'other' is reserved for reports naming unknown components")
            seen.add(component.id)
        probe_ids: set[str] = set()
        for probe in self.probes:
            if probe.id in probe_ids:
                raise ValueError(f"probe {probe.id!r} appears twice")
            if probe.component is not None and probe.component not in seen:
                raise ValueError(f"probe {probe.id!r} names unknown component {probe.component!r}")
            probe_ids.add(probe.id)
        for theirs, ours in self.upstream.components.items() if self.upstream else ():
            if ours not in seen:
                raise ValueError(f"upstream component {theirs!r} maps to unknown component {ours!r}")
        return self

    def component(self, slug: str) -> Component | None:
        return next((c for c in self.components if c.id == slug), None)


class Catalog(_Strict):
    page: Page = Field(default_factory=Page)
    regions: list[str] = Field(default_factory=list)
    services: list[Service]

    @field_validator("regions")
    @classmethod
    def _iso_regions(cls, values: list[str]) -> list[str]:
        for value in values:
            if region_name(value) is None:
                raise ValueError(
                    f"region {value!r} is not an ISO 3166-1 alpha-2 code or ISO 3166-2 subdivision"
                )
        return values

    @model_validator(mode="after")
    def _unique_services(self) -> Catalog:
        ids = [s.id for s in self.services]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"service ids appear twice: {', '.join(sorted(duplicates))}")
        return self

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)


def region_name(code: str) -> str | None:
    """Human name of an ISO 3166 country ('US') or subdivision ('US-CA'), or None when unknown."""
    if len(code) == 2:
        country = pycountry.countries.get(alpha_2=code)
        return country.name if country else None
    subdivision = pycountry.subdivisions.get(code=code)
    return subdivision.name if subdivision else None


def load_catalog(path: Path) -> Catalog:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"{path}: no such catalog file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Catalog.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CatalogError(f"{path}: {where}: {first['msg']}") from exc
