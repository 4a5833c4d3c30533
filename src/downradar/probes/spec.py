"""What a probe checks, as the catalog (`[[services.probes]]`) and the admin API define it."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG = r"^[a-z0-9-]{1,64}$"
_STATUS_PART = re.compile(r"^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$")
ProbeKind = Literal["http", "tcp", "dns"]


def parse_status_ranges(spec: str) -> list[tuple[int, int]]:
    """'200-299,304' -> [(200, 299), (304, 304)]; ValueError names what is wrong."""
    ranges: list[tuple[int, int]] = []
    for part in spec.split(","):
        match = _STATUS_PART.match(part)
        if not match:
            raise ValueError(f"{part.strip()!r} is not a status code or range such as 200-299")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not 100 <= low <= high <= 599:
            raise ValueError(f"{part.strip()!r} is not a range of HTTP status codes (100-599)")
        ranges.append((low, high))
    return ranges


class ProbeSpec(BaseModel):
    """One probe. `id` is a slug unique within its service; the page-wide key is "<service>.<id>".

    A check fails when the target cannot be reached in `timeout_seconds`, or any condition set here does
    not hold; `retries` more attempts are made at once before a check counts as failed. A location counts
    the probe as down after `fail_after` failed checks in a row, and up again after `recover_after`
    successes in a row. The probe is down for the service when `quorum` locations agree (None: more than
    half of the locations that reported recently).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=SLUG)
    name: str = ""
    kind: ProbeKind = "http"
    component: str | None = Field(default=None, pattern=SLUG, description="component slug; None: the service")
    # http
    url: str | None = None
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expect_status: str = "200-399"
    keyword: str | None = Field(default=None, description="the response body must contain this text")
    json_path: str | None = Field(default=None, description="dotted JSON path, e.g. status.indicator")
    json_equals: Any = Field(default=None, description="value json_path must have (None: truthy)")
    max_latency_ms: float | None = Field(default=None, gt=0)
    cert_min_days: float | None = Field(
        default=14, ge=0, description="https: fail when the certificate expires within this many days"
    )
    follow_redirects: bool = False
    # tcp
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    # dns
    record_type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS"] = "A"
    nameserver: str | None = Field(default=None, description="host or host:port; None: the system resolver")
    expect_values: list[str] = Field(default_factory=list, description="dns: answers that must be present")
    # schedule and state
    interval_seconds: float = Field(default=60.0, ge=1, le=86_400)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    retries: int = Field(default=0, ge=0, le=5)
    fail_after: int = Field(default=3, ge=1, le=100)
    recover_after: int = Field(default=2, ge=1, le=100)
    quorum: int | None = Field(default=None, ge=1, le=100)
    locations: list[str] = Field(default_factory=list, description="locations that run it; empty: all")

    @field_validator("expect_status")
    @classmethod
    def _status_ranges(cls, value: str) -> str:
        parse_status_ranges(value)
        return value

    @field_validator("locations")
    @classmethod
    def _location_slugs(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.match(SLUG, value):
                raise ValueError(f"location {value!r} is not a slug [a-z0-9-]")
        return values

    @model_validator(mode="after")
    def _target(self) -> ProbeSpec:
        if self.kind == "http":
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError("an http probe needs a url starting with http:// or https://")
        elif self.kind == "tcp":
            if not self.host or self.port is None:
                raise ValueError("a tcp probe needs host and port")
        elif not self.host:
            raise ValueError("a dns probe needs host (the name to resolve)")
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError("timeout_seconds must not exceed interval_seconds")
        return self

    @property
    def status_ranges(self) -> list[tuple[int, int]]:
        return parse_status_ranges(self.expect_status)

    def key(self, service_id: str) -> str:
        return f"{service_id}.{self.id}"

    def target(self) -> str:
        """What it checks, for people: the URL, host:port or name."""
        if self.kind == "http":
            return f"{self.method} {self.url}"
        if self.kind == "tcp":
            return f"{self.host}:{self.port}"
        return f"{self.host} {self.record_type}"
