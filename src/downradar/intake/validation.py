"""The report record (DESIGN.md 3.1) and the plain-language errors bad ones get."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from downradar.core.catalog import SLUG, region_name

REGION_RE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
# C0 controls other than tab/newline/carriage return, DEL and C1 controls never belong in text we show.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MAX_COMMENT = 1000
MAX_EPOCH_SECONDS = 1e11  # year 5138; anything larger is milliseconds or nonsense


# Where a report counts when it names a component its service does not list (live and replay alike).
OTHER_COMPONENT = "other"


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ts: AwareDatetime | None = None
    service: str = Field(pattern=SLUG)
    component: str | None = Field(default=None, pattern=SLUG)
    region: str | None = None
    symptom: str | None = Field(default=None, pattern=SLUG)
    client: str | None = Field(default=None, min_length=1, max_length=128)
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)

    @field_validator("ts", mode="before")
    @classmethod
    def _epoch_seconds(cls, value: Any) -> Any:
        # pydantic would read large numbers as epoch milliseconds; the contract says seconds.
        if isinstance(value, bool):
            raise ValueError("must be an RFC 3339 string or epoch seconds")
        if isinstance(value, int | float) and abs(value) > MAX_EPOCH_SECONDS:
            raise ValueError("epoch seconds expected; this looks like milliseconds")
        return value

    @field_validator("region")
    @classmethod
    def _iso_region(cls, value: str | None) -> str | None:
        return None if value is None else region_code(value)

    @field_validator("client", "comment")
    @classmethod
    def _no_controls(cls, value: str | None) -> str | None:
        if value is not None and CONTROL_RE.search(value):
            raise ValueError("contains control characters")
        return value


def region_code(value: str) -> str:
    """A report's region as it is counted (upper case), or ValueError; replay checks regions with it too."""
    code = value.upper()
    if not REGION_RE.match(code) or not _known_region(code):
        raise ValueError("not an ISO 3166-1 alpha-2 country code, optionally with a subdivision (US-CA)")
    return code


@lru_cache(maxsize=4096)
def _known_region(code: str) -> bool:
    return region_name(code) is not None


class ReportError(ValueError):
    """A report that cannot be accepted; `errors` holds one {field, message} per problem."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "string_pattern_mismatch":
            message = "must be a slug: lowercase letters, digits and '-', 1 to 64 characters"
        elif error["type"] == "timezone_aware":
            message = "needs a UTC offset (RFC 3339, e.g. 2026-02-04T09:20:00Z) or epoch seconds"
        out.append({"field": field, "message": message})
    return out


def parse_report(raw: bytes | str | dict[str, Any], *, allow_ts: bool, require_ts: bool = False) -> ReportIn:
    """Parse one JSON report; raise ReportError naming each bad field.

    Live reports must not carry `ts` (allow_ts=False); bulk and replay lines must (require_ts=True).
    """
    if not isinstance(raw, dict):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ReportError([{"field": "body", "message": f"not valid JSON: {exc}"}]) from None
        if not isinstance(raw, dict):
            raise ReportError([{"field": "body", "message": "must be a JSON object"}])
    try:
        report = ReportIn.model_validate(raw)
    except ValidationError as exc:
        raise ReportError(field_errors(exc)) from None
    if report.ts is not None and not allow_ts:
        raise ReportError(
            [
                {
                    "field": "ts",
                    "message": "not accepted here: the server stamps arrival time (use bulk intake)",
                }
            ]
        )
    if report.ts is None and require_ts:
        raise ReportError(
            [{"field": "ts", "message": "required here: RFC 3339 with a UTC offset, or epoch seconds"}]
        )
    return report


def normalise(
    report: ReportIn,
    *,
    known_components: frozenset[str],
    client: str,
    received_at: datetime,
    source: str,
) -> dict[str, Any]:
    """The row the writer stores: absent fields become '', unknown components 'other'."""
    component = report.component or ""
    if component and component not in known_components:
        component = OTHER_COMPONENT
    return {
        "ts": report.ts or received_at,
        "received_at": received_at,
        "service_id": report.service,
        "component": component,
        "region": report.region or "",
        "symptom": report.symptom or "",
        "client": client,
        "comment": report.comment,
        "source": source,
    }
