"""90 days of uptime per component, worked out from its recorded status changes, drawn as day bars.

The record of what a component went through is in the incidents' updates: every update lists the
components whose status it changed (`affected_components`: old and new status); a status an operator set
by hand, with no incident, is recorded in the audit log (incidents/claims.py `manual_changes`). Replaying
those changes in time order gives each component's status at any moment, so for every day (in the
reader's time zone):

- the day's status is the worst status the component had at any moment of it;
- its outage minutes are the minutes it spent in partial or major outage;
- its incidents are the incidents and maintenance windows on the component that overlapped the day.

Two corrections keep the replay honest. An incident opened with an earlier `started_at` (written up after
the fact) dates its opening changes from that start, not from when it was typed in. And a status that no
recorded change explains (set before the audit log had it) counts from the component's `updated_at`.
Days before the component existed (or before its earliest recorded change) have no data and are not
counted.

Everything here is pure: incidents and components in, numbers and markup out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from markupsafe import Markup

from downradar.core.model import (
    COMPONENT_SEVERITY,
    OUTAGE_STATUSES,
    STATUS_LABELS,
    ComponentStatus,
    MaintenanceStatus,
)
from downradar.incidents.claims import ManualChange
from downradar.incidents.queries import ComponentView, IncidentView
from downradar.web.timefmt import DEFAULT_LANGUAGE, day_label, zone

DAYS = 90
NO_DATA = "no_data"
# A day's worst status in words: the component labels, but a quiet day reads as "No downtime" and a
# maintenance day as "Maintenance" (the component was not "under maintenance" all day).
DAY_WORDS = {
    **{status.value: STATUS_LABELS[status] for status in ComponentStatus},
    ComponentStatus.operational.value: "No downtime",
    ComponentStatus.under_maintenance.value: "Maintenance",
    NO_DATA: "No data",
}
BAR_WIDTH, BAR_GAP, BAR_HEIGHT = 3, 1, 30
RUN = '<path class="day st-{status}" data-days="{days}" d="{d}"><title>{tip}</title></path>'


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    old_status: str
    new_status: str


@dataclass(frozen=True)
class DayIncident:
    id: str
    name: str


@dataclass(frozen=True)
class UptimeDay:
    day: date
    status: str  # the worst status of the day, or NO_DATA
    outage_minutes: int
    incidents: tuple[DayIncident, ...]


@dataclass(frozen=True)
class ComponentUptime:
    component_id: str
    days: list[UptimeDay]  # oldest first, the last one is today
    percent: float | None  # share of the observed time not in partial or major outage; None if none observed

    @property
    def percent_label(self) -> str:
        if self.percent is None:
            return "No data"
        # Rounded down: 99.999 % must not read as 100 % when there was an outage.
        return f"{math.floor(self.percent * 100) / 100:.2f} % uptime"


def _severity(status: str) -> int:
    return COMPONENT_SEVERITY[ComponentStatus(status)]


def status_changes(
    incidents: Iterable[IncidentView], manual: Iterable[ManualChange] = ()
) -> dict[str, list[StatusChange]]:
    """Each component's recorded status changes, oldest first, keyed by component id."""
    changes: dict[str, list[StatusChange]] = {}
    for change in manual:
        changes.setdefault(change.component_id, []).append(
            StatusChange(change.at, change.old_status, change.new_status)
        )
    for incident in incidents:
        ordered = sorted(incident.updates, key=lambda u: (u.display_at, u.created_at))
        for index, update in enumerate(ordered):
            at = update.display_at
            if index == 0 and incident.kind == "incident" and incident.started_at < at:
                at = incident.started_at
            for affected in update.affected_components:
                changes.setdefault(affected["code"], []).append(
                    StatusChange(at, affected["old_status"], affected["new_status"])
                )
    for found in changes.values():
        found.sort(key=lambda c: c.at)
    return changes


def _timeline(component: ComponentView, changes: list[StatusChange]) -> tuple[datetime, list[StatusChange]]:
    """(observed from, changes) with a direct status change, if the current status needs one, at the end."""
    observed_from = min([component.created_at, *(c.at for c in changes[:1])])
    final = changes[-1].new_status if changes else ComponentStatus.operational.value
    if component.status != final:
        at = max([component.updated_at, *(c.at for c in changes[-1:])])
        changes = [*changes, StatusChange(at, final, component.status)]
    return observed_from, changes


def _segments(
    start: datetime, end: datetime, changes: Sequence[StatusChange]
) -> list[tuple[datetime, datetime, str]]:
    """The statuses the component had between start and end, as (from, to, status)."""
    status = changes[0].old_status if changes else ComponentStatus.operational.value
    for change in changes:
        if change.at > start:
            break
        status = change.new_status
    segments = []
    cursor = start
    for change in changes:
        if change.at <= start:
            continue
        if change.at >= end:
            break
        segments.append((cursor, change.at, status))
        cursor, status = change.at, change.new_status
    segments.append((cursor, end, status))
    return [s for s in segments if s[1] > s[0]]


def _touches(incident: IncidentView, component_id: str) -> bool:
    if component_id in incident.component_ids:
        return True
    return any(c["code"] == component_id for u in incident.updates for c in u.affected_components)


def _window(incident: IncidentView, now: datetime) -> tuple[datetime, datetime] | None:
    """When an incident (or a maintenance that began) was going on; None for one still only scheduled."""
    if incident.kind == "maintenance":
        if incident.status == MaintenanceStatus.scheduled or incident.scheduled_for is None:
            return None
        start = incident.scheduled_for
        end = incident.resolved_at or min(now, incident.scheduled_until or now)
        return start, max(start, end)
    return incident.started_at, incident.resolved_at or now


