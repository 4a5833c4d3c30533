"""Reading what a provider's status page says: Statuspage `summary.json` and Atom / RSS status feeds,
mapped onto our components. Pure functions, no I/O.

Feeds carry no structured status, so `parse_feed` reads the text with a few documented rules:

- An entry is one incident (or maintenance). Only entries updated within `OPEN_WINDOW` (24 h) before we
  saw the feed can still be open; older ones are history, and ones published after it are ignored.
- Its latest status is the first status label in its content (Statuspage lists updates newest first as
  `<strong>Resolved</strong> - …`; incident.io writes `Status: Resolved`). Without any label, the entry is
  closed when its text says "resolved" or "completed".
- An open entry is "major" when its text says "major", "outage" or "unavailable", otherwise "minor".
  Maintenance entries (labels Scheduled / In progress / Verifying, or "maintenance" in the title) never
  count as incidents: an in-progress one makes the page indicator "maintenance".
- A mapped provider component belongs to an entry when the entry's title or text names it.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from downradar.core.model import (
    CLOSED_STATUSES,
    IMPACT_SEVERITY,
    OPEN_STATUSES,
    ComponentStatus,
    Impact,
    IncidentStatus,
    MaintenanceStatus,
    UpstreamIncident,
    UpstreamState,
    worst_component_status,
)

OPEN_WINDOW = timedelta(hours=24)
# Entries published later than this after `seen_at` did not exist yet (a replay); less is clock skew.
CLOCK_SKEW = timedelta(minutes=5)

# Statuspage's own wording of each page indicator, used when a feed gives us none.
INDICATOR_DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}


class UpstreamFormatError(ValueError):
    """The document is not what a status page of that kind serves."""


# --- Statuspage summary.json ------------------------------------------------------------------------------


def load_json(body: bytes) -> Any:
    """Decode a JSON body, saying so clearly when it is not JSON (an HTML error page, say)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        start = body[:60].decode("utf-8", "replace").strip()
        raise UpstreamFormatError(f"not JSON ({exc}); the body starts with {start!r}") from exc


def parse_summary(data: Any, *, service: str, seen_at: datetime, mapping: Mapping[str, str]) -> UpstreamState:
    """The state an Atlassian Statuspage / incident.io `summary.json` describes."""
    data = check_summary(data)
    indicator = data["status"]["indicator"]
    status = data["status"]
    provider_components = _list_field(data, "components")
    provider_incidents = _list_field(data, "incidents")
    names = _name_index(mapping)

    by_slug: dict[str, list[str]] = {}
    for component in provider_components:
        slug = names.get(_norm(component.get("name")))
        if slug is not None:
            by_slug.setdefault(slug, []).append(_component_status(component.get("status")))
    components = {
        slug: worst
        for slug, statuses in by_slug.items()
        if (worst := worst_component_status(statuses)) != ComponentStatus.operational
    }

    incidents = tuple(
        _summary_incident(incident, names)
        for incident in provider_incidents
        if str(incident.get("status", "")).lower() not in CLOSED_STATUSES
    )
    page = data.get("page") if isinstance(data.get("page"), dict) else {}
    return UpstreamState(
        service=service,
        ts=seen_at,
        indicator=indicator,
        description=str(status.get("description") or INDICATOR_DESCRIPTIONS[indicator]),
        components=components,
        incidents=incidents,
        provider_updated_at=_time(page.get("updated_at")),
    )


def check_summary(data: Any) -> dict[str, Any]:
    """`data` itself when it has the shape of a Statuspage summary; `UpstreamFormatError` otherwise."""
    if not isinstance(data, dict):
        raise UpstreamFormatError(f"not a Statuspage summary: expected a JSON object, got {_kind(data)}")
    status = data.get("status")
    if not isinstance(status, dict) or not isinstance(status.get("indicator"), str):
        raise UpstreamFormatError('not a Statuspage summary: no "status": {"indicator": …} object')
    indicator = status["indicator"]
    if indicator not in INDICATOR_DESCRIPTIONS:
        raise UpstreamFormatError(f"not a Statuspage summary: unknown status indicator {indicator!r}")
    for name in ("components", "incidents"):
        _list_field(data, name)
    return data


def _summary_incident(incident: dict[str, Any], names: Mapping[str, str]) -> UpstreamIncident:
    listed = incident.get("components")
    slugs = _dedup(
        names[_norm(c.get("name"))]
        for c in (listed if isinstance(listed, list) else [])
        if isinstance(c, dict) and _norm(c.get("name")) in names
    )
    impact = str(incident.get("impact") or "none")
    return UpstreamIncident(
        id=str(incident.get("id") or incident.get("name") or ""),
        name=str(incident.get("name") or ""),
        status=str(incident.get("status") or "investigating"),
        impact=impact if impact in IMPACT_SEVERITY else Impact.minor.value,
        created_at=_time(incident.get("created_at")),
        components=slugs,
    )


def _list_field(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name, [])
    if not isinstance(value, list):
        raise UpstreamFormatError(f'not a Statuspage summary: "{name}" is {_kind(value)}, not a list')
    return [item for item in value if isinstance(item, dict)]


def _component_status(value: Any) -> str:
    try:
        return ComponentStatus(str(value)).value
    except ValueError:
        # A status we cannot grade is still not "operational": count it as the mildest problem.
        return ComponentStatus.degraded_performance.value


# --- Atom / RSS feeds -------------------------------------------------------------------------------------

# Status labels as providers write them, mapped to Statuspage's incident / maintenance statuses.
_LABELS: dict[str, str] = {
    **{status.value.replace("_", " "): status.value for status in (*IncidentStatus, *MaintenanceStatus)},
    "update": IncidentStatus.investigating.value,
}
_MAINTENANCE_STATUSES = frozenset(s.value for s in MaintenanceStatus if s.value in OPEN_STATUSES)
_LABEL_WORDS = "|".join(sorted((re.escape(label) for label in _LABELS), key=len, reverse=True))
# The first status label in the HTML: `<strong>Resolved</strong>`, `<b>Status: Resolved</b>`, or
# "Status: Resolved" with or without tags around the label.
_LABEL = re.compile(
    rf"<(?:strong|b)>\s*(?:status:\s*)?({_LABEL_WORDS})\s*</(?:strong|b)>"
    rf"|\bstatus:\s*(?:</?\w+[^>]*>\s*)*({_LABEL_WORDS})\b",
    re.I,
)
_CLOSED_WORDS = re.compile(r"\b(resolved|completed)\b", re.I)
_MAJOR_WORDS = re.compile(r"\b(major|outages?|unavailable)\b", re.I)
_PARTIAL_WORDS = re.compile(r"\bpartial(ly)?\b", re.I)
_MAINTENANCE_WORDS = re.compile(r"\bmaintenance\b", re.I)
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class _Entry:
    id: str
    title: str
    html: str
    text: str
    published: datetime | None
    updated: datetime | None


def is_feed(content: bytes) -> bool:
    """Whether feedparser recognises the document as an Atom or RSS feed."""
    return bool(_feedparse(content).get("version"))


def parse_feed(
    content: bytes, *, service: str, seen_at: datetime, mapping: Mapping[str, str]
) -> UpstreamState:
    """The state an Atom or RSS status feed describes (see the module docstring for the rules)."""
    parsed = _feedparse(content)
    if not parsed.get("version"):
        raise UpstreamFormatError("not an Atom or RSS feed")
    names = _name_index(mapping)
    entries = [_entry(raw) for raw in parsed.entries]

    incidents: list[UpstreamIncident] = []
    components: dict[str, list[str]] = {}
    in_maintenance = False
    for entry in entries:
        last_touched = entry.updated or entry.published
        if last_touched is None or seen_at - last_touched > OPEN_WINDOW:
            continue
        if (entry.published or last_touched) > seen_at + CLOCK_SKEW:
            continue
        status = _latest_status(entry)
        if status in CLOSED_STATUSES:
            continue
        slugs = _named_components(entry, names)
        if status in _MAINTENANCE_STATUSES or (status is None and _MAINTENANCE_WORDS.search(entry.title)):
            if status != MaintenanceStatus.scheduled:
                in_maintenance = True
                for slug in slugs:
                    components.setdefault(slug, []).append(ComponentStatus.under_maintenance.value)
            continue
        impact, component_status = _severity(entry)
        for slug in slugs:
            components.setdefault(slug, []).append(component_status)
        incidents.append(
            UpstreamIncident(
                id=entry.id,
                name=entry.title,
                status=status or IncidentStatus.investigating.value,
                impact=impact,
                created_at=entry.published or entry.updated,
                components=slugs,
            )
        )

    if incidents:
        indicator = max((i.impact for i in incidents), key=lambda impact: IMPACT_SEVERITY[Impact(impact)])
    else:
        indicator = Impact.maintenance.value if in_maintenance else Impact.none.value
    feed_updated = _struct_time(parsed.feed.get("updated_parsed"))
    entry_times = [t for e in entries if (t := e.updated or e.published) is not None]
    return UpstreamState(
        service=service,
        ts=seen_at,
        indicator=indicator,
        description=INDICATOR_DESCRIPTIONS[indicator],
        components={
            slug: worst
            for slug, statuses in components.items()
            if (worst := worst_component_status(statuses)) != ComponentStatus.operational
        },
        incidents=tuple(incidents),
        provider_updated_at=feed_updated or (max(entry_times) if entry_times else None),
    )