def component_uptime(
    component: ComponentView,
    incidents: Sequence[IncidentView],
    now: datetime,
    time_zone: str,
    days: int = DAYS,
    changes: dict[str, list[StatusChange]] | None = None,
) -> ComponentUptime:
    """The component's last `days` days, ending today in `time_zone`; `changes` from status_changes()
    may be passed in when many components share one set of incidents."""
    tz = zone(time_zone)
    changes = status_changes(incidents) if changes is None else changes
    observed_from, own = _timeline(component, changes.get(component.id, []))
    touching = [
        (window, DayIncident(i.id, i.name))
        for i in sorted(incidents, key=lambda i: (i.started_at, i.id))
        if component.id in i.component_ids
        or any(c["code"] == component.id for u in i.updates for c in u.affected_components)
        if (window := _window(i, now)) is not None
    ]
    today = now.astimezone(tz).date()
    result: list[UptimeDay] = []
    observed = outage = 0.0
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        day_start = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
        day_end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
        start, end = max(day_start, observed_from), min(day_end, now)
        on_day = tuple(item for (begin, finish), item in touching if begin < day_end and finish >= day_start)
        if end <= start:
            result.append(UptimeDay(day, NO_DATA, 0, on_day))
            continue
        segments = _segments(start, end, own)
        down = sum((b - a).total_seconds() for a, b, status in segments if status in OUTAGE_STATUSES)
        worst = max((status for _, _, status in segments), key=_severity)
        observed += (end - start).total_seconds()
        outage += down
        result.append(UptimeDay(day, worst, round(down / 60), on_day))
    percent = 100 * (1 - outage / observed) if observed else None
    return ComponentUptime(component.id, result, percent)


def day_summary(entry: UptimeDay, lang: str = DEFAULT_LANGUAGE) -> str:
    """The tooltip of one day: 'Nov 28, 2026: Major outage, 45 min of outage. Incidents: Elevated errors'."""
    text = f"{day_label(entry.day, lang)}: {DAY_WORDS.get(entry.status, entry.status)}"
    if entry.outage_minutes:
        text += f", {entry.outage_minutes} min of outage"
    text += "."
    if entry.incidents:
        text += " Incidents: " + "; ".join(i.name for i in entry.incidents)
    elif entry.status != NO_DATA:
        text += " No incidents."
    return text


def _quiet(entry: UptimeDay) -> bool:
    return entry.status in (ComponentStatus.operational.value, NO_DATA) and not entry.incidents


def day_runs(days: Sequence[UptimeDay]) -> list[tuple[int, list[UptimeDay]]]:
    """(index of the first day, days): quiet days of one status in a row form a run, any other day is alone.
    A run shares one tooltip, which keeps a page of many components small (a day is 13 bytes, not 120)."""
    runs: list[tuple[int, list[UptimeDay]]] = []
    for index, entry in enumerate(days):
        last = runs[-1][1] if runs else None
        if last and _quiet(entry) and _quiet(last[-1]) and last[-1].status == entry.status:
            last.append(entry)
        else:
            runs.append((index, [entry]))
    return runs


def run_summary(run: Sequence[UptimeDay], lang: str = DEFAULT_LANGUAGE) -> str:
    if len(run) == 1:
        return day_summary(run[0], lang)
    words = DAY_WORDS.get(run[0].status, run[0].status)
    quiet = "" if run[0].status == NO_DATA else ", no incidents"
    return f"{day_label(run[0].day, lang)} – {day_label(run[-1].day, lang)}: {words}{quiet}."


def uptime_bars(uptime: ComponentUptime, name: str, *, bars_id: str, lang: str = DEFAULT_LANGUAGE) -> Markup:
    """One bar per day, coloured by class (the stylesheet maps status to colour, in light and dark), with
    the day's summary (or the quiet run's) as its tooltip; the description says which days had trouble."""
    count = len(uptime.days)
    width = count * (BAR_WIDTH + BAR_GAP) - BAR_GAP
    troubled = [d for d in uptime.days if not _quiet(d)]
    if troubled:
        summaries = " ".join(day_summary(d, lang) for d in troubled)
        desc = f"{uptime.percent_label}. Days with trouble: {summaries}"
    else:
        desc = f"{uptime.percent_label}. No trouble recorded in these {count} days."
    parts = [
        Markup(
            '<svg class="uptime-bars" viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img"'
            ' aria-labelledby="{id}-title {id}-desc">'
        ).format(w=width, h=BAR_HEIGHT, id=bars_id),
        Markup('<title id="{id}-title">{name}: the last {n} days</title>').format(
            id=bars_id, name=name, n=count
        ),
        Markup('<desc id="{id}-desc">{desc}</desc>').format(id=bars_id, desc=desc),
    ]
    bar = f"h{BAR_WIDTH}v{BAR_HEIGHT}h-{BAR_WIDTH}z"
    for first, run in day_runs(uptime.days):
        # One closed rectangle per day; after z the pen is back at the bar's corner, so each next bar is
        # a relative move of one step.
        shape = f"M{first * (BAR_WIDTH + BAR_GAP)} 0{bar}" + f"m{BAR_WIDTH + BAR_GAP} 0{bar}" * (len(run) - 1)
        days = run[0].day.isoformat() if len(run) == 1 else f"{run[0].day}/{run[-1].day}"
        parts.append(
            Markup(
                '<path class="day st-{status}" data-days="{days}" d="{d}"><title>{tip}</title></path>'
            ).format(status=run[0].status, days=days, d=shape, tip=run_summary(run, lang))
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