def _feedparse(content: bytes) -> Any:
    # A stream, never a str or bytes: feedparser treats those as a URL or a file name to open.
    return feedparser.parse(io.BytesIO(content))


def _entry(raw: Any) -> _Entry:
    parts = [c.get("value", "") for c in raw.get("content", [])] or [raw.get("summary", "")]
    body = "\n".join(parts)
    title = html.unescape(str(raw.get("title", ""))).strip()
    return _Entry(
        id=str(raw.get("id") or raw.get("link") or title),
        title=title,
        html=body,
        text=html.unescape(_TAGS.sub(" ", body)),
        published=_struct_time(raw.get("published_parsed")),
        updated=_struct_time(dict.get(raw, "updated_parsed")),  # no fallback to published
    )


def _latest_status(entry: _Entry) -> str | None:
    """The entry's latest status: its first label (newest update first), else a closing word, else None."""
    match = _LABEL.search(entry.html)
    if match:
        return _LABELS[" ".join((match.group(1) or match.group(2)).lower().split())]
    if _CLOSED_WORDS.search(entry.text) or _CLOSED_WORDS.search(entry.title):
        return IncidentStatus.resolved.value
    return None


def _severity(entry: _Entry) -> tuple[str, str]:
    """(incident impact, status of the components it names) from the entry's wording."""
    words = f"{entry.title}\n{entry.text}"
    if _MAJOR_WORDS.search(words):
        partial = _PARTIAL_WORDS.search(words) and not re.search(r"\bmajor\b", words, re.I)
        status = ComponentStatus.partial_outage if partial else ComponentStatus.major_outage
        return Impact.major.value, status.value
    return Impact.minor.value, ComponentStatus.degraded_performance.value


def _named_components(entry: _Entry, names: Mapping[str, str]) -> tuple[str, ...]:
    words = f"{entry.title}\n{entry.text}"
    return _dedup(
        slug for name, slug in names.items() if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", words, re.I)
    )


# --- Storage form -----------------------------------------------------------------------------------------


def state_to_json(state: UpstreamState) -> dict[str, Any]:
    """A JSON-safe dict (RFC 3339 times) that `state_from_json` turns back into the same state."""
    return {
        "service": state.service,
        "ts": _iso(state.ts),
        "indicator": state.indicator,
        "description": state.description,
        "components": dict(sorted(state.components.items())),
        "incidents": [incident_to_json(incident) for incident in state.incidents],
        "provider_updated_at": _iso(state.provider_updated_at),
    }


def state_from_json(data: Mapping[str, Any]) -> UpstreamState:
    return UpstreamState(
        service=str(data["service"]),
        ts=_required_time(data["ts"]),
        indicator=str(data["indicator"]),
        description=str(data.get("description", "")),
        components=dict(data.get("components") or {}),
        incidents=tuple(incident_from_json(i) for i in data.get("incidents") or ()),
        provider_updated_at=_time(data.get("provider_updated_at")),
    )


def incident_to_json(incident: UpstreamIncident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "name": incident.name,
        "status": incident.status,
        "impact": incident.impact,
        "created_at": _iso(incident.created_at),
        "components": list(incident.components),
    }


def incident_from_json(data: Mapping[str, Any]) -> UpstreamIncident:
    return UpstreamIncident(
        id=str(data["id"]),
        name=str(data.get("name", "")),
        status=str(data.get("status", "investigating")),
        impact=str(data.get("impact", "none")),
        created_at=_time(data.get("created_at")),
        components=tuple(data.get("components") or ()),
    )


# --- Small helpers ----------------------------------------------------------------------------------------


def _norm(name: Any) -> str:
    return " ".join(str(name or "").split()).casefold()


def _name_index(mapping: Mapping[str, str]) -> dict[str, str]:
    """Provider component name (trimmed, case-folded) → our slug."""
    return {_norm(theirs): ours for theirs, ours in mapping.items() if _norm(theirs)}


def _dedup(slugs: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(slugs))


def _time(value: Any) -> datetime | None:
    """An RFC 3339 string (or an aware datetime) as UTC; None for anything else."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _required_time(value: Any) -> datetime:
    parsed = _time(value)
    if parsed is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    return parsed


def _struct_time(value: Any) -> datetime | None:
    # feedparser gives UTC struct_time tuples.
    return datetime(*value[:6]).replace(tzinfo=UTC) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)
